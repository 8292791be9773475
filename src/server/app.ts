import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { BerthError } from '../errors.js';
import type { Reason } from '../reasons.js';
import type { Logger } from '../log.js';
import type { StackOutcome } from '../reconciler/types.js';
import type { ServerControl, SourceView, TrackedRef, Trigger } from './control.js';
import type { Metrics, WebhookResultLabel } from './metrics.js';
import { createDeliveryLog, type DeliveryLog } from './replay.js';
import type { ResolvedServerConfig, WebhookProvider } from './schema.js';
import {
  matchRepository,
  pushedRepository,
  type FollowedRepository,
  type PushedRepository,
} from './webhook-repository.js';

export interface ServerAppOptions {
  control: ServerControl;
  /** With every `…File` already read (resolveServerSecrets). */
  config: ResolvedServerConfig;
  metrics: Metrics;
  logger: Logger;
  /** Largest request body accepted; 1 MiB by default. */
  bodyLimitBytes?: number;
  /** Deliveries already accepted; pass one that outlives the app so a config reload keeps it. */
  deliveryLog?: DeliveryLog;
}

export interface ServerEnv {
  Variables: { tokenName: string };
}

export type ServerApp = Hono<ServerEnv>;

const DEFAULT_BODY_LIMIT = 1024 * 1024;
const ZERO_COMMIT = /^0+$/;

// Only the fields berth reads; the rest of each payload passes through untouched.
export const GithubPushPayload = z.looseObject({
  ref: z.string(),
  after: z.string().optional(),
  deleted: z.boolean().optional(),
});
export type GithubPushPayload = z.infer<typeof GithubPushPayload>;

export const GitlabPushPayload = z.looseObject({
  ref: z.string(),
  after: z.string().optional(),
  checkout_sha: z.string().nullish(),
});
export type GitlabPushPayload = z.infer<typeof GitlabPushPayload>;

export const GiteaPushPayload = z.looseObject({
  ref: z.string(),
  after: z.string().optional(),
});
export type GiteaPushPayload = z.infer<typeof GiteaPushPayload>;

export const GenericPushPayload = z.looseObject({
  ref: z.string().min(1).optional(),
  commit: z.string().min(1).optional(),
});
export type GenericPushPayload = z.infer<typeof GenericPushPayload>;

const RollbackBody = z.strictObject({ to: z.string().min(1).optional() });

/** `POST /reconcile` (and `/sync`): the sources to sync, all of them when left out. */
export const ReconcileBody = z.strictObject({
  source: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
});
export type ReconcileBody = z.infer<typeof ReconcileBody>;

const Limit = z.coerce.number().int().min(1).max(1000);

/** Constant-time string comparison that also hides the lengths: both sides are hashed first. */
function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Checks a hex HMAC-SHA256 of the raw body; `prefix` is `sha256=` where the provider adds it. */
function validHmac(
  header: string | undefined,
  prefix: string,
  body: Buffer,
  secret: string,
): boolean {
  if (header === undefined) return false;
  const text = header.trim();
  if (!text.toLowerCase().startsWith(prefix)) return false;
  const hex = text.slice(prefix.length);
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return false;
  const expected = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(expected, Buffer.from(hex, 'hex'));
}

type WebhookEvent =
  | {
      kind: 'push';
      ref?: string;
      commit?: string;
      deleted?: boolean;
      /** The repository the payload names; undefined when it names none. */
      repository?: PushedRepository;
    }
  | { kind: 'ping' }
  | { kind: 'other'; name: string };

interface ProviderSpec {
  verify(c: Context<ServerEnv>, body: Buffer, secret: string): boolean;
  /**
   * What identifies the delivery, the same on a redelivery; undefined when nothing does, and
   * the delivery is then not checked for replays.
   */
  deliveryId(c: Context<ServerEnv>, event: WebhookEvent): string | undefined;
  /** Throws a ZodError or SyntaxError on a malformed payload. */
  parse(c: Context<ServerEnv>, body: Buffer): WebhookEvent;
}

function json(body: Buffer): unknown {
  return JSON.parse(body.toString('utf8')) as unknown;
}

/** A push event, with the repository its payload names when it names one. */
function push(
  payload: unknown,
  fields: { ref?: string; commit?: string; deleted?: boolean },
): WebhookEvent {
  const repository = pushedRepository(payload);
  return { kind: 'push', ...fields, ...(repository === undefined ? {} : { repository }) };
}

function realCommit(commit: string | null | undefined): string | undefined {
  return commit === undefined || commit === null || ZERO_COMMIT.test(commit) ? undefined : commit;
}

const PROVIDERS: Record<WebhookProvider, ProviderSpec> = {
  github: {
    verify: (c, body, secret) =>
      validHmac(c.req.header('x-hub-signature-256'), 'sha256=', body, secret),
    deliveryId: (c) => c.req.header('x-github-delivery'),
    parse: (c, body) => {
      const event = c.req.header('x-github-event') ?? '';
      if (event === 'ping') return { kind: 'ping' };
      if (event !== 'push') return { kind: 'other', name: event };
      const raw = json(body);
      const payload = GithubPushPayload.parse(raw);
      const commit = realCommit(payload.after);
      return push(raw, { ref: payload.ref, commit, deleted: payload.deleted === true || !commit });
    },
  },
  gitea: {
    verify: (c, body, secret) => validHmac(c.req.header('x-gitea-signature'), '', body, secret),
    // Gogs sends only its own header; Gitea sends both.
    deliveryId: (c) => c.req.header('x-gitea-delivery') ?? c.req.header('x-gogs-delivery'),
    parse: (c, body) => {
      const event = c.req.header('x-gitea-event') ?? '';
      if (event !== 'push') return { kind: 'other', name: event };
      const raw = json(body);
      const payload = GiteaPushPayload.parse(raw);
      const commit = realCommit(payload.after);
      return push(raw, { ref: payload.ref, commit, deleted: !commit });
    },
  },
  gitlab: {
    // GitLab sends the secret itself rather than a signature.
    verify: (c, _body, secret) => {
      const token = c.req.header('x-gitlab-token');
      return token !== undefined && safeEqual(token, secret);
    },
    // Idempotency-Key stays the same across GitLab's retries; older GitLab sends only the UUID.
    deliveryId: (c) => c.req.header('idempotency-key') ?? c.req.header('x-gitlab-event-uuid'),
    parse: (c, body) => {
      const event = c.req.header('x-gitlab-event') ?? '';
      if (event !== 'Push Hook' && event !== 'Tag Push Hook') return { kind: 'other', name: event };
      const raw = json(body);
      const payload = GitlabPushPayload.parse(raw);
      const commit = realCommit(payload.checkout_sha ?? payload.after);
      return push(raw, { ref: payload.ref, commit, deleted: !commit });
    },
  },
  generic: {
    verify: (c, body, secret) =>
      validHmac(c.req.header('x-berth-signature'), 'sha256=', body, secret),
    // Without X-Berth-Delivery, a push naming its commit is known by its body (every key
    // holds the signed body); one without is a plain "sync now" a sender may repeat at will.
    deliveryId: (c, event) =>
      c.req.header('x-berth-delivery') ??
      (event.kind === 'push' && event.commit !== undefined ? `commit:${event.commit}` : undefined),
    parse: (_c, body) => {
      const raw = body.length === 0 ? {} : json(body);
      const payload = GenericPushPayload.parse(raw);
      return push(raw, { ref: payload.ref, commit: payload.commit });
    },
  },
};

/** Whether a push to `ref` can move what the daemon tracks. */
export function refIsTracked(ref: string | undefined, tracked: TrackedRef): boolean {
  if (ref === undefined) return true;
  if (tracked.branch === undefined && tracked.tag === undefined) return true;
  if (tracked.branch !== undefined) {
    if (ref === `refs/heads/${tracked.branch}` || ref === tracked.branch) return true;
  }
  // Tag patterns and ranges are resolved by the source; any tag push may select a new one.
  return tracked.tag !== undefined && ref.startsWith('refs/tags/');
}

function errorBody(
  reason: string,
  message: string,
): { error: { reason: string; message: string } } {
  return { error: { reason, message } };
}

const REASON_STATUS: Partial<Record<Reason, ContentfulStatusCode>> = {
  StackNotFound: 404,
  VersionNotFound: 404,
  VersionPrefixInvalid: 400,
  // The prefix was fine until the history grew a second match: it depends on the stack's state.
  VersionAmbiguous: 409,
  // The request is understood, but the stack's state does not allow it.
  NoGoodVersion: 409,
  VersionFilesUnavailable: 409,
  InvalidRequest: 400,
  ShuttingDown: 503,
};

function outcomeBody(outcome: StackOutcome): Record<string, unknown> {
  const { error, ...rest } = outcome;
  return error === undefined
    ? rest
    : { ...rest, error: { reason: error.reason, message: error.message } };
}

interface WebhookAnswer {
  result: WebhookResultLabel;
  status: ContentfulStatusCode;
  body: Record<string, unknown>;
}

/** Where the payload's fields name the repository, for a 400 that says what is missing. */
const REPOSITORY_FIELDS =
  'repository.clone_url, ssh_url, html_url or full_name (GitHub, Gitea, Forgejo, Bitbucket), ' +
  'project.git_http_url, git_ssh_url, web_url or path_with_namespace (GitLab), ' +
  'or a repository URL or full name (generic)';

/** The sources a push is for, or the answer when it is for none. */
function sourcesOf(
  repository: PushedRepository | undefined,
  sources: SourceView[],
): { sources: SourceView[] } | { answer: WebhookAnswer } {
  if (repository === undefined) {
    if (sources.length === 1) return { sources };
    const names = sources.map((s) => s.name).join(', ');
    const message = `the payload names no repository (${REPOSITORY_FIELDS}), and berth follows ${sources.length} sources: ${names}`;
    return {
      answer: { result: 'invalid', status: 400, body: errorBody('InvalidPayload', message) },
    };
  }
  const followed: FollowedRepository[] = sources.flatMap((s) =>
    s.kind === 'git' && s.url !== undefined ? [{ name: s.name, url: s.url }] : [],
  );
  const match = matchRepository(repository, followed);
  if (match.kind === 'matched')
    return { sources: sources.filter((s) => match.sources.includes(s.name)) };
  const ignored =
    match.kind === 'none'
      ? `no source follows ${repository.label}`
      : `${repository.label} could be the repository of ${match.sources.join(', ')}: send its URL`;
  return { answer: { result: 'ignored', status: 202, body: { ignored } } };
}

/** What an authenticated, first-seen delivery does: a sync of the tracked ref, or nothing. */
function routeEvent(
  event: WebhookEvent,
  provider: WebhookProvider,
  control: ServerControl,
  log: Logger,
): WebhookAnswer {
  if (event.kind === 'ping')
    return { result: 'ping', status: 200, body: { ok: true, event: 'ping' } };
  if (event.kind === 'other') {
    log.info({ provider, event: event.name }, 'webhook event ignored');
    const reason = `event ${event.name} is not a push`;
    return { result: 'ignored', status: 200, body: { ignored: true, reason } };
  }
  if (event.deleted === true) {
    log.info({ provider, ref: event.ref }, 'webhook ref deletion ignored');
    return { result: 'ignored', status: 200, body: { ignored: true, reason: 'ref deleted' } };
  }
  const repository = event.repository?.label;
  const chosen = sourcesOf(event.repository, control.sources());
  if ('answer' in chosen) {
    log.info({ provider, repository, result: chosen.answer.result }, 'webhook push not routed');
    return chosen.answer;
  }
  // A branch filter is each source's own: a push may move one source and not another.
  const names = chosen.sources.filter((s) => refIsTracked(event.ref, s.tracked)).map((s) => s.name);
  if (names.length === 0) {
    log.info({ provider, repository, ref: event.ref }, 'webhook push to untracked ref ignored');
    return { result: 'ignored', status: 200, body: { ignored: true, reason: 'ref not tracked' } };
  }
  const trigger: Trigger = { by: `webhook:${provider}` };
  if (event.ref !== undefined) trigger.ref = event.ref;
  if (event.commit !== undefined) trigger.commit = event.commit;
  if (names.length === 1) trigger.source = names[0];
  control.requestSync(trigger, names);
  log.info(
    { provider, repository, sources: names, ref: event.ref, commit: event.commit },
    'webhook accepted',
  );
  return { result: 'accepted', status: 202, body: { accepted: true, sources: names } };
}

/** The HTTP app: webhooks, the /api/v1 control API, /healthz and /metrics. */
export function createServerApp(options: ServerAppOptions): ServerApp {
  const { control, config, metrics } = options;
  const log = options.logger;
  const maxSize = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const deliveries = options.deliveryLog ?? createDeliveryLog();
  const app = new Hono<ServerEnv>();

  app.onError((err, c) => {
    if (err instanceof BerthError) {
      const status = REASON_STATUS[err.reason] ?? 500;
      if (status === 500) log.error({ err, path: c.req.path }, 'request failed');
      return c.json(errorBody(err.reason, err.message), status);
    }
    log.error({ err, path: c.req.path }, 'request failed');
    return c.json(errorBody('InternalError', 'internal error'), 500);
  });
  app.notFound((c) => c.json(errorBody('NotFound', 'no such route'), 404));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', async (c) => {
    const text = await metrics.render();
    return c.body(text, 200, { 'content-type': metrics.contentType });
  });

  // Webhooks.
  for (const provider of Object.keys(PROVIDERS) as WebhookProvider[]) {
    const spec = PROVIDERS[provider];
    // Plain Context: bodyLimit's error callback is not typed with the app's env.
    const answer = (
      c: Context,
      result: WebhookResultLabel,
      status: ContentfulStatusCode,
      body: Record<string, unknown>,
    ): Response => {
      metrics.countWebhook(provider, result);
      return c.json(body, status);
    };

    app.post(
      `/webhooks/${provider}`,
      bodyLimit({
        maxSize,
        onError: (c) => {
          log.warn({ provider, maxSize }, 'webhook body too large');
          return answer(
            c,
            'too-large',
            413,
            errorBody('PayloadTooLarge', 'request body too large'),
          );
        },
      }),
      async (c) => {
        const secret = config.webhooks[provider]?.secret;
        if (secret === undefined) {
          return answer(
            c,
            'disabled',
            404,
            errorBody('WebhookDisabled', `${provider} webhook is not configured`),
          );
        }
        const body = Buffer.from(await c.req.arrayBuffer());
        if (!spec.verify(c, body, secret)) {
          log.warn({ provider }, 'webhook signature rejected');
          return answer(
            c,
            'unauthorized',
            401,
            errorBody('Unauthorized', 'missing or invalid signature'),
          );
        }
        let event: WebhookEvent;
        try {
          event = spec.parse(c, body);
        } catch (err) {
          // A JSON syntax error quotes the body; the schema's issues only name fields.
          const problem = err instanceof z.ZodError ? z.prettifyError(err) : 'invalid JSON';
          log.warn({ provider, problem }, 'webhook payload invalid');
          return answer(
            c,
            'invalid',
            400,
            errorBody('InvalidPayload', 'malformed webhook payload'),
          );
        }
        // Checked only once authenticated, so nobody without the secret can fill the log.
        const id = spec.deliveryId(c, event);
        const seen = id === undefined ? undefined : deliveries.record({ provider, id, body });
        if (seen !== undefined && !seen.first) {
          if (seen.report) log.info({ provider, delivery: id }, 'webhook delivery repeated');
          // 200, not 409: the delivery did arrive, and git hosts show a 4xx as a failed hook
          // (GitLab disables a hook after repeated 4xx) and may retry it.
          return answer(c, 'duplicate', 200, { duplicate: true });
        }
        const routed = routeEvent(event, provider, control, log);
        return answer(c, routed.result, routed.status, routed.body);
      },
    );
  }

  // The control API.
  const api = new Hono<ServerEnv>();
  api.use(
    '*',
    bodyLimit({
      maxSize,
      onError: (c) => c.json(errorBody('PayloadTooLarge', 'request body too large'), 413),
    }),
  );
  api.use('*', async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    let name: string | undefined;
    if (match?.[1] !== undefined) {
      const presented = match[1];
      // Compare against every token so timing does not tell which one (or whether any) matched.
      for (const entry of config.tokens) {
        if (safeEqual(presented, entry.token) && name === undefined) name = entry.name;
      }
    }
    if (name === undefined) {
      log.warn({ path: c.req.path, hadCredentials: match !== null }, 'api request unauthorized');
      c.header('WWW-Authenticate', 'Bearer realm="berth"');
      return c.json(errorBody('Unauthorized', 'missing or invalid bearer token'), 401);
    }
    c.set('tokenName', name);
    await next();
  });

  const triggerOf = (c: Context<ServerEnv>): Trigger => ({ by: `api:${c.get('tokenName')}` });
  const limitOf = (c: Context<ServerEnv>, fallback: number): number | undefined => {
    const raw = c.req.query('limit');
    if (raw === undefined) return fallback;
    const parsed = Limit.safeParse(raw);
    return parsed.success ? parsed.data : undefined;
  };
  const knownStack = (c: Context<ServerEnv>): string | undefined => {
    const name = c.req.param('name') ?? '';
    return control.getStack(name) === undefined ? undefined : name;
  };
  const unknownStack = (c: Context<ServerEnv>): Response =>
    c.json(errorBody('StackNotFound', `no stack named ${c.req.param('name') ?? ''}`), 404);
  const badLimit = (c: Context<ServerEnv>): Response =>
    c.json(errorBody('InvalidRequest', 'limit must be an integer from 1 to 1000'), 400);

  api.get('/stacks', (c) => c.json({ stacks: control.listStacks() }));
  api.get('/stacks/:name', (c) => {
    const stack = control.getStack(c.req.param('name'));
    return stack === undefined ? unknownStack(c) : c.json({ stack });
  });
  api.get('/stacks/:name/deployments', (c) => {
    const name = knownStack(c);
    if (name === undefined) return unknownStack(c);
    const limit = limitOf(c, 20);
    if (limit === undefined) return badLimit(c);
    return c.json({ deployments: control.deployments(name, limit) });
  });
  api.get('/stacks/:name/health', (c) => {
    const name = knownStack(c);
    if (name === undefined) return unknownStack(c);
    const limit = limitOf(c, 50);
    if (limit === undefined) return badLimit(c);
    return c.json({ health: control.health(name, limit) });
  });
  api.get('/sources', (c) => c.json({ sources: control.sources() }));
  // `/sync` is the older name of `/reconcile`: both queue a pass in the background.
  for (const action of ['sync', 'reconcile'] as const) {
    api.post(`/${action}`, async (c) => {
      const text = await c.req.text();
      let body: ReconcileBody;
      try {
        body = ReconcileBody.parse(text.trim() === '' ? {} : JSON.parse(text));
      } catch {
        return c.json(
          errorBody('InvalidRequest', 'body must be JSON {"source"?: name or [names]}'),
          400,
        );
      }
      const known = control.sources().map((s) => s.name);
      const asked = body.source === undefined ? undefined : [body.source].flat();
      const unknown = (asked ?? []).filter((name) => !known.includes(name));
      if (unknown.length > 0) {
        const message = `unknown source ${unknown.join(', ')}; berth has ${known.join(', ')}`;
        return c.json(errorBody('InvalidRequest', message), 400);
      }
      const trigger = triggerOf(c);
      const sources = asked === undefined ? undefined : [...new Set(asked)];
      if (sources?.length === 1) trigger.source = sources[0];
      control.requestSync(trigger, sources);
      log.info({ by: trigger.by, action, sources }, 'api action requested');
      return c.json({ accepted: true, sources: sources ?? known }, 202);
    });
  }
  api.post('/stacks/:name/deploy', async (c) => {
    const name = knownStack(c);
    if (name === undefined) return unknownStack(c);
    const trigger = triggerOf(c);
    log.info({ by: trigger.by, stack: name, action: 'deploy' }, 'api action requested');
    const outcome = await control.deploy(name, trigger);
    return c.json({ outcome: outcomeBody(outcome) });
  });
  api.post('/stacks/:name/rollback', async (c) => {
    const name = knownStack(c);
    if (name === undefined) return unknownStack(c);
    const text = await c.req.text();
    let body: z.infer<typeof RollbackBody>;
    try {
      body = RollbackBody.parse(text.trim() === '' ? {} : JSON.parse(text));
    } catch {
      return c.json(errorBody('InvalidRequest', 'body must be JSON {"to"?: version}'), 400);
    }
    const trigger = triggerOf(c);
    log.info(
      { by: trigger.by, stack: name, action: 'rollback', to: body.to },
      'api action requested',
    );
    const outcome = await control.rollback(name, trigger, body.to);
    return c.json({ outcome: outcomeBody(outcome) });
  });
  for (const action of ['suspend', 'resume'] as const) {
    api.post(`/stacks/:name/${action}`, async (c) => {
      const name = knownStack(c);
      if (name === undefined) return unknownStack(c);
      const trigger = triggerOf(c);
      log.info({ by: trigger.by, stack: name, action }, 'api action requested');
      await control[action](name, trigger);
      return c.json({ stack: control.getStack(name) });
    });
  }

  app.route('/api/v1', api);
  return app;
}
