import type Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURE_IMAGE, demuxFrames, testDocker } from '../../helpers/docker.js';
import { Harness } from '../../helpers/harness.js';

/**
 * Migration jobs against the real engine: they run as one-off containers of the new version,
 * before it serves, and a failing one leaves the old version serving.
 */

/** app needs the schema marker v2's migration writes into the `data` volume to be healthy. */
function schemaStack(marker: string): string {
  return [
    'services:',
    '  db:',
    `    image: ${FIXTURE_IMAGE}`,
    `    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`,
    '    stop_grace_period: 1s',
    '    healthcheck:',
    '      test: ["CMD", "true"]',
    '      interval: 500ms',
    '      retries: 3',
    '  app:',
    `    image: ${FIXTURE_IMAGE}`,
    `    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`,
    '    stop_grace_period: 1s',
    `    environment: { SCHEMA: "${marker}" }`,
    '    volumes: ["data:/data"]',
    '    depends_on: { db: { condition: service_healthy } }',
    '    healthcheck:',
    '      test: ["CMD-SHELL", "test -f /data/schema-$$SCHEMA"]',
    '      interval: 500ms',
    '      retries: 3',
    'volumes:',
    '  data: {}',
    '',
  ].join('\n');
}

const SCHEMA_SETTINGS = [
  'migrations:',
  '  - name: schema',
  '    service: app',
  // The job sees the service's environment and volume, and db by its name.
  '    command: ["sh", "-c", "ping -c 1 -W 2 db >/dev/null && echo migrating to $SCHEMA && touch /data/schema-$SCHEMA"]',
  '    timeout: 30s',
  '',
].join('\n');

function web(version: string): string {
  const script = `trap 'exit 0' TERM; mkdir -p /www; echo $$V > /www/index.html; sleep 1; httpd -f -p 80 -h /www & wait`;
  return [
    'services:',
    '  web:',
    `    image: ${FIXTURE_IMAGE}`,
    `    command: ["sh", "-c", ${JSON.stringify(script)}]`,
    `    environment: { V: "${version}" }`,
    '    stop_grace_period: 2s',
    '    deploy: { replicas: 2 }',
    '    healthcheck:',
    `      test: ["CMD-SHELL", "timeout 2 wget -q -O /dev/null http://127.0.0.1/ || exit 1"]`,
    '      interval: 500ms',
    '      timeout: 3s',
    '      retries: 2',
    '      start_period: 3s',
    '',
  ].join('\n');
}

async function jobContainers(stack: string): Promise<string[]> {
  const listed = await testDocker().listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${stack}`, 'dev.berth.job'] },
  });
  return listed.map((c) => c.Names[0] ?? c.Id);
}

async function startClient(network: string): Promise<Docker.Container> {
  const loop =
    'while true; do if timeout 5 wget -q -O /dev/null http://web/; then echo ok; else echo fail; fi; done';
  const container = await testDocker().createContainer({
    Image: FIXTURE_IMAGE,
    Cmd: ['sh', '-c', loop],
    HostConfig: { NetworkMode: network },
  });
  await container.start();
  return container;
}

async function answers(client: Docker.Container): Promise<string[]> {
  const raw = await client.logs({ stdout: true, stderr: false, follow: false });
  return demuxFrames(raw)
    .split('\n')
    .filter((l) => l !== '');
}

describe('migration jobs', () => {
  let h: Harness | undefined;
  let client: Docker.Container | undefined;
  afterEach(async () => {
    await client?.remove({ force: true }).catch(() => undefined);
    client = undefined;
    await h?.cleanup();
    h = undefined;
  });

  it('simple: the job writes the schema the new version needs to be healthy, after its dependencies are up', async () => {
    h = await Harness.create();
    const stack = h.name('mig');
    await h.writeStack(stack, schemaStack('v1'), { 'deploy.yaml': SCHEMA_SETTINGS });
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 20_000, stabilityMs: 500 } });
    const first = await control.reconcile({});
    expect(first.stacks[0]).toMatchObject({ stack, result: 'deployed' });

    // v2 replaces a running version: the job runs between the old containers and the new ones.
    await h.writeStack(stack, schemaStack('v2'), { 'deploy.yaml': SCHEMA_SETTINGS });
    h.commit('v2');
    const pass = await control.reconcile({});
    expect(pass.stacks[0]).toMatchObject({ stack, result: 'deployed' });
    const version = h.store.getStack(stack)!.running!.version;
    const [deployment] = h.store.listDeployments(stack);
    const steps = h.store.getJournal(deployment!.id).map((j) => j.step);
    expect(steps.indexOf('wait-dependencies')).toBeGreaterThan(-1);
    expect(steps.indexOf('migrate:schema')).toBeGreaterThan(steps.indexOf('wait-dependencies'));
    expect(steps.indexOf('apply')).toBeGreaterThan(steps.indexOf('migrate:schema'));
    const log = h.store.getLog(deployment!.id);
    expect(log).toContain('migration schema (app) exited 0');
    expect(log).toContain('migrating to v2');
    const run = h.store.migrationRun(stack, version, 'schema');
    expect(run).toMatchObject({ exitCode: 0 });
    expect(run!.output).toContain('migrating to v2');
    expect(run!.durationMs).toBeGreaterThanOrEqual(0);
    expect(await jobContainers(stack)).toEqual([]);
    // The job is not a container of the stack: observe and the next pass see nothing to do.
    expect((await h.containers(stack)).map((c) => c.service)).toEqual(['app', 'db']);
    expect((await control.reconcile({})).stacks[0]?.result).toBe('unchanged');
  });

  it('blue-green: a failing job under load loses no request, keeps the old version and marks the new one bad; a passing one runs before the new containers', async () => {
    h = await Harness.create();
    const stack = h.name('migbg');
    const settings = (jobs: string): Record<string, string> => ({
      'deploy.yaml': `method: blue-green\ndrain: 1s\n${jobs}`,
    });
    await h.writeStack(stack, web('v1'), settings(''));
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 30_000, stabilityMs: 500 } });
    expect((await control.reconcile({})).ok).toBe(true);
    const before = await h.containers(stack);
    const v1 = h.store.getStack(stack)!.running!.version;
    client = await startClient(`${stack}_default`);
    await new Promise((r) => setTimeout(r, 1000));
    const mark = (await answers(client)).length;
    expect(mark).toBeGreaterThan(0);

    const failing = [
      'migrations:',
      '  - name: broken',
      '    service: web',
      '    command: ["sh", "-c", "echo adding column; sleep 2; echo relation users does not exist >&2; exit 3"]',
      '',
    ].join('\n');
    await h.writeStack(stack, web('v2'), settings(failing));
    h.commit('v2');
    const pass = await control.reconcile({});
    expect(pass.stacks[0]).toMatchObject({ stack, result: 'rolled-back' });
    const v2 = pass.stacks[0]!.version!;
    await new Promise((r) => setTimeout(r, 1000));

    const during = (await answers(client)).slice(mark);
    expect(during.length, 'requests sent').toBeGreaterThan(10);
    expect(
      during.filter((a) => a !== 'ok'),
      'failed requests',
    ).toEqual([]);
    expect(await h.containers(stack)).toEqual(before);
    expect(h.store.getStack(stack)!.running!.version).toBe(v1);
    expect(h.store.isBad(stack, v2)?.reason).toContain('migration broken exited 3');
    const [deployment] = h.store.listDeployments(stack);
    const log = h.store.getLog(deployment!.id);
    expect(log).toContain('migration broken (web) exited 3');
    expect(log).toContain('relation users does not exist');
    expect(h.store.getJournal(deployment!.id).map((j) => j.step)).not.toContain('start-new');
    expect(h.store.migrationRun(stack, v2, 'broken')).toBeUndefined();
    expect(await jobContainers(stack)).toEqual([]);

    // A job that passes: it runs while v1 serves, then the new containers roll in.
    const mark3 = (await answers(client)).length;
    const passing = 'migrations:\n  - service: web\n    command: echo expanded\n';
    await h.writeStack(stack, web('v3'), settings(passing));
    h.commit('v3');
    const good = await control.reconcile({});
    expect(good.stacks[0]).toMatchObject({ stack, result: 'deployed' });
    await new Promise((r) => setTimeout(r, 1000));
    const during3 = (await answers(client)).slice(mark3);
    expect(
      during3.filter((a) => a !== 'ok'),
      'failed requests (v3)',
    ).toEqual([]);
    const [third] = h.store.listDeployments(stack);
    const steps = h.store.getJournal(third!.id).map((j) => j.step);
    expect(steps.indexOf('migrate:web')).toBeGreaterThan(steps.indexOf('plan'));
    expect(steps.indexOf('start-new')).toBeGreaterThan(steps.indexOf('migrate:web'));
    expect(h.store.migrationRun(stack, good.stacks[0]!.version!, 'web')?.output).toContain(
      'expanded',
    );
  });
});
