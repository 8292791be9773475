import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../../src/state/types.js';
import { healthcheckYaml } from '../../helpers/compose.js';
import { FIXTURE_IMAGE, testDocker } from '../../helpers/docker.js';
import { Harness, composeFile, exists } from '../../helpers/harness.js';

const ROLLOUT_STEPS = ['start-new', 'wait-new', 'promote', 'window', 'switch'];

function canary(options: { batch: string; window: string; probe?: string }): string {
  return [
    'method: canary',
    'drain: 200ms',
    'canary:',
    `  batch: ${options.batch}`,
    `  window: ${options.window}`,
    ...(options.probe === undefined ? [] : [`  probe: ${options.probe}`]),
    '',
  ].join('\n');
}

function replicas(n: number): string {
  return `    deploy:\n      replicas: ${n}`;
}

/** A one-service compose file with its own command (composeFile's is fixed). */
function customCompose(options: {
  command: string;
  health?: string;
  marker: string;
  replicas: number;
}): string {
  return [
    'services:',
    '  web:',
    `    image: ${FIXTURE_IMAGE}`,
    `    command: ["sh", "-c", ${JSON.stringify(options.command)}]`,
    '    stop_grace_period: 1s',
    '    environment:',
    `      MARKER: "${options.marker}"`,
    ...healthcheckYaml(options.health ?? 'true'),
    replicas(options.replicas),
    '',
  ].join('\n');
}

function rolloutSteps(journal: JournalEntry[]): JournalEntry[] {
  return journal.filter((j) => ROLLOUT_STEPS.includes(j.step));
}

async function createdAt(id: string): Promise<number> {
  const info = await testDocker().getContainer(id).inspect();
  return Date.parse(info.Created);
}

describe('canary', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('rolls a good version one batch at a time, each batch observed for the window', async () => {
    h = await Harness.create();
    const stack = h.name('can');
    const settings = { 'deploy.yaml': canary({ batch: '1', window: '1s' }) };
    await h.writeStack(stack, composeFile({ web: { extra: replicas(3) } }), settings);
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 20_000 } });
    expect((await control.reconcile({})).ok).toBe(true);
    const v1 = await h.named(stack);
    expect(v1.map((c) => c.name)).toEqual([`${stack}-web-1`, `${stack}-web-2`, `${stack}-web-3`]);

    await h.writeStack(stack, composeFile({ web: { extra: replicas(3), marker: 'v2' } }), settings);
    h.commit('v2');
    const pass = await control.reconcile({});
    expect(pass.stacks[0]).toMatchObject({ stack, result: 'deployed' });
    const deploymentId = pass.stacks[0]!.deploymentId!;
    const v2Version = h.store.getStack(stack)!.running!.version;

    const journal = h.store.getJournal(deploymentId);
    const steps = rolloutSteps(journal);
    const batch = ['start-new', 'wait-new', 'promote', 'window'];
    expect(steps.map((j) => j.step)).toEqual([...batch, ...batch, ...batch, 'switch']);
    expect(steps.filter((j) => j.step === 'start-new').map((j) => j.detail)).toEqual([
      'web batch 1/3: 1 container(s)',
      'web batch 2/3: 1 container(s)',
      'web batch 3/3: 1 container(s)',
    ]);
    expect(steps.filter((j) => j.step === 'window').map((j) => j.detail)).toEqual([
      'web batch 1/3: observe for 1000ms',
      'web batch 2/3: observe for 1000ms',
      'web batch 3/3: observe for 1000ms',
    ]);
    // Sequential: a batch starts only after the previous one's whole window.
    for (let i = 1; i < 3; i++) {
      const window = steps.filter((j) => j.step === 'window')[i - 1]!;
      const next = steps.filter((j) => j.step === 'start-new')[i]!;
      expect(Date.parse(next.at) - Date.parse(window.at)).toBeGreaterThanOrEqual(950);
    }
    const switched = steps.find((j) => j.step === 'switch')!;
    const lastWindow = steps.filter((j) => j.step === 'window')[2]!;
    expect(Date.parse(switched.at) - Date.parse(lastWindow.at)).toBeGreaterThanOrEqual(950);

    const v2 = await h.named(stack);
    expect(v2.map((c) => c.name)).toEqual([`${stack}-web-1`, `${stack}-web-2`, `${stack}-web-3`]);
    expect(v2.every((c) => c.state === 'running' && c.version === v2Version)).toBe(true);
    expect(v2.some((c) => v1.some((old) => old.id === c.id))).toBe(false);
    // The containers themselves were created a window apart.
    const created = await Promise.all(v2.map((c) => createdAt(c.id)));
    expect(created[1]! - created[0]!).toBeGreaterThanOrEqual(950);
    expect(created[2]! - created[1]!).toBeGreaterThanOrEqual(950);
    expect(await exists(path.join(h.dataDir, 'running_stacks', `.${stack}.previous`))).toBe(false);
  });

  it('splits a percentage batch: 50% of 4 replicas is 2 batches of 2', async () => {
    h = await Harness.create();
    const stack = h.name('canpct');
    const settings = { 'deploy.yaml': canary({ batch: '"50%"', window: '500ms' }) };
    await h.writeStack(stack, composeFile({ web: { extra: replicas(4) } }), settings);
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 20_000 } });
    expect((await control.reconcile({})).ok).toBe(true);
    const v1 = await h.named(stack);
    expect(v1).toHaveLength(4);

    await h.writeStack(stack, composeFile({ web: { extra: replicas(4), marker: 'v2' } }), settings);
    h.commit('v2');
    const pass = await control.reconcile({});
    expect(pass.stacks[0]).toMatchObject({ stack, result: 'deployed' });
    const steps = rolloutSteps(h.store.getJournal(pass.stacks[0]!.deploymentId!));
    expect(steps.filter((j) => j.step === 'start-new').map((j) => j.detail)).toEqual([
      'web batch 1/2: 2 container(s)',
      'web batch 2/2: 2 container(s)',
    ]);
    expect(steps.filter((j) => j.step === 'window')).toHaveLength(2);
    const v2 = await h.named(stack);
    expect(v2.map((c) => c.name)).toEqual([1, 2, 3, 4].map((n) => `${stack}-web-${n}`));
    expect(v2.every((c) => c.state === 'running')).toBe(true);
    expect(v2.some((c) => v1.some((old) => old.id === c.id))).toBe(false);
  });

  it('rolls a version that never gets healthy back at the first batch, old containers untouched', async () => {
    h = await Harness.create();
    const stack = h.name('canbad');
    const settings = { 'deploy.yaml': canary({ batch: '1', window: '1s' }) };
    await h.writeStack(stack, composeFile({ web: { extra: replicas(3) } }), settings);
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 20_000 } });
    expect((await control.reconcile({})).ok).toBe(true);
    const v1 = await h.named(stack);
    const v1Version = h.store.getStack(stack)!.running!.version;

    await h.writeStack(
      stack,
      composeFile({ web: { extra: replicas(3), marker: 'v2', health: 'false' } }),
      settings,
    );
    h.commit('v2');
    const pass = await control.reconcile({});
    const outcome = pass.stacks[0]!;
    expect(outcome).toMatchObject({ stack, result: 'rolled-back' });
    expect(h.store.isBad(stack, outcome.version!)).toBeDefined();
    // Same IDs, same names, still running; no candidate left behind.
    const after = await h.named(stack);
    expect(after).toEqual(v1);
    expect(after.every((c) => c.state === 'running')).toBe(true);
    expect(after.some((c) => c.name.includes('-new-'))).toBe(false);
    // Only the first batch was ever started.
    const steps = h.store.getJournal(outcome.deploymentId!).map((j) => j.step);
    expect(steps.filter((s) => s === 'start-new')).toHaveLength(1);
    expect(steps).not.toContain('switch');
    expect(steps).toContain('roll-back');
    expect(h.store.getStack(stack)!.running!.version).toBe(v1Version);
    expect((await h.folders.readRunningVersion(stack))?.version).toBe(v1Version);
  });

  it('rolls back when the probe fails during the window, and deploys when it answers', async () => {
    h = await Harness.create();
    const control = await h.open({ defaults: { healthTimeoutMs: 20_000 } });

    // Nothing listens on port 9 inside the container.
    const failing = h.name('canprobe');
    const failingSettings = {
      'deploy.yaml': canary({ batch: '1', window: '2s', probe: 'http://127.0.0.1:9/' }),
    };
    await h.writeStack(failing, composeFile({ web: { extra: replicas(2) } }), failingSettings);
    // busybox httpd serves /tmp/www/index.html on 8080 inside each container.
    const passing = h.name('canprobeok');
    const httpd = (marker: string): string =>
      customCompose({
        command:
          "mkdir -p /tmp/www && echo ok > /tmp/www/index.html && httpd -p 8080 -h /tmp/www && trap 'exit 0' TERM; sleep 3600 & wait",
        marker,
        replicas: 2,
      });
    const passingSettings = {
      'deploy.yaml': canary({ batch: '1', window: '1s', probe: 'http://127.0.0.1:8080/' }),
    };
    await h.writeStack(passing, httpd('v1'), passingSettings);
    h.commit('v1');
    expect((await control.reconcile({})).ok).toBe(true);
    const failingV1 = await h.named(failing);
    const passingV1 = await h.named(passing);
    expect(failingV1).toHaveLength(2);
    expect(passingV1).toHaveLength(2);

    await h.writeStack(
      failing,
      composeFile({ web: { extra: replicas(2), marker: 'v2' } }),
      failingSettings,
    );
    await h.writeStack(passing, httpd('v2'), passingSettings);
    h.commit('v2');
    const pass = await control.reconcile({ stacks: [failing] });
    const outcome = pass.stacks.find((s) => s.stack === failing)!;
    expect(outcome.result).toBe('rolled-back');
    expect(outcome.message).toMatch(/probe/);
    const steps = h.store.getJournal(outcome.deploymentId!).map((j) => j.step);
    // Failed in the first window: the second batch never started.
    expect(steps.filter((s) => s === 'window')).toHaveLength(1);
    expect(steps.filter((s) => s === 'start-new')).toHaveLength(1);
    expect(steps).not.toContain('switch');
    expect(await h.named(failing)).toEqual(failingV1);

    const ok = await control.reconcile({ stacks: [passing] });
    const okOutcome = ok.stacks.find((s) => s.stack === passing)!;
    expect(okOutcome.result, okOutcome.message).toBe('deployed');
    const okSteps = h.store.getJournal(okOutcome.deploymentId!).map((j) => j.step);
    expect(okSteps.filter((s) => s === 'window')).toHaveLength(2);
    const passingV2 = await h.named(passing);
    expect(passingV2.map((c) => c.name)).toEqual([`${passing}-web-1`, `${passing}-web-2`]);
    expect(passingV2.some((c) => passingV1.some((old) => old.id === c.id))).toBe(false);
  });

  it('rolls back a batch that turns unhealthy during the window', async () => {
    h = await Harness.create();
    const stack = h.name('canflaky');
    const settings = { 'deploy.yaml': canary({ batch: '1', window: '8s' }) };
    const idle = "trap 'exit 0' TERM; sleep 3600 & wait";
    await h.writeStack(
      stack,
      customCompose({ command: idle, marker: 'v1', replicas: 2 }),
      settings,
    );
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 20_000 } });
    expect((await control.reconcile({})).ok).toBe(true);
    const v1 = await h.named(stack);
    expect(v1).toHaveLength(2);

    // Healthy for the first 4 s (long enough to pass wait-new), then unhealthy.
    await h.writeStack(
      stack,
      customCompose({
        command: `touch /tmp/ok; (sleep 4; rm -f /tmp/ok) & ${idle}`,
        health: 'test -f /tmp/ok',
        marker: 'v2',
        replicas: 2,
      }),
      settings,
    );
    h.commit('v2');
    const pass = await control.reconcile({});
    const outcome = pass.stacks[0]!;
    expect(outcome).toMatchObject({ stack, result: 'rolled-back' });
    expect(outcome.message).toMatch(/window/);
    const steps = h.store.getJournal(outcome.deploymentId!).map((j) => j.step);
    expect(steps).toContain('promote');
    expect(steps.filter((s) => s === 'window')).toHaveLength(1);
    expect(steps).not.toContain('switch');
    expect(await h.named(stack)).toEqual(v1);
  });
});
