import { parseDuration } from '../duration.js';
import type { Logger } from '../log.js';
import { buildRequest, withoutUrlCredentials, type NotificationEvent } from './format.js';
import { FAILURE_EVENTS, type NotifyTarget } from './schema.js';

export interface NotifierOptions {
  /** Targets with secrets resolved (resolveNotifySecrets). */
  targets: NotifyTarget[];
  logger: Logger;
  /** The HTTP client; the global fetch by default. */
  fetch?: typeof fetch;
  /** Per-delivery timeout when a target sets none; 10s by default. */
  timeoutMs?: number;
  /** Time source for `at`; Date.now by default. */
  now?: () => number;
}

export interface Notifier {
  /** Sends the event to every target that wants it; never throws, failures are logged. */
  notify(event: NotificationEvent): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Bounds memory for a stack that keeps failing in new ways. */
const MAX_REMEMBERED_FAILURES = 100;

/**
 * Names a target in logs without its URL: Slack and Discord webhook URLs carry their secret
 * in the path, and ntfy URLs can carry credentials.
 */
function targetLabel(target: NotifyTarget, index: number): string {
  let host = '?';
  try {
    host = new URL(target.url).host;
  } catch {
    // The schema validated the URL; an unparsable one is still no reason to fail a log line.
  }
  return `${target.type}#${index}@${host}`;
}

function errorFields(err: unknown): { errName: string; errCode?: string } {
  if (!(err instanceof Error)) return { errName: typeof err };
  const cause = err.cause as { code?: unknown } | undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  return code === undefined ? { errName: err.name } : { errName: err.name, errCode: code };
}

/** What an event is about: its stack, or the source of a `source-…` event. */
function subjectOf(event: NotificationEvent): string {
  return event.stack ?? `\u0000source:${event.source ?? ''}`;
}

/**
 * Creates the notifier. Failure events (deploy-failed, rolled-back, marked-bad, broken,
 * source-failed) that repeat an earlier one for the stack or source (same event, version and
 * message) are sent once; a recovery (deploy-succeeded, healed, source-recovered) makes them
 * worth sending again. Messages go out without the credentials of any URL they quote.
 */
export function createNotifier(options: NotifierOptions): Notifier {
  const log = options.logger;
  const doFetch = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const sentFailures = new Map<string, Set<string>>();

  function isRepeat(event: NotificationEvent): boolean {
    const subject = subjectOf(event);
    if (!FAILURE_EVENTS.includes(event.event)) {
      sentFailures.delete(subject);
      return false;
    }
    const key = JSON.stringify([event.event, event.version ?? '', event.message]);
    let sent = sentFailures.get(subject);
    if (sent === undefined) {
      sent = new Set();
      sentFailures.set(subject, sent);
    }
    if (sent.has(key)) return true;
    if (sent.size >= MAX_REMEMBERED_FAILURES) {
      const oldest = sent.values().next().value;
      if (oldest !== undefined) sent.delete(oldest);
    }
    sent.add(key);
    return false;
  }

  async function deliver(
    target: NotifyTarget,
    index: number,
    event: NotificationEvent,
  ): Promise<void> {
    const label = targetLabel(target, index);
    const timeoutMs =
      (target.timeout === undefined ? undefined : parseDuration(target.timeout)) ??
      options.timeoutMs ??
      DEFAULT_TIMEOUT_MS;
    const request = buildRequest(target, event);
    try {
      const response = await doFetch(request.url, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      // Drain the body so the connection is released; its content may echo the request.
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) {
        log.warn(
          {
            target: label,
            stack: event.stack,
            source: event.source,
            event: event.event,
            status: response.status,
          },
          'notification rejected',
        );
        return;
      }
      log.debug({ target: label, stack: event.stack, event: event.event }, 'notification sent');
    } catch (err) {
      log.warn(
        { target: label, stack: event.stack, event: event.event, ...errorFields(err) },
        'notification failed',
      );
    }
  }

  async function notify(input: NotificationEvent): Promise<void> {
    const event: NotificationEvent = {
      ...input,
      message: withoutUrlCredentials(input.message),
      at: input.at ?? new Date(now()).toISOString(),
    };
    if (isRepeat(event)) {
      log.debug({ stack: event.stack, event: event.event }, 'repeated notification suppressed');
      return;
    }
    await Promise.all(
      options.targets.map((target, index) =>
        target.events === undefined || target.events.includes(event.event)
          ? deliver(target, index, event)
          : Promise.resolve(),
      ),
    );
  }

  return { notify };
}
