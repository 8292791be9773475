import type Docker from 'dockerode';
import { EngineError } from '../errors.js';
import { engineError, isNotFound } from './docker-errors.js';
import type { EventFeed } from './events.js';
import { settleAll } from './settle.js';

export type InspectMap = Map<string, Docker.ContainerInspectInfo>;

/** What a watcher's evaluation decided: a result, or wait (optionally re-evaluating at `wakeAt`). */
export type Verdict<T> = { done: true; value: T } | { done: false; wakeAt?: number };

export interface WatchOptions<T> {
  docker: Docker;
  feed: EventFeed;
  /** Containers to inspect at the start (after the subscription is open). */
  initialIds: string[];
  /** Whether an event about a container not yet watched should add it (a new replica, say). */
  adopt?: (containerId: string, attributes: Record<string, string>) => boolean;
  evaluate: (containers: InspectMap, now: number) => Verdict<T>;
  deadline: number;
  onTimeout: (containers: InspectMap) => T;
  signal?: AbortSignal;
  place?: { stack?: string; service?: string };
}

async function inspectInto(
  docker: Docker,
  ids: Iterable<string>,
  into: InspectMap,
  place: { stack?: string; service?: string },
): Promise<void> {
  await settleAll(
    [...ids].map(async (id) => {
      try {
        into.set(id, await docker.getContainer(id).inspect());
      } catch (err) {
        if (isNotFound(err)) into.delete(id);
        else throw engineError('InspectFailed', `cannot inspect container ${id}`, err, place);
      }
    }),
  );
}

/**
 * The one waiting loop of the engine: inspect once after subscribing, then re-inspect only the
 * containers Docker reports events about, and re-evaluate. No polling; timers only for
 * deadlines the evaluation asks for (stability periods) and the overall timeout.
 */
export async function watchContainers<T>(options: WatchOptions<T>): Promise<T> {
  const { docker, feed, signal } = options;
  const place = options.place ?? {};
  const containers: InspectMap = new Map();
  const pending = new Set<string>();
  let wake: (() => void) | undefined;
  const unsubscribe = feed.subscribe((event) => {
    if (!containers.has(event.containerId)) {
      if (!(options.adopt?.(event.containerId, event.attributes) ?? false)) return;
    }
    pending.add(event.containerId);
    wake?.();
  });
  try {
    await inspectInto(docker, options.initialIds, containers, place);
    for (;;) {
      if (pending.size > 0) {
        const ids = [...pending];
        pending.clear();
        await inspectInto(docker, ids, containers, place);
        continue;
      }
      if (signal?.aborted === true) {
        throw new EngineError('Aborted', 'wait aborted', { cause: signal.reason, place });
      }
      const now = Date.now();
      const verdict = options.evaluate(containers, now);
      if (verdict.done) return verdict.value;
      if (now >= options.deadline) return options.onTimeout(containers);
      const until = Math.min(options.deadline, verdict.wakeAt ?? Number.POSITIVE_INFINITY);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, Math.max(0, until - Date.now()));
        function finish(): void {
          clearTimeout(timer);
          signal?.removeEventListener('abort', finish);
          wake = undefined;
          resolve();
        }
        wake = finish;
        signal?.addEventListener('abort', finish, { once: true });
        if (pending.size > 0) finish();
      });
    }
  } finally {
    unsubscribe();
  }
}
