import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/log.js';
import { commit, createFixture, git, type Fixture } from '../source/git/git-fixture.js';
import { DaemonApi } from '../helpers/daemon-api.js';

const TOKEN = `token-${randomBytes(12).toString('hex')}`;
const SECRET = `secret-${randomBytes(12).toString('hex')}`;

/** Polls `check` every 100 ms until it holds or `ms` pass. */
async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * A daemon with three real git sources (file://): `fast` syncs every second, `left` and
 * `pushed` only yearly, so only a webhook makes them fetch.
 */
describe('the daemon with several sources (real git)', { timeout: 120_000 }, () => {
  const fixtures: Record<'fast' | 'left' | 'pushed', Fixture> = {
    fast: createFixture('berth-dsrc-fast-'),
    left: createFixture('berth-dsrc-left-'),
    pushed: createFixture('berth-dsrc-pushed-'),
  };
  const root = mkdtempSync(path.join(tmpdir(), 'berth-dsrc-'));
  const notices: { event: string; sourceName?: string; message: string }[] = [];
  let receiver: Server;
  let daemon: Daemon;
  let api: DaemonApi;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        notices.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as (typeof notices)[0]);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const source = (name: keyof typeof fixtures, schedule?: string): string =>
      [
        `  - name: ${name}`,
        `    git: { url: "${fixtures[name].url}" }`,
        // No stack folders: the test is about syncing, not deploying.
        '    paths: ["none/*"]',
        ...(schedule === undefined ? [] : [`    schedule: "${schedule}"`]),
      ].join('\n');
    const file = path.join(root, 'berth.yaml');
    writeFileSync(
      file,
      [
        `dataDir: ${path.join(root, 'data')}`,
        'schedule: "0 0 1 1 *"',
        'sources:',
        source('fast', '* * * * * *'),
        source('left'),
        source('pushed'),
        'server:',
        '  listen: 127.0.0.1:0',
        `  tokens: [{ name: t, token: ${TOKEN} }]`,
        `  webhooks: { generic: { secret: ${SECRET} } }`,
        `notify: [{ type: webhook, url: "${hook}" }]`,
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
    receiver?.closeAllConnections();
    await new Promise<void>((resolve) => receiver?.close(() => resolve()));
    for (const f of Object.values(fixtures)) f.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  const sources = (): ReturnType<DaemonApi['sources']> => api.sources();

  /** A new commit pushed to the source's remote. */
  function push(name: keyof typeof fixtures): string {
    const { work } = fixtures[name];
    const sha = commit(work, { [`n-${randomBytes(4).toString('hex')}`]: 'x' }, 'next');
    git(work, 'push', '--quiet', 'origin', 'main');
    return sha;
  }

  it('syncs every source at startup', async () => {
    const listed = await sources();
    expect(Object.keys(listed)).toEqual(['fast', 'left', 'pushed']);
    for (const view of Object.values(listed)) expect(view.lastSync?.ok).toBe(true);
    expect(listed.fast!.schedule).toBe('* * * * * *');
    expect(listed.left!.schedule).toBe('0 0 1 1 *');
  });

  it('syncs each source on its own schedule', async () => {
    const before = await sources();
    await until('a scheduled sync of fast', async () => {
      const now = await sources();
      return now.fast!.lastSync!.at !== before.fast!.lastSync!.at;
    });
    const after = await sources();
    expect(after.left!.lastSync).toEqual(before.left!.lastSync);
    expect(after.pushed!.lastSync).toEqual(before.pushed!.lastSync);
  });

  it('fetches only the source a webhook names', async () => {
    const leftBefore = (await sources()).left!.lastSync;
    push('left');
    const pushed = push('pushed');
    expect(await api.push({ repository: fixtures.pushed.url, commit: pushed })).toEqual({
      status: 202,
      body: { accepted: true, sources: ['pushed'] },
    });
    await until(
      'the pushed commit',
      async () => (await sources()).pushed!.lastSync?.commit === pushed,
    );
    // A few scheduled syncs of `fast` later, `left` still has not fetched its new commit.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await sources()).left!.lastSync).toEqual(leftBefore);

    expect(await api.push({ repository: 'file:///nowhere/else.git' })).toEqual({
      status: 202,
      body: { ignored: 'no source follows /nowhere/else' },
    });
  });

  it('reports a source that cannot be reached once, per source, and its recovery', async () => {
    const bare = fixtures.fast.bare;
    renameSync(bare, `${bare}.away`);
    await until('fast failing', async () => ((await sources()).fast!.lastSync?.failures ?? 0) >= 3);
    const metrics = await api.metrics();
    expect(metrics).toContain('berth_source_up{source="fast"} 0');
    expect(metrics).toContain('berth_source_up{source="left"} 1');
    expect(metrics).toMatch(/berth_source_sync_failures_total\{source="fast"\} [3-9]/);
    const listed = await sources();
    expect(listed.fast!.lastSync).toMatchObject({ ok: false, error: { reason: 'FetchFailed' } });
    expect(listed.left!.lastSync?.ok).toBe(true);

    renameSync(`${bare}.away`, bare);
    await until('fast synced again', async () => (await sources()).fast!.lastSync?.ok === true);
    await until('the recovery notice', () =>
      Promise.resolve(notices.some((n) => n.event === 'source-recovered')),
    );
    const about = notices
      .filter((n) => n.event.startsWith('source-'))
      .map((n) => `${n.event} ${n.sourceName ?? ''}`);
    expect(about).toEqual(['source-failed fast', 'source-recovered fast']);
  });
});
