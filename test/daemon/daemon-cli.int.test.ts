import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStateStore } from '../../src/state/store.js';
import type { DeploymentRecord, StackRecord } from '../../src/state/types.js';
import { removeProject, uniqueName } from '../helpers/docker.js';
import { DaemonProcess, NotificationSink, sign, waitFor } from '../helpers/daemon-process.js';
import { Harness, composeFile } from '../helpers/harness.js';

const TOKEN = 'tok-ci-0123456789';
const GENERIC_SECRET = 'generic-secret-0123456789';
const GITHUB_SECRET = 'github-secret-0123456789';
const YEARLY = '0 0 1 1 *';

function configYaml(options: {
  source: string[];
  dataDir: string;
  schedule: string;
  tokens?: { name: string; token: string }[];
  notifyUrl?: string;
}): string {
  const tokens = options.tokens ?? [{ name: 'ci', token: TOKEN }];
  const lines = [
    'source:',
    ...options.source.map((l) => `  ${l}`),
    '  paths: ["stacks/*"]',
    `dataDir: ${options.dataDir}`,
    'defaults:',
    '  healthTimeout: 30s',
    '  stabilityPeriod: 500ms',
    `schedule: "${options.schedule}"`,
    'concurrency: 2',
    'server:',
    '  listen: 127.0.0.1:0',
    '  tokens:',
    ...tokens.map((t) => `    - { name: ${t.name}, token: ${t.token} }`),
    '  webhooks:',
    `    generic: { secret: ${GENERIC_SECRET} }`,
    `    github: { secret: ${GITHUB_SECRET} }`,
  ];
  if (options.notifyUrl !== undefined) {
    lines.push('notify:', `  - { type: webhook, url: "${options.notifyUrl}" }`);
  }
  return `${lines.join('\n')}\n`;
}

async function api<T>(
  port: number,
  route: string,
  init: RequestInit = {},
  token = TOKEN,
): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1${route}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) },
  });
  if (!res.ok) throw new Error(`${route}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function deployments(port: number, stack: string): Promise<DeploymentRecord[]> {
  return (
    await api<{ deployments: DeploymentRecord[] }>(port, `/stacks/${stack}/deployments?limit=200`)
  ).deployments;
}

async function stackRecord(port: number, stack: string): Promise<StackRecord | undefined> {
  const list = (await api<{ stacks: StackRecord[] }>(port, '/stacks')).stacks;
  return list.find((s) => s.name === stack);
}

/** Real deployments (not the queued ones that turned out to have nothing to do). */
function real(list: DeploymentRecord[]): DeploymentRecord[] {
  return list.filter((d) => d.result !== 'skipped');
}

describe('berth daemon (real CLI process, git, Docker)', { timeout: 420_000 }, () => {
  let harness: Harness;
  let sink: NotificationSink;
  let daemon: DaemonProcess | undefined;
  let configFile: string;
  let stack: string;

  beforeAll(async () => {
    harness = await Harness.create();
    sink = await NotificationSink.start();
    stack = harness.name('dmn');
    configFile = path.join(harness.root, 'berth.yaml');
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await sink?.close();
    await harness?.cleanup();
  });

  function writeConfig(
    schedule: string,
    tokens?: { name: string; token: string }[],
  ): Promise<void> {
    return writeFile(
      configFile,
      configYaml({
        source: ['git:', `  url: file://${harness.remote}`, '  branch: main'],
        dataDir: harness.dataDir,
        schedule,
        tokens,
        notifyUrl: sink.url(),
      }),
    );
  }

  async function push(marker: string, health = 'true'): Promise<string> {
    await harness.writeStack(stack, composeFile({ app: { marker, health } }));
    return harness.commit(marker);
  }

  it('deploys on webhooks, the API, the schedule; coalesces; reloads config; notifies; stops cleanly', async () => {
    await push('v1');
    await writeConfig(YEARLY);
    daemon = DaemonProcess.start(['daemon', '--config', configFile]);
    const port = await waitFor(() => daemon?.port(), 30_000, 'the listener');

    // Startup sync deploys the first version.
    await waitFor(
      async () => (await stackRecord(port, stack))?.state === 'AVAILABLE',
      120_000,
      'first deploy',
    );
    const first = real(await deployments(port, stack));
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ state: 'DONE', result: 'succeeded', trigger: 'startup' });

    // A bad signature starts nothing.
    await push('v2');
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const bad = await fetch(`http://127.0.0.1:${port}/webhooks/generic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-berth-signature': sign('wrong', body) },
      body,
    });
    expect(bad.status).toBe(401);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await deployments(port, stack)).toHaveLength(1);

    // A signed GitHub push deploys it.
    const ghBody = JSON.stringify({ ref: 'refs/heads/main', after: 'a'.repeat(40) });
    const gh = await fetch(`http://127.0.0.1:${port}/webhooks/github`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-hub-signature-256': sign(GITHUB_SECRET, ghBody),
      },
      body: ghBody,
    });
    expect(gh.status).toBe(202);
    const byWebhook = await waitFor(
      async () =>
        real(await deployments(port, stack)).find(
          (d) => d.trigger === 'webhook:github' && d.state === 'DONE',
        ),
      60_000,
      'webhook deploy',
    );
    expect(byWebhook.result).toBe('succeeded');

    // The API's sync records the token's name as the trigger.
    await push('v3');
    const sync = await fetch(`http://127.0.0.1:${port}/api/v1/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(sync.status).toBe(202);
    await waitFor(
      async () =>
        real(await deployments(port, stack)).find(
          (d) => d.trigger === 'api:ci' && d.state === 'DONE',
        ),
      60_000,
      'api deploy',
    );

    // Many signed webhooks during a deploy: at most two deployments.
    const before = real(await deployments(port, stack)).length;
    await push('v4');
    const genericBody = JSON.stringify({ ref: 'refs/heads/main' });
    const answers = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i * 40));
        const res = await fetch(`http://127.0.0.1:${port}/webhooks/generic`, {
          method: 'POST',
          headers: { 'x-berth-signature': sign(GENERIC_SECRET, genericBody) },
          body: genericBody,
        });
        return res.status;
      }),
    );
    expect(answers.every((s) => s === 202)).toBe(true);
    await waitFor(
      async () => {
        const list = await deployments(port, stack);
        const record = await stackRecord(port, stack);
        return (
          list.every(
            (d) => d.state === 'DONE' || d.state === 'FAILED' || d.state === 'ROLLED_BACK',
          ) &&
          record?.state === 'AVAILABLE' &&
          list.length > before
        );
      },
      60_000,
      'coalesced deploys to settle',
    );
    const coalesced = real(await deployments(port, stack)).length - before;
    expect(coalesced).toBeGreaterThanOrEqual(1);
    expect(coalesced).toBeLessThanOrEqual(2);

    // A broken config is refused; the old one (and its token) stays in force.
    const logsBefore = daemon.logs.length;
    await writeFile(configFile, 'source: [this is: not valid\n');
    await daemon.waitForLog(
      'config reload refused; the old config stays in force',
      15_000,
      logsBefore,
    );
    expect((await stackRecord(port, stack))?.name).toBe(stack);

    // A good change is applied: a new token and a schedule every two seconds.
    const reloadMark = daemon.logs.length;
    await writeConfig('*/2 * * * * *', [{ name: 'ops', token: 'tok-ops-987654321' }]);
    await daemon.waitForLog('config reloaded', 15_000, reloadMark);
    const newPort = await waitFor(
      () => daemon?.logs.slice(reloadMark).find((l) => l.msg === 'listening')?.port as number,
      15_000,
      'the new listener',
    );
    const old = await fetch(`http://127.0.0.1:${newPort}/api/v1/stacks`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(old.status).toBe(401);
    const opsToken = 'tok-ops-987654321';
    expect(
      (await api<{ stacks: StackRecord[] }>(newPort, '/stacks', {}, opsToken)).stacks.length,
    ).toBeGreaterThan(0);

    // The schedule alone picks up a push.
    await push('v5');
    await waitFor(
      async () =>
        (
          await api<{ deployments: DeploymentRecord[] }>(
            newPort,
            `/stacks/${stack}/deployments`,
            {},
            opsToken,
          )
        ).deployments.find((d) => d.trigger === 'schedule' && d.state === 'DONE'),
      60_000,
      'scheduled deploy',
    );

    // An unhealthy version is rolled back and marked bad; both are notified.
    await push('v6', 'false');
    await waitFor(
      () => sink.events.find((e) => e.event === 'marked-bad' && e.stack === stack),
      60_000,
      'marked-bad notification',
    );
    expect(sink.events.some((e) => e.event === 'rolled-back' && e.stack === stack)).toBe(true);
    expect(sink.events.some((e) => e.event === 'deploy-succeeded' && e.stack === stack)).toBe(true);

    // /metrics shows the gauges.
    const metrics = await (await fetch(`http://127.0.0.1:${newPort}/metrics`)).text();
    expect(metrics).toContain(`berth_stack_ready{stack="${stack}",source="default"}`);
    expect(metrics).toContain(`berth_deployments_total{stack="${stack}",result="succeeded"}`);
    expect(metrics).toMatch(
      /berth_webhook_requests_total\{provider="generic",result="accepted"\} 30/,
    );

    // SIGTERM during a deploy: exit 0 and nothing left RUNNING.
    const termMark = daemon.logs.length;
    await push('v7');
    await waitFor(
      () =>
        daemon?.logs.slice(termMark).find((l) => l.msg === 'deploying stack' && l.stack === stack),
      30_000,
      'a deploy to start',
    );
    expect(await daemon.stop('SIGTERM')).toBe(0);
    daemon = undefined;
    const store = openStateStore(path.join(harness.dataDir, 'berth.db'));
    try {
      expect(store.unfinishedDeployments()).toEqual([]);
      // The deploy in flight either finished or was recorded as interrupted, never RUNNING.
      const last = store.listDeployments(stack, 1)[0];
      expect(last?.state).not.toBe('RUNNING');
      expect(last?.finishedAt).toBeDefined();
    } finally {
      store.close();
    }
  });
});

describe('berth daemon with a local source folder', { timeout: 240_000 }, () => {
  let root: string;
  let stack: string;
  let daemon: DaemonProcess | undefined;

  beforeAll(async () => {
    const harness = await Harness.create();
    root = harness.root;
    stack = uniqueName('dmnl');
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await removeProject(stack);
    await rm(root, { recursive: true, force: true });
  });

  it('watches the folder and deploys a change', async () => {
    const source = path.join(root, 'local');
    await mkdir(path.join(source, 'stacks', stack), { recursive: true });
    await writeFile(
      path.join(source, 'stacks', stack, 'compose.yaml'),
      composeFile({ app: { marker: 'l1' } }),
    );
    const configFile = path.join(root, 'local.yaml');
    await writeFile(
      configFile,
      configYaml({
        source: [`path: ${source}`],
        dataDir: path.join(root, 'data-local'),
        schedule: YEARLY,
      }),
    );
    daemon = DaemonProcess.start(['daemon', '--config', configFile]);
    const port = await waitFor(() => daemon?.port(), 30_000, 'the listener');
    await waitFor(
      async () => (await stackRecord(port, stack))?.state === 'AVAILABLE',
      120_000,
      'first deploy',
    );
    await writeFile(
      path.join(source, 'stacks', stack, 'compose.yaml'),
      composeFile({ app: { marker: 'l2' } }),
    );
    const watched = await waitFor(
      async () =>
        real(await deployments(port, stack)).find(
          (d) => d.trigger === 'watch' && d.state === 'DONE',
        ),
      60_000,
      'watch-triggered deploy',
    );
    expect(watched.result).toBe('succeeded');
    expect(await daemon.stop('SIGTERM')).toBe(0);
    daemon = undefined;
  });
});
