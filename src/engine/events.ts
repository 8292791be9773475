import type Docker from 'dockerode';
import { engineError } from './docker-errors.js';
import { ownedFilters } from './ownership.js';

/** A stream `data` handler that calls `onLine` for each non-empty line of Docker's event stream. */
export function eachLine(onLine: (line: string) => void): (chunk: Buffer | string) => void {
  let buffer = '';
  return (chunk) => {
    buffer += chunk.toString();
    let newline = buffer.indexOf('\n');
    while (newline >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf('\n');
      if (line !== '') onLine(line);
    }
  };
}

/**
 * Container state changes berth reacts to (health waits, drift detection, the healer). The
 * actual health actions are `health_status: healthy` (unhealthy, starting); with a bare
 * `health_status` in the filter Docker matches every value by prefix instead of exactly
 * (moby daemon/events/filter.go), which lets them through. exec_* (healthcheck probes) are
 * left out: they are noise.
 */
export const WATCHED_ACTIONS = [
  'create',
  'start',
  'restart',
  'die',
  'kill',
  'oom',
  'stop',
  'pause',
  'unpause',
  'destroy',
  'health_status',
] as const;

/** One container event from Docker's events stream. */
export interface ContainerEvent {
  /** "start", "die", "health_status: healthy", "restart", "destroy"... */
  action: string;
  containerId: string;
  attributes: Record<string, string>;
}

export type EventListener = (event: ContainerEvent) => void;

/** A live subscription to a project's container events. */
export interface EventFeed {
  subscribe(listener: EventListener): () => void;
  close(): void;
}

interface RawEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/**
 * Subscribes to the container events of one project: of berth's own containers, and with
 * `adopt` of the hand-run ones too. Callers subscribe first and inspect afterwards, so no
 * change between the inspect and the first event is lost.
 */
export async function openEvents(
  docker: Docker,
  project: string,
  adopt = false,
): Promise<EventFeed> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.getEvents({
      filters: {
        type: ['container'],
        label: ownedFilters(project, adopt),
        // Healthchecks run as execs: without this filter every probe would wake the waits.
        event: [...WATCHED_ACTIONS],
      },
    });
  } catch (err) {
    throw engineError('EventsUnavailable', 'cannot follow Docker events', err, { stack: project });
  }
  const listeners = new Set<EventListener>();
  stream.on(
    'data',
    eachLine((line) => {
      let raw: RawEvent;
      try {
        raw = JSON.parse(line) as RawEvent;
      } catch {
        return;
      }
      if (raw.Type !== 'container' || raw.Actor?.ID === undefined) return;
      if (raw.Action?.startsWith('exec_') === true) return;
      const event: ContainerEvent = {
        action: raw.Action ?? '',
        containerId: raw.Actor.ID,
        attributes: raw.Actor.Attributes ?? {},
      };
      for (const listener of [...listeners]) listener(event);
    }),
  );
  // A broken stream only loses wake-ups; the waits also time out, so there is nothing to do.
  stream.on('error', () => undefined);
  return {
    subscribe(listener: EventListener): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close(): void {
      listeners.clear();
      const destroyable = stream as NodeJS.ReadableStream & { destroy?: () => void };
      destroyable.destroy?.();
    },
  };
}
