import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import { createServerApp, refIsTracked } from '../../src/server/app.js';
import type { TrackedRef } from '../../src/server/control.js';
import { createMetrics } from '../../src/server/metrics.js';
import { createDeliveryLog, DELIVERY_LOG_CAPACITY } from '../../src/server/replay.js';
import { versionByPrefix } from '../../src/reconciler/rollback.js';
import type { ResolvedServerConfig, WebhookProvider } from '../../src/server/schema.js';
import { captureLog } from './capture-log.js';
import { createFakeControl } from './fake-control.js';

const SECRETS: Record<WebhookProvider, string> = {
  github: 'gh-secret-7f3a91c2d4',
  gitlab: 'gl-secret-0b8e55a1f6',
  gitea: 'gt-secret-c19d2e7b30',
  generic: 'gen-secret-5a4e8d2c11',
};
const TOKENS = [
  { name: 'ci', token: 'ci-token-3b9f1e7a5c2d8046' },
  { name: 'ops', token: 'ops-token-e1d0c4b7a9f28365' },
];
const COMMIT = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
const ZERO = '0000000000000000000000000000000000000000';

function setup(
  options: {
    tracked?: TrackedRef;
    webhooks?: ResolvedServerConfig['webhooks'];
    bodyLimitBytes?: number;
  } = {},
) {
  const log = captureLog();
  const control = createFakeControl(options.tracked);
  const metrics = createMetrics();
  const webhooks =
    options.webhooks ??
    Object.fromEntries(Object.entries(SECRETS).map(([k, secret]) => [k, { secret }]));
  const app = createServerApp({
    control,
    metrics,
    logger: log.logger,
    config: { listen: '127.0.0.1:0', tokens: TOKENS, webhooks },
    bodyLimitBytes: options.bodyLimitBytes ?? 4096,
  });
  return { app, control, metrics, log };
}

function hmac(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

type Auth = 'valid' | 'wrong' | 'missing';

interface ProviderCase {
  provider: WebhookProvider;
  /** A push payload for `ref`. */
  push(ref: string, after?: string): string;
  headers(body: string, auth: Auth, event?: string): Record<string, string>;
  pushEvent?: string;
  tagEvent?: string;
  otherEvent?: string;
}

function hmacHeader(
  name: string,
  prefix: string,
  secret: string,
): (body: string, auth: Auth) => Record<string, string> {
  return (body, auth) => {
    if (auth === 'missing') return {};
    const key = auth === 'valid' ? secret : `${secret}-wrong`;
    return { [name]: `${prefix}${hmac(key, body)}` };
  };
}

const CASES: ProviderCase[] = [
  {
    provider: 'github',
    push: (ref, after = COMMIT) =>
      JSON.stringify({ ref, after, deleted: after === ZERO, repository: { id: 1 } }),
    headers: (body, auth, event = 'push') => ({
      'content-type': 'application/json',
      'x-github-event': event,
      ...hmacHeader('x-hub-signature-256', 'sha256=', SECRETS.github)(body, auth),
    }),
    pushEvent: 'push',
    tagEvent: 'push',
    otherEvent: 'issues',
  },
  {
    provider: 'gitlab',
    push: (ref, after = COMMIT) =>
      JSON.stringify({
        object_kind: 'push',
        ref,
        after,
        checkout_sha: after === ZERO ? null : after,
      }),
    headers: (_body, auth, event = 'Push Hook') => ({
      'content-type': 'application/json',
      'x-gitlab-event': event,
      ...(auth === 'missing'
        ? {}
        : { 'x-gitlab-token': auth === 'valid' ? SECRETS.gitlab : `${SECRETS.gitlab}x` }),
    }),
    pushEvent: 'Push Hook',
    tagEvent: 'Tag Push Hook',
    otherEvent: 'Merge Request Hook',
  },
  {
    provider: 'gitea',
    push: (ref, after = COMMIT) => JSON.stringify({ ref, after, before: ZERO }),
    headers: (body, auth, event = 'push') => ({
      'content-type': 'application/json',
      'x-gitea-event': event,
      ...hmacHeader('x-gitea-signature', '', SECRETS.gitea)(body, auth),
    }),
    pushEvent: 'push',
    tagEvent: 'push',
    otherEvent: 'pull_request',
  },
  {
    provider: 'generic',
    push: (ref, after = COMMIT) => JSON.stringify({ ref, commit: after }),
    headers: (body, auth) => ({
      'content-type': 'application/json',
      ...hmacHeader('x-berth-signature', 'sha256=', SECRETS.generic)(body, auth),
    }),
  },
];

function post(
  app: ReturnType<typeof setup>['app'],
  path: string,
  body: string,
  headers: Record<string, string>,
): Promise<Response> {
  return Promise.resolve(app.request(path, { method: 'POST', body, headers }));
}

describe.each(CASES)('POST /webhooks/$provider', (c) => {
  const path = `/webhooks/${c.provider}`;

  it('answers a signed push to the tracked branch with 202 and requests a sync', async () => {
    const { app, control, metrics } = setup();
    const body = c.push('refs/heads/main');
    const res = await post(app, path, body, c.headers(body, 'valid', c.pushEvent));
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: true, sources: ['default'] });
    expect(control.calls).toEqual([
      {
        method: 'requestSync',
        trigger: {
          by: `webhook:${c.provider}`,
          ref: 'refs/heads/main',
          commit: COMMIT,
          source: 'default',
        },
        sources: ['default'],
      },
    ]);
    expect(await metrics.render()).toContain(
      `berth_webhook_requests_total{provider="${c.provider}",result="accepted"} 1`,
    );
  });

  it('answers a wrong signature with 401 and triggers nothing', async () => {
    const { app, control, metrics } = setup();
    const body = c.push('refs/heads/main');
    const res = await post(app, path, body, c.headers(body, 'wrong', c.pushEvent));
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { reason: string } }).error.reason).toBe('Unauthorized');
    expect(control.calls).toEqual([]);
    expect(await metrics.render()).toContain(
      `berth_webhook_requests_total{provider="${c.provider}",result="unauthorized"} 1`,
    );
  });

  it('answers a missing signature with 401 and triggers nothing', async () => {
    const { app, control } = setup();
    const body = c.push('refs/heads/main');
    const res = await post(app, path, body, c.headers(body, 'missing', c.pushEvent));
    expect(res.status).toBe(401);
    expect(control.calls).toEqual([]);
  });

  it('rejects a signature of a different body', async () => {
    const { app, control } = setup();
    const signed = c.push('refs/heads/main');
    const sent = c.push('refs/heads/main', 'f'.repeat(40));
    const res = await post(app, path, sent, c.headers(signed, 'valid', c.pushEvent));
    // GitLab sends a shared token, not a signature of the body, so it cannot tell.
    expect(res.status).toBe(c.provider === 'gitlab' ? 202 : 401);
    expect(control.calls).toHaveLength(c.provider === 'gitlab' ? 1 : 0);
  });

  it('acknowledges a push to another branch and ignores it', async () => {
    const { app, control, metrics } = setup();
    const body = c.push('refs/heads/feature-x');
    const res = await post(app, path, body, c.headers(body, 'valid', c.pushEvent));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ignored: true, reason: 'ref not tracked' });
    expect(control.calls).toEqual([]);
    expect(await metrics.render()).toContain(
      `berth_webhook_requests_total{provider="${c.provider}",result="ignored"} 1`,
    );
  });

  it('answers a body over the limit with 413 and triggers nothing', async () => {
    const { app, control, metrics } = setup({ bodyLimitBytes: 1024 });
    const body = JSON.stringify({ ref: 'refs/heads/main', after: COMMIT, pad: 'x'.repeat(2048) });
    const res = await post(app, path, body, c.headers(body, 'valid', c.pushEvent));
    expect(res.status).toBe(413);
    expect(control.calls).toEqual([]);
    expect(await metrics.render()).toContain(
      `berth_webhook_requests_total{provider="${c.provider}",result="too-large"} 1`,
    );
  });

  it('answers a signed but malformed payload with 400', async () => {
    const { app, control } = setup();
    const body = '{"ref": 42';
    const res = await post(app, path, body, c.headers(body, 'valid', c.pushEvent));
    expect(res.status).toBe(400);
    expect(control.calls).toEqual([]);
  });

  it('answers 404 and triggers nothing when the provider has no secret configured', async () => {
    const { app, control, metrics } = setup({ webhooks: {} });
    const body = c.push('refs/heads/main');
    const res = await post(app, path, body, c.headers(body, 'valid', c.pushEvent));
    expect(res.status).toBe(404);
    expect(control.calls).toEqual([]);
    expect(await metrics.render()).toContain(
      `berth_webhook_requests_total{provider="${c.provider}",result="disabled"} 1`,
    );
  });

  if (c.otherEvent !== undefined) {
    it('acknowledges non-push events and ignores them', async () => {
      const { app, control } = setup();
      const body = JSON.stringify({ action: 'opened' });
      const res = await post(app, path, body, c.headers(body, 'valid', c.otherEvent));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ ignored: true });
      expect(control.calls).toEqual([]);
    });

    it('still checks the signature of non-push events', async () => {
      const { app } = setup();
      const body = JSON.stringify({ action: 'opened' });
      const res = await post(app, path, body, c.headers(body, 'wrong', c.otherEvent));
      expect(res.status).toBe(401);
    });

    it('ignores the deletion of the tracked branch', async () => {
      const { app, control } = setup();
      const body = c.push('refs/heads/main', ZERO);
      const res = await post(app, path, body, c.headers(body, 'valid', c.pushEvent));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ ignored: true, reason: 'ref deleted' });
      expect(control.calls).toEqual([]);
    });
  }

  it('starts a sync for a tag push when a tag is tracked, ignores it when a branch is', async () => {
    const tagged = setup({ tracked: { tag: 'v*' } });
    const body = c.push('refs/tags/v1.2.0');
    const res = await post(tagged.app, path, body, c.headers(body, 'valid', c.tagEvent));
    expect(res.status).toBe(202);
    expect(tagged.control.calls[0]?.trigger?.ref).toBe('refs/tags/v1.2.0');

    const branch = setup({ tracked: { branch: 'main' } });
    const res2 = await post(branch.app, path, body, c.headers(body, 'valid', c.tagEvent));
    expect(res2.status).toBe(200);
    expect(branch.control.calls).toEqual([]);
  });
});

describe('webhook specifics', () => {
  it('answers a signed GitHub ping with 200 without a sync', async () => {
    const { app, control, metrics } = setup();
    const body = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
    const res = await post(app, '/webhooks/github', body, CASES[0]!.headers(body, 'valid', 'ping'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, event: 'ping' });
    expect(control.calls).toEqual([]);
    expect(await metrics.render()).toContain(
      'berth_webhook_requests_total{provider="github",result="ping"} 1',
    );
  });

  it('rejects an unsigned GitHub ping', async () => {
    const { app } = setup();
    const res = await post(app, '/webhooks/github', '{}', { 'x-github-event': 'ping' });
    expect(res.status).toBe(401);
  });

  it('accepts a generic webhook with an empty body as a sync of whatever is tracked', async () => {
    const { app, control } = setup();
    const res = await post(app, '/webhooks/generic', '', {
      'x-berth-signature': `sha256=${hmac(SECRETS.generic, '')}`,
    });
    expect(res.status).toBe(202);
    expect(control.calls).toEqual([
      {
        method: 'requestSync',
        trigger: { by: 'webhook:generic', source: 'default' },
        sources: ['default'],
      },
    ]);
  });

  it('accepts an upper-case hex signature and rejects a truncated one', async () => {
    const { app, control } = setup();
    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const sig = hmac(SECRETS.generic, body);
    const ok = await post(app, '/webhooks/generic', body, {
      'x-berth-signature': `sha256=${sig.toUpperCase()}`,
    });
    expect(ok.status).toBe(202);
    const short = await post(app, '/webhooks/generic', body, {
      'x-berth-signature': `sha256=${sig.slice(0, 32)}`,
    });
    expect(short.status).toBe(401);
    expect(control.calls).toHaveLength(1);
  });

  it('rejects a GitHub signature without the sha256= prefix', async () => {
    const { app, control } = setup();
    const body = CASES[0]!.push('refs/heads/main');
    const res = await post(app, '/webhooks/github', body, {
      'x-github-event': 'push',
      'x-hub-signature-256': hmac(SECRETS.github, body),
    });
    expect(res.status).toBe(401);
    expect(control.calls).toEqual([]);
  });

  it('uses the pushed commit of a GitLab push (checkout_sha)', async () => {
    const { app, control } = setup();
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      after: 'a'.repeat(40),
      checkout_sha: 'b'.repeat(40),
    });
    const res = await post(app, '/webhooks/gitlab', body, CASES[1]!.headers(body, 'valid'));
    expect(res.status).toBe(202);
    expect(control.calls[0]?.trigger?.commit).toBe('b'.repeat(40));
  });

  it('answers 404 on GET of a webhook path', async () => {
    const { app } = setup();
    const res = await app.request('/webhooks/github');
    expect(res.status).toBe(404);
  });
});

describe('refIsTracked', () => {
  it('matches the tracked branch, full or short, and nothing else', () => {
    expect(refIsTracked('refs/heads/main', { branch: 'main' })).toBe(true);
    expect(refIsTracked('main', { branch: 'main' })).toBe(true);
    expect(refIsTracked('refs/heads/mainline', { branch: 'main' })).toBe(false);
    expect(refIsTracked('refs/tags/main', { branch: 'main' })).toBe(false);
  });

  it('takes every tag push when a tag is tracked, and everything when nothing is known', () => {
    expect(refIsTracked('refs/tags/v2', { tag: '^1' })).toBe(true);
    expect(refIsTracked('refs/heads/main', { tag: '^1' })).toBe(false);
    expect(refIsTracked('refs/heads/any', {})).toBe(true);
    expect(refIsTracked(undefined, { branch: 'main' })).toBe(true);
  });
});

describe('/api/v1', () => {
  const auth = (token = TOKENS[0]!.token): Record<string, string> => ({
    authorization: `Bearer ${token}`,
  });

  it('answers 401 without a token, with a wrong one and with another scheme', async () => {
    const { app, control } = setup();
    for (const headers of [
      {},
      auth('ci-token-3b9f1e7a5c2d804'),
      auth(`${TOKENS[0]!.token}0`),
      { authorization: `Basic ${Buffer.from(`ci:${TOKENS[0]!.token}`).toString('base64')}` },
      { authorization: TOKENS[0]!.token },
    ]) {
      for (const [method, path] of [
        ['GET', '/api/v1/stacks'],
        ['POST', '/api/v1/sync'],
        ['POST', '/api/v1/stacks/web/deploy'],
      ] as const) {
        const res = await app.request(path, { method, headers });
        expect(res.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toContain('Bearer');
        expect(((await res.json()) as { error: { reason: string } }).error.reason).toBe(
          'Unauthorized',
        );
      }
    }
    expect(control.calls).toEqual([]);
  });

  it('answers 401 to every token when none are configured', async () => {
    const log = captureLog();
    const app = createServerApp({
      control: createFakeControl(),
      metrics: createMetrics(),
      logger: log.logger,
      config: { listen: '127.0.0.1:0', tokens: [], webhooks: {} },
    });
    const res = await app.request('/api/v1/stacks', { headers: { authorization: 'Bearer x' } });
    expect(res.status).toBe(401);
  });

  it('lists stacks and shows one', async () => {
    const { app } = setup();
    const list = await app.request('/api/v1/stacks', { headers: auth() });
    expect(list.status).toBe(200);
    const body = (await list.json()) as { stacks: { name: string }[] };
    expect(body.stacks.map((s) => s.name)).toEqual(['web', 'db']);

    const one = await app.request('/api/v1/stacks/db', { headers: auth() });
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ stack: { name: 'db', health: 'unhealthy' } });

    const missing = await app.request('/api/v1/stacks/nope', { headers: auth() });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { reason: 'StackNotFound' } });
  });

  it('shows deployments and health history with a default and a given limit', async () => {
    const { app, control } = setup();
    const deps = await app.request('/api/v1/stacks/web/deployments', { headers: auth() });
    expect(((await deps.json()) as { deployments: unknown[] }).deployments).toHaveLength(20);
    const five = await app.request('/api/v1/stacks/web/deployments?limit=5', { headers: auth() });
    expect(
      ((await five.json()) as { deployments: { id: number }[] }).deployments.map((d) => d.id),
    ).toEqual([30, 29, 28, 27, 26]);
    const health = await app.request('/api/v1/stacks/web/health', { headers: auth() });
    expect(((await health.json()) as { health: unknown[] }).health).toHaveLength(50);
    const three = await app.request('/api/v1/stacks/web/health?limit=3', { headers: auth() });
    expect(((await three.json()) as { health: unknown[] }).health).toHaveLength(3);
    expect(control.calls.map((c) => [c.method, c.limit])).toEqual([
      ['deployments', 20],
      ['deployments', 5],
      ['health', 50],
      ['health', 3],
    ]);
  });

  it('rejects a bad limit and an unknown stack in history routes', async () => {
    const { app, control } = setup();
    for (const q of ['0', '-1', 'abc', '1.5', '5000']) {
      const res = await app.request(`/api/v1/stacks/web/deployments?limit=${q}`, {
        headers: auth(),
      });
      expect(res.status, q).toBe(400);
    }
    const res = await app.request('/api/v1/stacks/nope/health', { headers: auth() });
    expect(res.status).toBe(404);
    expect(control.calls).toEqual([]);
  });

  it('requests a sync with the token name as trigger', async () => {
    const { app, control } = setup();
    const res = await app.request('/api/v1/sync', { method: 'POST', headers: auth() });
    expect(res.status).toBe(202);
    const res2 = await app.request('/api/v1/sync', {
      method: 'POST',
      headers: auth(TOKENS[1]!.token),
    });
    expect(res2.status).toBe(202);
    expect(control.calls).toEqual([
      { method: 'requestSync', trigger: { by: 'api:ci' } },
      { method: 'requestSync', trigger: { by: 'api:ops' } },
    ]);
  });

  it('deploys a stack and returns the outcome', async () => {
    const { app, control } = setup();
    const res = await app.request('/api/v1/stacks/web/deploy', { method: 'POST', headers: auth() });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      outcome: {
        stack: 'web',
        outcome: 'done',
        result: 'deployed',
        message: 'deployed web',
        version: 'v2',
        deploymentId: 31,
      },
    });
    expect(control.calls).toEqual([{ method: 'deploy', stack: 'web', trigger: { by: 'api:ci' } }]);

    const missing = await app.request('/api/v1/stacks/nope/deploy', {
      method: 'POST',
      headers: auth(),
    });
    expect(missing.status).toBe(404);
    expect(control.calls).toHaveLength(1);
  });

  it('maps BerthError reasons to statuses and hides other errors', async () => {
    const { app, control, log } = setup();
    control.deployError = new BerthError('NoGoodVersion', 'web has no good version');
    const busy = await app.request('/api/v1/stacks/web/deploy', {
      method: 'POST',
      headers: auth(),
    });
    expect(busy.status).toBe(409);
    expect(await busy.json()).toEqual({
      error: { reason: 'NoGoodVersion', message: 'web has no good version' },
    });

    control.deployError = new Error('sqlite exploded at /var/lib/berth/berth.db');
    const boom = await app.request('/api/v1/stacks/web/deploy', {
      method: 'POST',
      headers: auth(),
    });
    expect(boom.status).toBe(500);
    expect(await boom.json()).toEqual({
      error: { reason: 'InternalError', message: 'internal error' },
    });
    expect(log.records().some((r) => r.msg === 'request failed')).toBe(true);
  });

  it('rolls back, to the good version or to a given one', async () => {
    const { app, control } = setup();
    const good = await app.request('/api/v1/stacks/web/rollback', {
      method: 'POST',
      headers: auth(),
    });
    expect(good.status).toBe(200);
    expect(await good.json()).toMatchObject({ outcome: { result: 'rolled-back' } });
    const to = await app.request('/api/v1/stacks/web/rollback', {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'v7' }),
    });
    expect(to.status).toBe(200);
    expect(control.calls).toEqual([
      { method: 'rollback', stack: 'web', trigger: { by: 'api:ci' }, to: undefined },
      { method: 'rollback', stack: 'web', trigger: { by: 'api:ci' }, to: 'v7' },
    ]);
    const unknown = await app.request('/api/v1/stacks/web/rollback', {
      method: 'POST',
      headers: auth(),
      body: JSON.stringify({ to: 'nope' }),
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { reason: 'VersionNotFound' } });
  });

  it('answers a short --to prefix with 400 and an ambiguous one with 409, listing candidates', async () => {
    const { app, control } = setup();
    const history = [
      { version: `abcdef01${'1'.repeat(56)}`, commit: 'c'.repeat(40) },
      { version: `abcdef01${'2'.repeat(56)}`, commit: 'd'.repeat(40) },
    ].map((v, i) => ({
      ...v,
      id: i + 1,
      stack: 'web',
      method: 'simple',
      state: 'DONE' as const,
      trigger: 'test',
      startedAt: '2026-01-01T00:00:00.000Z',
    }));
    const rollback = (to: string): Promise<Response> =>
      Promise.resolve(
        app.request('/api/v1/stacks/web/rollback', {
          method: 'POST',
          headers: auth(),
          body: JSON.stringify({ to }),
        }),
      );
    for (const [to, status, reason] of [
      ['abc', 400, 'VersionPrefixInvalid'],
      ['abcdef0', 409, 'VersionAmbiguous'],
    ] as const) {
      try {
        versionByPrefix(history, 'web', to);
      } catch (err) {
        control.rollbackError = err as Error;
      }
      const res = await rollback(to);
      expect(res.status, to).toBe(status);
      const body = (await res.json()) as { error: { reason: string; message: string } };
      expect(body.error.reason).toBe(reason);
      if (reason === 'VersionAmbiguous') {
        expect(body.error.message).toContain('abcdef011111 (commit cccccccccccc');
        expect(body.error.message).toContain('abcdef012222 (commit dddddddddddd');
      }
    }
  });

  it('rejects a malformed rollback body without calling the daemon', async () => {
    const { app, control } = setup();
    for (const body of ['{to:', '{"to": 3}', '{"version": "v1"}']) {
      const res = await app.request('/api/v1/stacks/web/rollback', {
        method: 'POST',
        headers: auth(),
        body,
      });
      expect(res.status, body).toBe(400);
    }
    expect(control.calls).toEqual([]);
  });

  it('suspends and resumes a stack', async () => {
    const { app, control } = setup();
    const s = await app.request('/api/v1/stacks/web/suspend', { method: 'POST', headers: auth() });
    expect(s.status).toBe(200);
    expect(await s.json()).toMatchObject({ stack: { name: 'web', suspended: true } });
    const r = await app.request('/api/v1/stacks/web/resume', {
      method: 'POST',
      headers: auth(TOKENS[1]!.token),
    });
    expect(await r.json()).toMatchObject({ stack: { name: 'web', suspended: false } });
    expect(control.calls).toEqual([
      { method: 'suspend', stack: 'web', trigger: { by: 'api:ci' } },
      { method: 'resume', stack: 'web', trigger: { by: 'api:ops' } },
    ]);
    const missing = await app.request('/api/v1/stacks/nope/suspend', {
      method: 'POST',
      headers: auth(),
    });
    expect(missing.status).toBe(404);
  });

  it('answers a body over the limit with 413', async () => {
    const { app, control } = setup({ bodyLimitBytes: 100 });
    const res = await app.request('/api/v1/stacks/web/rollback', {
      method: 'POST',
      headers: auth(),
      body: JSON.stringify({ to: 'v'.repeat(500) }),
    });
    expect(res.status).toBe(413);
    expect(control.calls).toEqual([]);
  });
});

describe('plain routes', () => {
  it('answers /healthz', async () => {
    const { app } = setup();
    const res = await app.request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('serves every metric name on /metrics in the Prometheus text format', async () => {
    const { app, control, metrics } = setup();
    metrics.setStackStatus(control.getStack('web')!);
    metrics.observeDeployment({ stack: 'web', result: 'succeeded', durationMs: 1500 });
    metrics.observeSync({ durationMs: 200, ok: false });
    metrics.observeSourceSync({ source: 'default', ok: true, at: 1_700_000_000_000 });
    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    for (const name of [
      'berth_stack_ready',
      'berth_stack_healthy',
      'berth_stack_info',
      'berth_deployment_duration_seconds',
      'berth_deployments_total',
      'berth_rollbacks_total',
      'berth_deployment_failures_total',
      'berth_sync_duration_seconds',
      'berth_sync_errors_total',
      'berth_source_up',
      'berth_source_last_sync_timestamp_seconds',
      'berth_source_sync_failures_total',
      'berth_webhook_requests_total',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).toContain('berth_stack_ready{stack="web",source="default"} 1');
  });

  it('answers unknown routes with a JSON 404', async () => {
    const { app } = setup();
    const res = await app.request('/nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { reason: 'NotFound' } });
  });
});

describe('secrets', () => {
  it('never logs or returns a secret, a token or a signature', async () => {
    const { app, log } = setup();
    const wrongToken = 'wrong-token-9d8c7b6a5f4e';
    const responses: string[] = [];
    const keep = async (res: Response | Promise<Response>): Promise<void> => {
      responses.push(await (await res).text());
    };
    for (const c of CASES) {
      for (const auth of ['valid', 'wrong', 'missing'] as const) {
        const body = c.push('refs/heads/main');
        await keep(post(app, `/webhooks/${c.provider}`, body, c.headers(body, auth, c.pushEvent)));
      }
      await keep(
        post(app, `/webhooks/${c.provider}`, '{bad', c.headers('{bad', 'valid', c.pushEvent)),
      );
    }
    for (const token of [TOKENS[0]!.token, wrongToken]) {
      await keep(
        app.request('/api/v1/sync', {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
        }),
      );
      await keep(
        app.request('/api/v1/stacks/web/deploy', {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
        }),
      );
    }
    const logged = log.text();
    expect(log.records().length).toBeGreaterThan(10);
    const signatures = CASES.filter((c) => c.provider !== 'gitlab').map((c) =>
      hmac(SECRETS[c.provider], c.push('refs/heads/main')),
    );
    for (const secret of [
      ...Object.values(SECRETS),
      ...TOKENS.map((t) => t.token),
      wrongToken,
      ...signatures,
    ]) {
      expect(logged).not.toContain(secret);
      for (const r of responses) expect(r).not.toContain(secret);
    }
  });
});

describe('webhook replay protection', () => {
  const DELIVERY_HEADERS: Record<WebhookProvider, string> = {
    github: 'x-github-delivery',
    gitlab: 'x-gitlab-event-uuid',
    gitea: 'x-gitea-delivery',
    generic: 'x-berth-delivery',
  };

  it.each(CASES)('answers a repeated $provider delivery with 200 duplicate, once', async (c) => {
    const { app, control, metrics, log } = setup();
    const body = c.push('refs/heads/main');
    const headers = {
      ...c.headers(body, 'valid', c.pushEvent),
      [DELIVERY_HEADERS[c.provider]]: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    };
    const first = await post(app, `/webhooks/${c.provider}`, body, headers);
    expect(first.status).toBe(202);
    for (let i = 0; i < 3; i++) {
      const again = await post(app, `/webhooks/${c.provider}`, body, headers);
      expect(again.status).toBe(200);
      expect(await again.json()).toEqual({ duplicate: true });
    }
    expect(control.calls).toHaveLength(1);
    const repeated = log.records().filter((r) => r.msg === 'webhook delivery repeated');
    expect(repeated).toHaveLength(1);
    expect(repeated[0]).toMatchObject({ level: 30, provider: c.provider });
    expect(await metrics.render()).toContain(
      `berth_webhook_requests_total{provider="${c.provider}",result="duplicate"} 3`,
    );
  });

  it('takes a new delivery id with the same body, and the Gogs header for Gitea', async () => {
    const { app, control } = setup();
    const body = CASES[2]!.push('refs/heads/main');
    const base = CASES[2]!.headers(body, 'valid');
    expect(
      (await post(app, '/webhooks/gitea', body, { ...base, 'x-gogs-delivery': 'a' })).status,
    ).toBe(202);
    expect(
      (await post(app, '/webhooks/gitea', body, { ...base, 'x-gogs-delivery': 'b' })).status,
    ).toBe(202);
    expect(
      (await post(app, '/webhooks/gitea', body, { ...base, 'x-gogs-delivery': 'a' })).status,
    ).toBe(200);
    expect(control.calls).toHaveLength(2);
  });

  it('keeps GitLab events that share an event UUID but differ, using Idempotency-Key first', async () => {
    const { app, control } = setup();
    const one = CASES[1]!.push('refs/heads/main', 'a'.repeat(40));
    const two = CASES[1]!.push('refs/heads/main', 'b'.repeat(40));
    const uuid = { 'x-gitlab-event-uuid': 'shared-by-recursive-hooks' };
    expect(
      (await post(app, '/webhooks/gitlab', one, { ...CASES[1]!.headers(one, 'valid'), ...uuid }))
        .status,
    ).toBe(202);
    expect(
      (await post(app, '/webhooks/gitlab', two, { ...CASES[1]!.headers(two, 'valid'), ...uuid }))
        .status,
    ).toBe(202);
    const retry = { ...uuid, 'idempotency-key': 'retry-key' };
    expect(
      (await post(app, '/webhooks/gitlab', one, { ...CASES[1]!.headers(one, 'valid'), ...retry }))
        .status,
    ).toBe(202);
    const again = { 'x-gitlab-event-uuid': 'other', 'idempotency-key': 'retry-key' };
    expect(
      (await post(app, '/webhooks/gitlab', one, { ...CASES[1]!.headers(one, 'valid'), ...again }))
        .status,
    ).toBe(200);
    expect(control.calls).toHaveLength(3);
  });

  it('does not remember unauthenticated or malformed deliveries', async () => {
    const { app, control } = setup();
    const body = CASES[0]!.push('refs/heads/main');
    const id = { 'x-github-delivery': 'd-1' };
    const forged = await post(app, '/webhooks/github', body, {
      ...CASES[0]!.headers(body, 'wrong'),
      ...id,
    });
    expect(forged.status).toBe(401);
    const real = await post(app, '/webhooks/github', body, {
      ...CASES[0]!.headers(body, 'valid'),
      ...id,
    });
    expect(real.status).toBe(202);
    expect(control.calls).toHaveLength(1);
  });

  it('knows an id-less generic push by its commit, and repeats a bare "sync now"', async () => {
    const { app, control } = setup();
    const body = JSON.stringify({ ref: 'refs/heads/main', commit: COMMIT });
    const headers = CASES[3]!.headers(body, 'valid');
    expect((await post(app, '/webhooks/generic', body, headers)).status).toBe(202);
    expect((await post(app, '/webhooks/generic', body, headers)).status).toBe(200);
    const other = JSON.stringify({ ref: 'refs/heads/main', commit: 'c'.repeat(40) });
    const otherHeaders = CASES[3]!.headers(other, 'valid');
    expect((await post(app, '/webhooks/generic', other, otherHeaders)).status).toBe(202);
    const bare = JSON.stringify({ ref: 'refs/heads/main' });
    for (let i = 0; i < 3; i++) {
      const res = await post(app, '/webhooks/generic', bare, CASES[3]!.headers(bare, 'valid'));
      expect(res.status).toBe(202);
    }
    expect(control.calls).toHaveLength(5);
  });

  it('keeps the log across apps that share it (a config reload)', async () => {
    const deliveryLog = createDeliveryLog();
    const make = () =>
      createServerApp({
        control: createFakeControl(),
        metrics: createMetrics(),
        logger: captureLog().logger,
        config: {
          listen: '127.0.0.1:0',
          tokens: TOKENS,
          webhooks: { github: { secret: SECRETS.github } },
        },
        deliveryLog,
      });
    const body = CASES[0]!.push('refs/heads/main');
    const headers = { ...CASES[0]!.headers(body, 'valid'), 'x-github-delivery': 'reload-1' };
    expect((await post(make(), '/webhooks/github', body, headers)).status).toBe(202);
    expect((await post(make(), '/webhooks/github', body, headers)).status).toBe(200);
  });

  it('keeps the delivery log at its capacity, forgetting the oldest first', () => {
    const deliveries = createDeliveryLog(1000);
    const body = Buffer.from('{}');
    const delivery = (n: number) => ({ provider: 'github', id: `id-${n}`, body });
    for (let n = 0; n < 25_000; n++) expect(deliveries.record(delivery(n)).first).toBe(true);
    expect(deliveries.size()).toBe(1000);
    expect(deliveries.record(delivery(24_999)).first).toBe(false);
    expect(deliveries.record(delivery(0)).first).toBe(true);
    expect(deliveries.size()).toBe(1000);
  });

  it('bounds the default log at 10k deliveries', () => {
    const deliveries = createDeliveryLog();
    const body = Buffer.from('{}');
    for (let n = 0; n < 12_000; n++) {
      deliveries.record({ provider: 'gitea', id: String(n), body });
    }
    expect(deliveries.size()).toBe(DELIVERY_LOG_CAPACITY);
  });
});
