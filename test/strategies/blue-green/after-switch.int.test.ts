import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURE_IMAGE } from '../../helpers/docker.js';
import { healthcheckYaml } from '../../helpers/compose.js';
import { Harness, exists } from '../../helpers/harness.js';

/**
 * The old containers leave the aliases at the start of the switch and are removed after the
 * drain. A long drain gives `client`'s healthcheck (every 500 ms) many tries to see that `web`
 * no longer answers before the whole-stack gate looks, however busy the machine is.
 */
const BLUE_GREEN = 'method: blue-green\ndrain: 10s\n';

const IDLE = "trap 'exit 0' TERM; sleep 3600 & wait";
const SERVE = `mkdir -p /tmp/www && echo ok > /tmp/www/index.html && httpd -p 8080 -h /tmp/www && ${IDLE}`;

/**
 * `web` serves on 8080 unless `serves` is false: then it still passes its own healthcheck
 * (`true`), so its new containers pass their gate, but nothing answers. `client` does not
 * change between versions; its healthcheck calls `web` and fails once only the broken `web`
 * answers to the name. Its start period covers the time `web` takes to come up after a
 * stop-first deploy; a failure after a first success counts at once.
 */
function stackFile(marker: string, serves: boolean): string {
  return [
    'services:',
    '  web:',
    `    image: ${FIXTURE_IMAGE}`,
    `    command: ["sh", "-c", ${JSON.stringify(serves ? SERVE : IDLE)}]`,
    '    stop_grace_period: 1s',
    '    environment:',
    `      MARKER: "${marker}"`,
    ...healthcheckYaml('true'),
    '  client:',
    `    image: ${FIXTURE_IMAGE}`,
    `    command: ["sh", "-c", ${JSON.stringify(IDLE)}]`,
    '    stop_grace_period: 1s',
    '    healthcheck:',
    // busybox wget's own -T crashes here; `timeout` bounds it instead.
    '      test: ["CMD-SHELL", "timeout 2 wget -q -O /dev/null http://web:8080/"]',
    '      interval: 500ms',
    '      timeout: 20s',
    '      retries: 1',
    '      start_period: 60s',
    '',
  ].join('\n');
}

describe('blue-green, failing after the switch', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('marks the version bad and brings the good version back stop-first', async () => {
    h = await Harness.create();
    const stack = h.name('bgafter');
    await h.writeStack(stack, stackFile('v1', true), { 'deploy.yaml': BLUE_GREEN });
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 30_000 } });
    const first = await control.reconcile({});
    expect(first.ok, JSON.stringify(first.stacks)).toBe(true);
    const v1 = await h.named(stack);
    const v1Version = h.store.getStack(stack)!.running!.version;
    expect(v1.map((c) => c.state)).toEqual(['running', 'running']);

    await h.writeStack(stack, stackFile('v2', false), { 'deploy.yaml': BLUE_GREEN });
    h.commit('v2');
    const pass = await control.reconcile({});
    const outcome = pass.stacks[0]!;
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ stack, result: 'rolled-back' });
    const v2Version = outcome.version!;
    expect(v2Version).not.toBe(v1Version);
    expect(h.store.isBad(stack, v2Version)).toBeDefined();

    // web's new container passed its own gate and took over; then the whole stack failed.
    const [deployment] = h.store.listDeployments(stack);
    expect(deployment).toMatchObject({ version: v2Version, state: 'ROLLED_BACK' });
    expect(deployment!.message).toMatch(/took over at the switch, then health check failed/);
    expect(deployment!.message).toMatch(/client/);
    const steps = h.store.getJournal(deployment!.id).map((j) => j.step);
    const order = [
      'wait-new',
      'promote',
      'switch',
      'rename',
      'wait-healthy',
      'mark-bad',
      'remove-new',
      'restore-good',
      'apply-good',
      'wait-healthy-good',
    ];
    expect(steps.filter((s) => order.includes(s))).toEqual(order);
    expect(steps).not.toContain('roll-back');

    // The good version runs again, healthy, in new containers (stop-first).
    const after = await h.named(stack);
    expect(after.map((c) => c.name)).toEqual([`${stack}-client-1`, `${stack}-web-1`]);
    expect(after.every((c) => c.state === 'running' && c.version === v1Version)).toBe(true);
    expect(after.some((c) => v1.some((old) => old.id === c.id))).toBe(false);
    const record = h.store.getStack(stack)!;
    expect(record.running?.version).toBe(v1Version);
    expect(record.health).toBe('healthy');
    expect((await h.folders.readRunningVersion(stack))?.version).toBe(v1Version);
    expect((await h.folders.readGoodVersion(stack))?.version).toBe(v1Version);
    expect(await exists(path.join(h.dataDir, 'running_stacks', `.${stack}.previous`))).toBe(false);
    const health = h.store.healthHistory(stack, 5);
    expect(health.find((r) => r.version === v2Version)?.health).toBe('unhealthy');
  });
});
