import { createHmac, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createServerApp, type ServerApp } from '../../src/server/app.js';
import type { WebhookProvider } from '../../src/server/schema.js';
import { captureLog } from './capture-log.js';
import { createRealControl, type FakeSource, type RealControl } from './real-control.js';

const SECRETS: Record<WebhookProvider, string> = {
  github: 'gh-secret-7f3a91c2d4',
  gitlab: 'gl-secret-0b8e55a1f6',
  gitea: 'gt-secret-c19d2e7b30',
  generic: 'gen-secret-5a4e8d2c11',
};
const TOKEN = 'ci-token-3b9f1e7a5c2d8046';
const COMMIT = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

function sources(): FakeSource[] {
  return [
    { name: 'apps', url: 'git@github.com:acme/apps.git' },
    { name: 'infra', url: 'https://gitlab.example.com/platform/infra.git' },
    { name: 'edge', url: 'https://gitea.example.com/acme/edge', tracked: { branch: 'prod' } },
  ];
}

let open: RealControl[] = [];
afterEach(async () => {
  await Promise.all(open.map((o) => o.close()));
  open = [];
});

function setup(followed: FakeSource[] = sources()): RealControl & { app: ServerApp } {
  const log = captureLog();
  const real = createRealControl(followed, log.logger);
  open.push(real);
  const app = createServerApp({
    control: real.control,
    metrics: real.metrics,
    logger: log.logger,
    config: {
      listen: '127.0.0.1:0',
      tokens: [{ name: 'ci', token: TOKEN }],
      webhooks: Object.fromEntries(Object.entries(SECRETS).map(([k, secret]) => [k, { secret }])),
    },
  });
  return { ...real, app };
}

function sign(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Each delivery gets its own id: the app refuses a replayed one. */
function delivery(): string {
  return randomBytes(8).toString('hex');
}

async function githubPush(app: ServerApp, repo: string, ref = 'refs/heads/main') {
  const body = JSON.stringify({
    ref,
    after: COMMIT,
    repository: {
      full_name: repo,
      html_url: `https://github.com/${repo}`,
      clone_url: `https://github.com/${repo}.git`,
      ssh_url: `git@github.com:${repo}.git`,
    },
  });
  return app.request('/webhooks/github', {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': delivery(),
      'x-hub-signature-256': `sha256=${sign(SECRETS.github, body)}`,
    },
  });
}

async function gitlabPush(app: ServerApp, path: string, ref = 'refs/heads/main') {
  const body = JSON.stringify({
    object_kind: 'push',
    ref,
    checkout_sha: COMMIT,
    project: {
      path_with_namespace: path,
      web_url: `https://gitlab.example.com/${path}`,
      git_http_url: `https://gitlab.example.com/${path}.git`,
      git_ssh_url: `git@gitlab.example.com:${path}.git`,
    },
  });
  return app.request('/webhooks/gitlab', {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-event-uuid': delivery(),
      'x-gitlab-token': SECRETS.gitlab,
    },
  });
}

async function giteaPush(app: ServerApp, repo: string, ref: string) {
  const body = JSON.stringify({
    ref,
    after: COMMIT,
    repository: {
      full_name: repo,
      clone_url: `https://gitea.example.com/${repo}.git`,
      ssh_url: `ssh://git@gitea.example.com:2222/${repo}.git`,
    },
  });
  return app.request('/webhooks/gitea', {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'x-gitea-event': 'push',
      'x-gitea-delivery': delivery(),
      'x-gitea-signature': sign(SECRETS.gitea, body),
    },
  });
}

async function genericPush(app: ServerApp, payload: Record<string, unknown>) {
  const body = JSON.stringify(payload);
  return app.request('/webhooks/generic', {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'x-berth-delivery': delivery(),
      'x-berth-signature': `sha256=${sign(SECRETS.generic, body)}`,
    },
  });
}

function api(app: ServerApp, path: string, init: { method?: string; body?: unknown } = {}) {
  return app.request(`/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

describe('webhooks routed to the source of their repository', () => {
  it('syncs only the source a push is for, one push per source', async () => {
    const { app, control, passes } = setup();
    const gh = await githubPush(app, 'acme/apps');
    expect(gh.status).toBe(202);
    expect(await gh.json()).toEqual({ accepted: true, sources: ['apps'] });
    await control.idle();
    const gl = await gitlabPush(app, 'platform/infra');
    expect(gl.status).toBe(202);
    await control.idle();
    const gt = await giteaPush(app, 'acme/edge', 'refs/heads/prod');
    expect(gt.status).toBe(202);
    await control.idle();
    expect(passes).toEqual([
      {
        trigger: { by: 'webhook:github', ref: 'refs/heads/main', commit: COMMIT, source: 'apps' },
        sources: ['apps'],
      },
      {
        trigger: { by: 'webhook:gitlab', ref: 'refs/heads/main', commit: COMMIT, source: 'infra' },
        sources: ['infra'],
      },
      {
        trigger: { by: 'webhook:gitea', ref: 'refs/heads/prod', commit: COMMIT, source: 'edge' },
        sources: ['edge'],
      },
    ]);
  });

  it('answers a push for a repository no source follows with 202 and fetches nothing', async () => {
    const { app, control, passes, metrics } = setup();
    const res = await githubPush(app, 'acme/other');
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ ignored: 'no source follows github.com/acme/other' });
    await control.idle();
    expect(passes).toEqual([]);
    expect(await metrics.render()).toContain(
      'berth_webhook_requests_total{provider="github",result="ignored"} 1',
    );
  });

  it('answers 400 naming what is missing when a payload names no repository', async () => {
    const { app, control, passes } = setup();
    const res = await genericPush(app, { ref: 'refs/heads/main', commit: COMMIT });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { reason: string; message: string } };
    expect(body.error.reason).toBe('InvalidPayload');
    expect(body.error.message).toContain('names no repository');
    expect(body.error.message).toContain('repository.clone_url');
    expect(body.error.message).toContain('apps, infra, edge');
    await control.idle();
    expect(passes).toEqual([]);
  });

  it('syncs the one source for a payload without a repository, as before', async () => {
    const { app, control, passes } = setup(sources().slice(0, 1));
    const res = await genericPush(app, {});
    expect(res.status).toBe(202);
    await control.idle();
    expect(passes).toEqual([
      { trigger: { by: 'webhook:generic', source: 'apps' }, sources: ['apps'] },
    ]);
  });

  it('routes a generic push naming its repository', async () => {
    const { app, control, passes } = setup();
    const res = await genericPush(app, {
      repository: 'https://gitlab.example.com/platform/infra',
      commit: COMMIT,
    });
    expect(res.status).toBe(202);
    await control.idle();
    expect(passes.map((p) => p.sources)).toEqual([['infra']]);
  });

  it('keeps each source’s branch filter', async () => {
    const { app, control, passes } = setup();
    const main = await giteaPush(app, 'acme/edge', 'refs/heads/main');
    expect(main.status).toBe(200);
    expect(await main.json()).toMatchObject({ ignored: true, reason: 'ref not tracked' });
    await control.idle();
    expect(passes).toEqual([]);
  });

  it('syncs every source that follows the pushed repository, in one pass', async () => {
    const { app, control, passes } = setup([
      ...sources(),
      { name: 'apps-staging', url: 'https://github.com/acme/apps', tracked: { branch: 'main' } },
      { name: 'apps-prod', url: 'https://github.com/acme/apps', tracked: { branch: 'prod' } },
    ]);
    const res = await githubPush(app, 'acme/apps');
    expect(await res.json()).toEqual({ accepted: true, sources: ['apps', 'apps-staging'] });
    await control.idle();
    expect(passes).toEqual([
      {
        trigger: { by: 'webhook:github', ref: 'refs/heads/main', commit: COMMIT },
        sources: ['apps', 'apps-staging'],
      },
    ]);
  });

  it('refuses to guess between two repositories of the same full name', async () => {
    const { app, control, passes } = setup([
      { name: 'gh', url: 'https://github.com/acme/app' },
      { name: 'gl', url: 'https://gitlab.example.com/acme/app' },
    ]);
    const res = await genericPush(app, { repository: 'acme/app' });
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      ignored: 'acme/app could be the repository of gh, gl: send its URL',
    });
    await control.idle();
    expect(passes).toEqual([]);
  });
});

describe('the API and sources', () => {
  it('reconciles one source, several, or all', async () => {
    const { app, control, passes } = setup();
    const one = await api(app, '/reconcile', { method: 'POST', body: { source: 'infra' } });
    expect(one.status).toBe(202);
    expect(await one.json()).toEqual({ accepted: true, sources: ['infra'] });
    await control.idle();
    const two = await api(app, '/reconcile', {
      method: 'POST',
      body: { source: ['apps', 'edge', 'apps'] },
    });
    expect(await two.json()).toEqual({ accepted: true, sources: ['apps', 'edge'] });
    await control.idle();
    const all = await api(app, '/reconcile', { method: 'POST' });
    expect(await all.json()).toEqual({ accepted: true, sources: ['apps', 'infra', 'edge'] });
    await control.idle();
    expect(passes).toEqual([
      { trigger: { by: 'api:ci', source: 'infra' }, sources: ['infra'] },
      { trigger: { by: 'api:ci' }, sources: ['apps', 'edge'] },
      { trigger: { by: 'api:ci' } },
    ]);
  });

  it('answers 400 naming the known sources for an unknown one', async () => {
    const { app, control, passes } = setup();
    const res = await api(app, '/reconcile', {
      method: 'POST',
      body: { source: ['apps', 'nope'] },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: {
        reason: 'InvalidRequest',
        message: 'unknown source nope; berth has apps, infra, edge',
      },
    });
    const bad = await api(app, '/sync', { method: 'POST', body: { source: 3 } });
    expect(bad.status).toBe(400);
    const extra = await api(app, '/sync', { method: 'POST', body: { stack: 'web' } });
    expect(extra.status).toBe(400);
    await control.idle();
    expect(passes).toEqual([]);
  });

  it('lists each source with its last sync and stack count', async () => {
    const followed = sources();
    const { app, control, store } = setup(followed);
    store.upsertStack('web', { state: 'STABLE', source: 'apps' });
    store.upsertStack('api', { state: 'STABLE', source: 'apps' });
    followed[1]!.failing = 'git fetch failed: could not resolve host gitlab.example.com';
    await api(app, '/reconcile', { method: 'POST', body: { source: ['apps', 'infra'] } });
    await control.idle();
    const res = await api(app, '/sources');
    expect(res.status).toBe(200);
    const { sources: listed } = (await res.json()) as { sources: Record<string, unknown>[] };
    expect(listed.map((s) => s.name)).toEqual(['apps', 'infra', 'edge']);
    expect(listed[0]).toMatchObject({
      kind: 'git',
      url: 'git@github.com:acme/apps.git',
      schedule: '*/5 * * * *',
      stacks: 2,
      lastSync: { ok: true, commit: 'commit-of-apps', failures: 0 },
    });
    expect(listed[1]).toMatchObject({
      stacks: 0,
      lastSync: {
        ok: false,
        failures: 1,
        error: { reason: 'FetchFailed', message: followed[1]!.failing },
      },
    });
    expect(listed[2]).not.toHaveProperty('lastSync');
  });

  it('shows the source of each stack', async () => {
    const { app, store } = setup();
    store.upsertStack('web', { state: 'STABLE', source: 'apps' });
    const list = (await (await api(app, '/stacks')).json()) as { stacks: { source?: string }[] };
    expect(list.stacks.map((s) => s.source)).toEqual(['apps']);
    const one = (await (await api(app, '/stacks/web')).json()) as { stack: { source?: string } };
    expect(one.stack.source).toBe('apps');
  });
});
