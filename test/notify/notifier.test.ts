import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NotificationEvent } from '../../src/notify/format.js';
import { createNotifier } from '../../src/notify/notifier.js';
import { NotifyConfig, type NotifyTarget } from '../../src/notify/schema.js';
import { captureLog } from '../server/capture-log.js';

interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const AT = '2026-03-01T12:00:00.000Z';
const NOW = Date.parse(AT);

/** A real HTTP receiver on 127.0.0.1: /fail/* answers 500, /slow/* never answers. */
let server: Server;
let base: string;
let received: Received[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      if (req.url?.startsWith('/slow/') === true) return;
      res.statusCode = req.url?.startsWith('/fail/') === true ? 500 : 200;
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received = [];
});

function targets(input: unknown[]): NotifyTarget[] {
  return NotifyConfig.parse(input);
}

function notifier(list: NotifyTarget[], timeoutMs?: number) {
  const log = captureLog();
  return {
    log,
    notifier: createNotifier({ targets: list, logger: log.logger, now: () => NOW, timeoutMs }),
  };
}

const failed: NotificationEvent = {
  event: 'deploy-failed',
  stack: 'web',
  version: '3f2a9c1b04de77aa',
  commit: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
  message: 'service api unhealthy after 30s',
  deploymentId: 7,
  trigger: 'webhook:github',
};

describe('payloads', () => {
  it('sends the event as JSON to a generic webhook, with its custom headers', async () => {
    const { notifier: n } = notifier(
      targets([{ type: 'webhook', url: `${base}/hook`, headers: { 'X-Team': 'platform' } }]),
    );
    await n.notify(failed);
    expect(received).toHaveLength(1);
    const [r] = received;
    expect(r!.method).toBe('POST');
    expect(r!.path).toBe('/hook');
    expect(r!.headers['content-type']).toBe('application/json');
    expect(r!.headers['x-team']).toBe('platform');
    expect(JSON.parse(r!.body)).toEqual({
      source: 'berth',
      event: 'deploy-failed',
      severity: 'error',
      stack: 'web',
      version: '3f2a9c1b04de77aa',
      commit: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
      message: 'service api unhealthy after 30s',
      title: 'web: deploy of 3f2a9c1b04de failed',
      deploymentId: 7,
      trigger: 'webhook:github',
      at: AT,
    });
  });

  it('sends {text} to Slack and Mattermost and {content} to Discord', async () => {
    const { notifier: n } = notifier(
      targets([
        { type: 'slack', url: `${base}/slack/T000/B000/XXXX` },
        { type: 'mattermost', url: `${base}/mm/hooks/abc` },
        { type: 'discord', url: `${base}/discord/api/webhooks/1/tok` },
      ]),
    );
    await n.notify({
      event: 'deploy-succeeded',
      stack: 'web',
      version: 'abc123',
      commit: 'c0ffee',
      message: 'deployed in 12s',
    });
    const byPath = new Map(received.map((r) => [r.path.split('/')[1] ?? '', r]));
    const text = '*web: deployed abc123*\ndeployed in 12s\ncommit c0ffee';
    expect(JSON.parse(byPath.get('slack')!.body)).toEqual({ text });
    expect(JSON.parse(byPath.get('mm')!.body)).toEqual({ text });
    expect(JSON.parse(byPath.get('discord')!.body)).toEqual({
      content: '**web: deployed abc123**\ndeployed in 12s\ncommit c0ffee',
    });
    for (const r of received) expect(r.headers['content-type']).toBe('application/json');
  });

  it('truncates Discord content to 2000 characters', async () => {
    const { notifier: n } = notifier(targets([{ type: 'discord', url: `${base}/discord` }]));
    await n.notify({ event: 'broken', stack: 'db', message: 'x'.repeat(5000) });
    const content = (JSON.parse(received[0]!.body) as { content: string }).content;
    expect(content).toHaveLength(2000);
    expect(content.startsWith('**db: broken**\n')).toBe(true);
  });

  it('posts text to ntfy at url/topic with Title, Tags, Priority and the bearer token', async () => {
    const { notifier: n } = notifier(
      targets([
        { type: 'ntfy', url: `${base}/ntfy/`, topic: 'berth-alerts', token: 'tk_ntfy_secret_1' },
      ]),
    );
    await n.notify({
      event: 'rolled-back',
      stack: 'web',
      version: 'v9',
      message: 'rolled back to v8',
    });
    await n.notify({ event: 'broken', stack: 'db', message: 'db is down' });
    expect(received.map((r) => r.path)).toEqual(['/ntfy/berth-alerts', '/ntfy/berth-alerts']);
    const [a, b] = received;
    expect(a!.body).toBe('rolled back to v8');
    expect(a!.headers.title).toBe('web: rolled back from v9');
    expect(a!.headers.tags).toBe('rewind');
    expect(a!.headers.priority).toBe('4');
    expect(a!.headers.authorization).toBe('Bearer tk_ntfy_secret_1');
    expect(a!.headers['content-type']).toContain('text/plain');
    expect(b!.headers.title).toBe('db: broken');
    expect(b!.headers.priority).toBe('5');
    expect(b!.headers.tags).toBe('rotating_light');
  });

  it('keeps ntfy titles ASCII', async () => {
    const { notifier: n } = notifier(targets([{ type: 'ntfy', url: base, topic: 't' }]));
    await n.notify({ event: 'marked-bad', stack: 'web', version: 'vé', message: 'bad ✗' });
    expect(received[0]!.headers.title).toBe('web: version v? marked bad');
    expect(received[0]!.body).toBe('bad ✗');
    expect(received[0]!.headers.authorization).toBeUndefined();
  });

  it('sends only the events a target asks for', async () => {
    const { notifier: n } = notifier(
      targets([
        { type: 'webhook', url: `${base}/all` },
        { type: 'webhook', url: `${base}/failures`, events: ['deploy-failed', 'broken'] },
      ]),
    );
    await n.notify({ event: 'deploy-succeeded', stack: 'web', message: 'ok' });
    await n.notify({ event: 'broken', stack: 'web', message: 'down' });
    expect(
      received.map((r) => `${r.path} ${(JSON.parse(r.body) as { event: string }).event}`).sort(),
    ).toEqual(['/all broken', '/all deploy-succeeded', '/failures broken']);
  });
});

describe('dedupe', () => {
  it('sends an identical failure once, until the stack recovers', async () => {
    const { notifier: n } = notifier(targets([{ type: 'webhook', url: `${base}/d` }]));
    await n.notify(failed);
    await n.notify(failed);
    await n.notify({ ...failed, event: 'rolled-back', message: 'rolled back to v1' });
    await n.notify(failed);
    await n.notify({ ...failed, event: 'rolled-back', message: 'rolled back to v1' });
    // Another stack and another message are different failures.
    await n.notify({ ...failed, stack: 'api' });
    await n.notify({ ...failed, message: 'hook failed' });
    await n.notify({ ...failed, version: 'other' });
    const events = (): string[] =>
      received.map((r) => {
        const p = JSON.parse(r.body) as {
          stack: string;
          event: string;
          message: string;
          version: string;
        };
        return `${p.stack} ${p.event} ${p.version} ${p.message}`;
      });
    expect(events()).toEqual([
      'web deploy-failed 3f2a9c1b04de77aa service api unhealthy after 30s',
      'web rolled-back 3f2a9c1b04de77aa rolled back to v1',
      'api deploy-failed 3f2a9c1b04de77aa service api unhealthy after 30s',
      'web deploy-failed 3f2a9c1b04de77aa hook failed',
      'web deploy-failed other service api unhealthy after 30s',
    ]);

    received = [];
    await n.notify({ event: 'deploy-succeeded', stack: 'web', version: 'v2', message: 'deployed' });
    await n.notify({ event: 'deploy-succeeded', stack: 'web', version: 'v2', message: 'deployed' });
    await n.notify(failed);
    await n.notify(failed);
    // api did not recover: its repeat stays quiet.
    await n.notify({ ...failed, stack: 'api' });
    expect(events()).toEqual([
      'web deploy-succeeded v2 deployed',
      'web deploy-succeeded v2 deployed',
      'web deploy-failed 3f2a9c1b04de77aa service api unhealthy after 30s',
    ]);
  });

  it('sends broken again after healed', async () => {
    const { notifier: n } = notifier(targets([{ type: 'discord', url: `${base}/d` }]));
    for (const event of ['broken', 'broken', 'healed', 'broken', 'broken'] as const) {
      await n.notify({ event, stack: 'db', message: 'm' });
    }
    expect(
      received.map((r) => (JSON.parse(r.body) as { content: string }).content.split('\n')[0]),
    ).toEqual(['**db: broken**', '**db: healthy again**', '**db: broken**']);
  });
});

describe('source events', () => {
  it('names the source in the title and the JSON, without the credentials of a URL', async () => {
    const { notifier: n } = notifier(
      targets([
        { type: 'webhook', url: `${base}/hook` },
        { type: 'slack', url: `${base}/slack/T0/B0/X` },
      ]),
    );
    await n.notify({
      event: 'source-failed',
      source: 'apps',
      message:
        "git fetch failed: unable to access 'https://x-access-token:ghp_s3cr3t@github.com/acme/apps.git/'",
    });
    expect(received).toHaveLength(2);
    for (const r of received) expect(r.body).not.toContain('ghp_s3cr3t');
    const hook = received.find((r) => r.path === '/hook')!;
    expect(JSON.parse(hook.body)).toMatchObject({
      source: 'berth',
      event: 'source-failed',
      severity: 'error',
      sourceName: 'apps',
      title: 'source apps: sync failed',
      message: "git fetch failed: unable to access 'https://github.com/acme/apps.git/'",
    });
    const slack = received.find((r) => r.path.startsWith('/slack'))!;
    expect(JSON.parse(slack.body)).toEqual({
      text: "*source apps: sync failed*\ngit fetch failed: unable to access 'https://github.com/acme/apps.git/'",
    });
  });

  it('says which source a stack comes from', async () => {
    const { notifier: n } = notifier(targets([{ type: 'slack', url: `${base}/slack` }]));
    await n.notify({ ...failed, source: 'apps' });
    expect((JSON.parse(received[0]!.body) as { text: string }).text).toContain('\nsource apps');
  });

  it('dedupes a repeated source failure per source, until that source recovers', async () => {
    const { notifier: n } = notifier(targets([{ type: 'webhook', url: `${base}/hook` }]));
    const fail = (source: string) =>
      n.notify({ event: 'source-failed', source, message: 'host unreachable' });
    await fail('apps');
    await fail('apps');
    await fail('infra');
    await n.notify({ event: 'source-recovered', source: 'apps', message: 'synced again' });
    await fail('apps');
    await fail('infra');
    const sent = received.map((r) => {
      const body = JSON.parse(r.body) as { event: string; sourceName: string };
      return `${body.event} ${body.sourceName}`;
    });
    expect(sent).toEqual([
      'source-failed apps',
      'source-failed infra',
      'source-recovered apps',
      'source-failed apps',
    ]);
  });
});

describe('failures', () => {
  it('logs a rejected or unreachable or slow target, never throws, and still serves the others', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const { notifier: n, log } = notifier(
      targets([
        { type: 'slack', url: `${base}/fail/T0/B0/slack-secret-path` },
        { type: 'discord', url: `http://127.0.0.1:${deadPort}/api/webhooks/1/discord-secret-path` },
        { type: 'webhook', url: `${base}/slow/x`, timeout: '200ms' },
        { type: 'ntfy', url: `${base}/fail`, topic: 'topic', token: 'tk_ntfy_secret_2' },
        { type: 'webhook', url: `${base}/ok` },
      ]),
      5000,
    );
    const started = Date.now();
    await expect(n.notify(failed)).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(4000);
    expect(received.map((r) => r.path).sort()).toEqual([
      '/fail/T0/B0/slack-secret-path',
      '/fail/topic',
      '/ok',
      '/slow/x',
    ]);

    const warnings = log.records().filter((r) => r.level === 40);
    expect(warnings.map((r) => [r.msg, r.target]).sort()).toEqual(
      [
        ['notification rejected', 'slack#0@' + base.slice(7)],
        ['notification failed', `discord#1@127.0.0.1:${deadPort}`],
        ['notification failed', 'webhook#2@' + base.slice(7)],
        ['notification rejected', 'ntfy#3@' + base.slice(7)],
      ].sort(),
    );
    const text = log.text();
    for (const secret of [
      'slack-secret-path',
      'discord-secret-path',
      'tk_ntfy_secret_2',
      '/slow/x',
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('NotifyConfig', () => {
  it('defaults to no targets and rejects malformed ones', () => {
    expect(NotifyConfig.parse(undefined)).toEqual([]);
    const bad: unknown[] = [
      [{ type: 'pager', url: base }],
      [{ type: 'slack' }],
      [{ type: 'slack', url: 'ftp://example.org/x' }],
      [{ type: 'webhook', url: base, events: ['exploded'] }],
      [{ type: 'webhook', url: base, extra: 1 }],
      [{ type: 'ntfy', url: base }],
      [{ type: 'ntfy', url: base, topic: 'a b' }],
      [{ type: 'ntfy', url: base, topic: 't', token: 'a', tokenFile: 'b' }],
      [{ type: 'discord', url: base, timeout: 'soon' }],
    ];
    for (const input of bad)
      expect(NotifyConfig.safeParse(input).success, JSON.stringify(input)).toBe(false);
  });
});
