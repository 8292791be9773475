import { createServer } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testDocker } from '../../helpers/docker.js';
import { runBerth } from '../../cli/run-cli.js';
import { Harness, composeFile, exists } from '../../helpers/harness.js';

const BLUE_GREEN = 'method: blue-green\ndrain: 200ms\n';

/** A TCP port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

describe('stop-first', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('rolls a fixed container_name stop-first, and restores the old container when the new one fails', async () => {
    h = await Harness.create();
    const stack = h.name('sfname');
    const fixed = `${stack}-fixed`;
    const extra = `    container_name: ${fixed}`;
    await h.writeStack(stack, composeFile({ app: { extra } }), { 'deploy.yaml': BLUE_GREEN });
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 20_000 } });
    expect((await control.reconcile({})).ok).toBe(true);
    const v1 = await h.named(stack);
    expect(v1.map((c) => c.name)).toEqual([fixed]);

    await h.writeStack(stack, composeFile({ app: { extra, marker: 'v2' } }), {
      'deploy.yaml': BLUE_GREEN,
    });
    h.commit('v2');
    // The dry run says why before anything starts, and changes nothing.
    const dry = await control.reconcile({ dryRun: true });
    const entry = dry.plan.find((e) => e.subject === stack)!;
    expect(entry.details).toContainEqual(
      expect.objectContaining({
        subject: 'app',
        reason: expect.stringMatching(/^stop-first \(fixed container_name/) as unknown,
      }),
    );
    expect(await h.named(stack)).toEqual(v1);

    // The CLI prints the same detail in its dry-run text (this process lets go of the data dir).
    const config = await h.writeConfig();
    await h.close();
    // --dry-run alone is one pass too.
    const cli = await runBerth(['reconcile', '--dry-run', '--config', config]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(`${stack}:`);
    expect(cli.stdout).toMatch(/recreate app: stop-first \(fixed container_name/);
    expect(cli.stdout).toContain('dry run: nothing was changed');
    expect(await h.named(stack)).toEqual(v1);

    const pass = await (await h.open({ defaults: { healthTimeoutMs: 20_000 } })).reconcile({});
    const outcome = pass.stacks[0]!;
    expect(outcome).toMatchObject({ stack, result: 'deployed' });
    const v2 = await h.named(stack);
    const v2Version = h.store.getStack(stack)!.running!.version;
    expect(v2).toHaveLength(1);
    expect(v2[0]).toMatchObject({ name: fixed, state: 'running', version: v2Version });
    expect(v2[0]!.id).not.toBe(v1[0]!.id);
    expect(h.store.getLog(outcome.deploymentId!)).toMatch(/stop-first \(fixed container_name/);
    expect(h.store.getJournal(outcome.deploymentId!).map((j) => j.step)).toContain('stop-first');

    // A broken v3: the old container comes back under its name.
    await h.writeStack(stack, composeFile({ app: { extra, marker: 'v3', health: 'false' } }), {
      'deploy.yaml': BLUE_GREEN,
    });
    h.commit('v3');
    const broken = await h.control.reconcile({});
    expect(broken.stacks[0]).toMatchObject({ stack, result: 'rolled-back' });
    expect(h.store.isBad(stack, broken.stacks[0]!.version!)).toBeDefined();
    const after = await h.named(stack);
    expect(after).toEqual(v2);
    expect(after.some((c) => c.name.includes('-prev-'))).toBe(false);
    expect(h.store.getStack(stack)!.running!.version).toBe(v2Version);
    expect((await h.folders.readRunningVersion(stack))?.version).toBe(v2Version);
    expect(await exists(path.join(h.dataDir, 'running_stacks', `.${stack}.previous`))).toBe(false);
  });

  it('rolls a service that publishes a fixed host port stop-first', async () => {
    h = await Harness.create();
    const stack = h.name('sfport');
    const port = await freePort();
    const extra = `    ports:\n      - "127.0.0.1:${port}:80"`;
    await h.writeStack(stack, composeFile({ web: { extra } }), { 'deploy.yaml': BLUE_GREEN });
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 20_000 } });
    expect((await control.reconcile({})).ok).toBe(true);
    const v1 = await h.named(stack);
    expect(v1).toHaveLength(1);

    await h.writeStack(stack, composeFile({ web: { extra, marker: 'v2' } }), {
      'deploy.yaml': BLUE_GREEN,
    });
    h.commit('v2');
    const pass = await control.reconcile({});
    const outcome = pass.stacks[0]!;
    expect(outcome).toMatchObject({ stack, result: 'deployed' });
    expect(h.store.getLog(outcome.deploymentId!)).toContain(
      `stop-first (publishes fixed host port ${port}/tcp)`,
    );
    const v2 = await h.named(stack);
    expect(v2).toHaveLength(1);
    expect(v2[0]).toMatchObject({ name: `${stack}-web-1`, state: 'running' });
    expect(v2[0]!.id).not.toBe(v1[0]!.id);
    const info = await testDocker().getContainer(v2[0]!.id).inspect();
    expect(info.NetworkSettings.Ports['80/tcp']?.[0]?.HostPort).toBe(String(port));
  });

  it('rolls a service with an exclusive volume stop-first, and refuses an undeclared one', async () => {
    h = await Harness.create();
    const stack = h.name('sfvol');
    const extra = '    volumes:\n      - data:/data';
    const compose = (marker: string): string =>
      `${composeFile({ web: { extra, marker } })}volumes:\n  data: {}\n`;
    const settings = (volume: string): Record<string, string> => ({
      'deploy.yaml': `${BLUE_GREEN}exclusiveVolumes: [${volume}]\n`,
    });
    await h.writeStack(stack, compose('v1'), settings('data'));
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 20_000 } });
    expect((await control.reconcile({})).ok).toBe(true);
    const v1 = await h.named(stack);
    expect(v1).toHaveLength(1);

    await h.writeStack(stack, compose('v2'), settings('data'));
    h.commit('v2');
    const pass = await control.reconcile({});
    const outcome = pass.stacks[0]!;
    expect(outcome).toMatchObject({ stack, result: 'deployed' });
    expect(h.store.getLog(outcome.deploymentId!)).toContain(
      'stop-first (volume data is marked exclusive in the deploy settings)',
    );
    const v2 = await h.named(stack);
    const v2Version = h.store.getStack(stack)!.running!.version;
    expect(v2).toHaveLength(1);
    expect(v2[0]).toMatchObject({ name: `${stack}-web-1`, state: 'running', version: v2Version });
    expect(v2[0]!.id).not.toBe(v1[0]!.id);

    // An exclusive volume the compose file does not declare: a settings mistake.
    await h.writeStack(stack, compose('v3'), settings('nope'));
    h.commit('v3');
    const invalid = await control.reconcile({});
    const bad = invalid.stacks[0]!;
    expect(invalid.ok).toBe(false);
    // Refused before the deployment starts, as a broken compose file is.
    expect(bad.result).toBe('invalid');
    expect(h.store.listDeployments(stack)).toHaveLength(2);
    expect(bad.error?.reason, bad.message).toBe('SettingsInvalid');
    expect(bad.error?.place.field).toBe('exclusiveVolumes');
    expect(bad.message).toMatch(/exclusiveVolumes/);
    expect(bad.message).toMatch(/nope/);
    // A settings mistake is not the version's fault: not marked bad.
    expect(h.store.isBad(stack, bad.version!)).toBeUndefined();
    expect(await h.named(stack)).toEqual(v2);
    expect(h.store.getStack(stack)!.running!.version).toBe(v2Version);
    expect((await h.folders.readRunningVersion(stack))?.version).toBe(v2Version);
  });

  it('rolls a stop-first and a side-by-side service in one deployment, keeping the unchanged one', async () => {
    h = await Harness.create();
    const stack = h.name('sfmix');
    const fixed = `${stack}-fixed`;
    const compose = (marker: string): string =>
      composeFile({
        solo: { extra: `    container_name: ${fixed}`, marker },
        web: { extra: '    deploy:\n      replicas: 2', marker },
        db: {},
      });
    await h.writeStack(stack, compose('v1'), { 'deploy.yaml': BLUE_GREEN });
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 20_000 } });
    expect((await control.reconcile({})).ok).toBe(true);
    const v1 = await h.named(stack);
    expect(v1).toHaveLength(4);

    await h.writeStack(stack, compose('v2'), { 'deploy.yaml': BLUE_GREEN });
    h.commit('v2');
    const pass = await control.reconcile({});
    const outcome = pass.stacks[0]!;
    expect(outcome).toMatchObject({ stack, result: 'deployed' });
    expect(h.store.listDeployments(stack)[0]!.id).toBe(outcome.deploymentId);
    const journal = h.store.getJournal(outcome.deploymentId!);
    expect(journal.filter((j) => j.step === 'stop-first').map((j) => j.detail)).toEqual([
      expect.stringMatching(/^solo: fixed container_name/) as unknown,
    ]);
    const started = journal.filter((j) => j.step === 'start-new').map((j) => j.detail);
    expect(started).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^solo /) as unknown,
        expect.stringMatching(/^web /) as unknown,
      ]),
    );
    expect(started).toHaveLength(2);
    const log = h.store.getLog(outcome.deploymentId!);
    expect(log).toMatch(/recreate solo: stop-first \(fixed container_name/);
    expect(log).toMatch(/recreate web: blue-green side by side/);
    expect(log).toMatch(/unchanged db/);

    const v2 = await h.named(stack);
    const v2Version = h.store.getStack(stack)!.running!.version;
    expect(v2.map((c) => c.name)).toEqual(
      [`${stack}-db-1`, fixed, `${stack}-web-1`, `${stack}-web-2`].sort((a, b) =>
        a.localeCompare(b),
      ),
    );
    expect(v2.every((c) => c.state === 'running')).toBe(true);
    const oldDb = v1.find((c) => c.service === 'db')!;
    expect(v2.find((c) => c.service === 'db')).toEqual(oldDb);
    for (const c of v2.filter((x) => x.service !== 'db')) {
      expect(c.version).toBe(v2Version);
      expect(v1.some((old) => old.id === c.id)).toBe(false);
    }
    expect(v2.some((c) => /-(prev|new)-/.test(c.name))).toBe(false);
  });
});
