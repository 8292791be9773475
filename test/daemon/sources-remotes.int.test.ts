import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/log.js';
import type { StackRecord } from '../../src/state/types.js';
import { GitHttpServer } from '../security/servers.js';
import { commit, git } from '../source/git/git-fixture.js';
import { DaemonApi } from '../helpers/daemon-api.js';
import { NotificationSink, waitFor } from '../helpers/daemon-process.js';
import { removeProject, testDocker, uniqueName } from '../helpers/docker.js';
import { GitSshServer } from '../helpers/git-ssh-server.js';
import { composeFile } from '../helpers/harness.js';

const TOKEN = `token-${randomBytes(12).toString('hex')}`;
const GIT_TOKEN = `git-${randomBytes(12).toString('hex')}`;
const SECRET = `secret-${randomBytes(12).toString('hex')}`;

/** A bare repository and a working clone pushing to it by path (whatever serves the bare). */
interface Remote {
  bare: string;
  work: string;
  /** Commits the files (null deletes) and pushes; returns the commit. */
  push(files: Record<string, string | null>, message: string): string;
}

function createRemote(bare: string, work: string): Remote {
  git(path.dirname(bare), 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  git(path.dirname(work), 'init', '--quiet', '--initial-branch=main', work);
  git(work, 'remote', 'add', 'origin', bare);
  const push = (files: Record<string, string | null>, message: string): string => {
    const sha = commit(work, files, message);
    git(work, 'push', '--quiet', 'origin', 'main');
    return sha;
  };
  push({ 'README.md': 'stacks\n' }, 'init');
  return { bare, work, push };
}

const stackFile = (name: string): string => `stacks/${name}/compose.yaml`;

async function runningContainers(stack: string): Promise<number> {
  const listed = await testDocker().listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${stack}`] },
  });
  return listed.every((c) => c.State === 'running') ? listed.length : 0;
}

function condition(record: StackRecord | undefined, type: string): string | undefined {
  const found = record?.conditions.find((c) => c.type === type);
  return found === undefined ? undefined : `${found.status} ${found.reason}`;
}

/**
 * A daemon following three real remotes of three kinds: `file` (file://, synced every second),
 * `http` (git http-backend behind a token) and `ssh` (sshd with a key and a pinned host key),
 * both yearly, so only their webhooks make them fetch. Prune is on.
 */
describe('the daemon with file://, http and ssh remotes', { timeout: 60_000 }, () => {
  const root = mkdtempSync(path.join(tmpdir(), 'berth-remotes-'));
  const names = {
    f1: uniqueName('rf1'),
    f2: uniqueName('rf2'),
    h1: uniqueName('rh1'),
    h2: uniqueName('rh2'),
    s1: uniqueName('rs1'),
    s2: uniqueName('rs2'),
  };
  const remotes = {} as Record<'file' | 'http' | 'ssh', Remote>;
  const urls = {} as Record<'file' | 'http' | 'ssh', string>;
  let httpServer: GitHttpServer;
  let sshServer: GitSshServer;
  let sink: NotificationSink;
  let daemon: Daemon;
  let api: DaemonApi;

  beforeAll(async () => {
    for (const kind of ['file', 'http', 'ssh'] as const) {
      mkdirSync(path.join(root, kind));
      remotes[kind] = createRemote(
        path.join(root, kind, 'repo.git'),
        path.join(root, `${kind}-work`),
      );
    }
    const web = composeFile({ web: {} });
    remotes.file.push({ [stackFile(names.f1)]: web, [stackFile(names.f2)]: web }, 'file: two');
    remotes.http.push({ [stackFile(names.h1)]: web }, 'http: one');
    remotes.ssh.push({ [stackFile(names.s1)]: web, [stackFile(names.s2)]: web }, 'ssh: two');

    httpServer = await GitHttpServer.start(path.join(root, 'http'), GIT_TOKEN);
    sshServer = await GitSshServer.start(path.join(root, 'sshd'));
    sink = await NotificationSink.start();
    urls.file = `file://${remotes.file.bare}`;
    urls.http = httpServer.url(remotes.http.bare);
    urls.ssh = sshServer.url(remotes.ssh.bare);

    const file = path.join(root, 'berth.yaml');
    writeFileSync(
      file,
      [
        `dataDir: ${path.join(root, 'data')}`,
        'schedule: "0 0 1 1 *"',
        'prune: true',
        'concurrency: 6',
        'defaults: { healthTimeout: 45s, stabilityPeriod: 500ms }',
        'sources:',
        '  - name: file',
        `    git: { url: "${urls.file}" }`,
        '    paths: ["stacks/*"]',
        '    schedule: "* * * * * *"',
        '  - name: http',
        `    git: { url: "${urls.http}", auth: { token: ${GIT_TOKEN} } }`,
        '    paths: ["stacks/*"]',
        '  - name: ssh',
        `    git:`,
        `      url: "${urls.ssh}"`,
        `      auth: { sshKeyFile: ${sshServer.clientKey}, knownHostsFile: ${sshServer.knownHosts} }`,
        '    paths: ["stacks/*"]',
        'server:',
        '  listen: 127.0.0.1:0',
        `  tokens: [{ name: t, token: ${TOKEN} }]`,
        `  webhooks: { generic: { secret: ${SECRET} } }`,
        `notify: [{ type: webhook, url: "${sink.url()}" }]`,
        '',
      ].join('\n'),
    );
    const config = await loadConfig({ file, env: {}, cwd: root });
    daemon = createDaemon({ config, logger: silentLogger(), maxJitterMs: 0 });
    await daemon.start();
    await daemon.idle();
    const address = daemon.address();
    api = new DaemonApi(`http://${address?.host ?? ''}:${address?.port ?? 0}`, TOKEN, SECRET);
  });

  afterAll(async () => {
    await daemon?.stop();
    await sshServer?.stop();
    await httpServer?.close();
    await sink?.close();
    for (const name of Object.values(names)) await removeProject(name);
    rmSync(root, { recursive: true, force: true });
  });

  it('deploys the stacks of every remote, each recorded with its source', async () => {
    const sources = await api.sources();
    expect(Object.keys(sources)).toEqual(['file', 'http', 'ssh']);
    for (const view of Object.values(sources)) expect(view.lastSync?.ok).toBe(true);
    expect(sources.file!.schedule).toBe('* * * * * *');
    expect(sources.http!.schedule).toBe('0 0 1 1 *');
    expect(sources.ssh!.schedule).toBe('0 0 1 1 *');
    expect(sources.http!.lastSync!.commit).toBe(git(remotes.http.bare, 'rev-parse', 'main'));
    expect(sources.ssh!.lastSync!.commit).toBe(git(remotes.ssh.bare, 'rev-parse', 'main'));
    // The token was really asked for, and really used.
    expect(httpServer.authorized).toBeGreaterThan(0);

    const stacks = await api.stacks();
    const { f1, f2, h1, s1, s2 } = names;
    for (const [stack, source] of [
      [f1, 'file'],
      [f2, 'file'],
      [h1, 'http'],
      [s1, 'ssh'],
      [s2, 'ssh'],
    ] as const) {
      expect(stacks[stack]?.source).toBe(source);
      expect(await runningContainers(stack)).toBe(1);
    }
    const metrics = await api.metrics();
    for (const source of ['file', 'http', 'ssh'])
      expect(metrics).toContain(`berth_source_up{source="${source}"} 1`);
  });

  it('syncs each remote on its own schedule and routes each webhook to its source', async () => {
    const before = await api.sources();
    const httpCommit = remotes.http.push(
      { [stackFile(names.h2)]: composeFile({ web: {} }) },
      'http: one more',
    );
    const sshCommit = remotes.ssh.push({ 'README.md': 'ssh\n' }, 'ssh: readme');
    await waitFor(
      async () => (await api.sources()).file!.lastSync!.at !== before.file!.lastSync!.at,
      15_000,
      'a scheduled sync of file',
    );
    const scheduled = await api.sources();
    expect(scheduled.http!.lastSync).toEqual(before.http!.lastSync);
    expect(scheduled.ssh!.lastSync).toEqual(before.ssh!.lastSync);

    expect(await api.push({ repository: urls.http, commit: httpCommit })).toEqual({
      status: 202,
      body: { accepted: true, sources: ['http'] },
    });
    await waitFor(
      async () => (await api.sources()).http!.lastSync?.commit === httpCommit,
      15_000,
      'the http commit',
    );
    await waitFor(
      async () =>
        condition((await api.stacks())[names.h2], 'Ready') === 'True ReconciliationSucceeded',
      30_000,
      'h2 deployed',
    );
    expect((await api.stacks())[names.h2]?.source).toBe('http');
    expect(await runningContainers(names.h2)).toBe(1);
    // The http push fetched neither ssh nor, beyond its own schedule, anything else.
    expect((await api.sources()).ssh!.lastSync).toEqual(before.ssh!.lastSync);

    expect(await api.push({ repository: urls.ssh, commit: sshCommit })).toEqual({
      status: 202,
      body: { accepted: true, sources: ['ssh'] },
    });
    await waitFor(
      async () => (await api.sources()).ssh!.lastSync?.commit === sshCommit,
      15_000,
      'the ssh commit',
    );
  });

  it('breaks only the stacks of a name two remotes hold', async () => {
    const { f1, f2, h1, h2, s1 } = names;
    const before = (await api.stacks())[f1];
    const clash = remotes.http.push(
      { [stackFile(f1)]: composeFile({ web: { marker: 'http' } }) },
      'http: a stack named like one of file',
    );
    await api.push({ repository: urls.http, commit: clash });
    const broken = await waitFor(
      async () => {
        const record = (await api.stacks())[f1];
        return condition(record, 'Stalled') === 'True ValidationFailed' ? record : undefined;
      },
      15_000,
      'the clash',
    );
    const message = broken.conditions.find((c) => c.type === 'Stalled')!.message;
    expect(message).toContain(`stacks/${f1} of source file`);
    expect(message).toContain(`stacks/${f1} of source http`);
    // Broken is left as it runs; the other stacks of both sources are not touched.
    expect(await runningContainers(f1)).toBe(1);
    const stacks = await api.stacks();
    for (const stack of [f2, h1, h2, s1]) {
      expect(condition(stacks[stack], 'Ready')).toBe('True ReconciliationSucceeded');
      expect(await runningContainers(stack)).toBe(1);
    }

    const gone = remotes.http.push({ [stackFile(f1)]: null }, 'http: clash gone');
    await api.push({ repository: urls.http, commit: gone });
    await waitFor(
      async () => (await api.sources()).http!.lastSync?.commit === gone,
      15_000,
      'the clash gone',
    );
    // f1 is file's alone again: ready on file's next pass, still running its first version.
    await waitFor(
      async () => condition((await api.stacks())[f1], 'Ready') === 'True ReconciliationSucceeded',
      15_000,
      'f1 ready again once the clash is gone',
    );
    const record = (await api.stacks())[f1];
    expect(record?.source).toBe('file');
    expect(record?.running?.version).toBe(before?.running?.version);
    expect(await runningContainers(f1)).toBe(1);
  });

  it('keeps an unreachable remote and its stacks while the others go on and prune', async () => {
    const { f1, f2, s1, s2 } = names;
    // s2 leaves ssh, but berth never sees it: the server stops first.
    const unseen = remotes.ssh.push({ [stackFile(s2)]: null }, 'ssh: s2 removed');
    await sshServer.stop();
    remotes.file.push({ [stackFile(f2)]: null }, 'file: f2 removed');

    await api.push({ repository: urls.ssh, commit: unseen });
    await waitFor(
      async () => (await api.sources()).ssh!.lastSync?.ok === false,
      15_000,
      'ssh failing',
    );
    await waitFor(
      async () => condition((await api.stacks())[f2], 'Ready') === 'False Pruned',
      15_000,
      'f2 pruned',
    );
    const failedAt = (await api.sources()).file!.lastSync!.at;
    await waitFor(
      async () => (await api.sources()).file!.lastSync!.at !== failedAt,
      15_000,
      'file syncing on',
    );

    const sources = await api.sources();
    expect(sources.ssh!.lastSync).toMatchObject({ ok: false, failures: 1 });
    expect(sources.ssh!.lastSync!.commit).not.toBe(unseen);
    expect(sources.file!.lastSync!.ok).toBe(true);
    expect(sources.http!.lastSync!.ok).toBe(true);
    const metrics = await api.metrics();
    expect(metrics).toContain('berth_source_up{source="ssh"} 0');
    expect(metrics).toContain('berth_source_up{source="file"} 1');
    expect(metrics).toContain('berth_source_up{source="http"} 1');
    await waitFor(
      () => sink.events.some((e) => e.event === 'source-failed'),
      10_000,
      'the source-failed notice',
    );
    const about = sink.events
      .filter((e) => e.event.startsWith('source-'))
      .map((e) => [e.event, e.sourceName]);
    expect(about).toEqual([['source-failed', 'ssh']]);

    // The unreachable source's stacks run on, s2 included; only file's removed stack is gone.
    const stacks = await api.stacks();
    expect(stacks[f2]?.running).toBeUndefined();
    expect(await runningContainers(f2)).toBe(0);
    expect(stacks[s2]?.source).toBe('ssh');
    expect(await runningContainers(s1)).toBe(1);
    expect(await runningContainers(s2)).toBe(1);
    expect(await runningContainers(f1)).toBe(1);
  });
});
