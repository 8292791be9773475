import type Docker from 'dockerode';
import type { Logger } from '../log.js';
import { engineError } from './docker-errors.js';
import { WATCHED_ACTIONS, eachLine } from './events.js';
import type {
  EventSubscription,
  HealthTransition,
  ManagedContainerEvent,
  WatchEventsOptions,
} from './types.js';
import { LABEL } from './types.js';

interface RawEvent {
  Type?: string;
  Action?: string;
  time?: number;
  timeNano?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

const HEALTH_PREFIX = 'health_status';
const TRANSITIONS: readonly HealthTransition[] = ['healthy', 'unhealthy', 'starting'];

/**
 * The health in Docker's `health_status: unhealthy` action; null for one berth does not know,
 * which carries nothing a listener could act on.
 */
function healthOf(action: string): HealthTransition | null {
  const value = action.slice(HEALTH_PREFIX.length).replace(/^:\s*/, '');
  return TRANSITIONS.find((t) => t === value) ?? null;
}

/** Parses one line of Docker's events stream; undefined for lines that are not ours. */
export function parseManagedEvent(line: string): ManagedContainerEvent | undefined {
  let raw: RawEvent;
  try {
    raw = JSON.parse(line) as RawEvent;
  } catch {
    return undefined;
  }
  const id = raw.Actor?.ID;
  const attributes = raw.Actor?.Attributes ?? {};
  if (raw.Type !== 'container' || id === undefined) return undefined;
  const action = raw.Action ?? '';
  if (action === '' || action.startsWith('exec_')) return undefined;
  const project = attributes[LABEL.project];
  const service = attributes[LABEL.service];
  if (project === undefined || service === undefined) return undefined;
  // One-off runs are not part of the desired state.
  if (attributes[LABEL.oneoff] === 'True') return undefined;
  const health = action.startsWith(HEALTH_PREFIX) ? healthOf(action) : undefined;
  if (health === null) return undefined;
  const exit = attributes.exitCode;
  const at =
    raw.timeNano !== undefined
      ? Math.floor(raw.timeNano / 1e6)
      : raw.time !== undefined
        ? raw.time * 1000
        : Date.now();
  return {
    project,
    service,
    containerId: id,
    containerName: attributes.name ?? id,
    action: health === undefined ? action : 'health_status',
    ...(health === undefined ? {} : { health }),
    ...(exit === undefined || Number.isNaN(Number(exit)) ? {} : { exitCode: Number(exit) }),
    at,
  };
}

/**
 * One events subscription for every berth-managed container. When the stream errors or ends
 * it is reopened after a backoff that doubles up to `maxBackoffMs` and resets once a stream
 * delivers again; events Docker emitted while it was down are asked for with `since`.
 */
export async function watchManagedEvents(
  docker: Docker,
  logger: Logger,
  listener: (event: ManagedContainerEvent) => void,
  options: WatchEventsOptions = {},
): Promise<EventSubscription> {
  const minBackoff = options.minBackoffMs ?? 250;
  const maxBackoff = options.maxBackoffMs ?? 10_000;
  let closed = false;
  let stream: (NodeJS.ReadableStream & { destroy?: () => void }) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let backoff = minBackoff;
  let lastSeconds: number | undefined;

  async function open(reconnect: boolean): Promise<void> {
    const since = lastSeconds;
    const opened = (await docker.getEvents({
      ...(since === undefined ? {} : { since }),
      filters: {
        type: ['container'],
        label: [`${LABEL.managed}=true`],
        event: [...WATCHED_ACTIONS],
      },
    })) as NodeJS.ReadableStream & { destroy?: () => void };
    if (closed) {
      opened.destroy?.();
      return;
    }
    stream = opened;
    lastSeconds ??= Math.floor(Date.now() / 1000);
    options.onConnect?.({ reconnect });
    let ended = false;
    const lines = eachLine((line) => {
      const event = parseManagedEvent(line);
      if (event === undefined) return;
      lastSeconds = Math.floor(event.at / 1000);
      try {
        listener(event);
      } catch (err) {
        logger.warn({ err, stack: event.project }, 'event listener failed');
      }
    });
    opened.on('data', (chunk: Buffer | string) => {
      backoff = minBackoff;
      lines(chunk);
    });
    const drop = (error?: unknown): void => {
      if (ended || closed) return;
      ended = true;
      scheduleReconnect(error);
    };
    opened.on('error', (err: unknown) => drop(err));
    opened.on('end', () => drop());
    opened.on('close', () => drop());
  }

  function scheduleReconnect(error?: unknown): void {
    if (closed) return;
    const delayMs = backoff;
    backoff = Math.min(maxBackoff, backoff * 2);
    options.onDisconnect?.({ ...(error === undefined ? {} : { error }), delayMs });
    logger.warn({ err: error, delayMs }, 'docker events stream dropped; reconnecting');
    timer = setTimeout(() => {
      timer = undefined;
      open(true).catch((err: unknown) => scheduleReconnect(err));
    }, delayMs);
  }

  try {
    await open(false);
  } catch (err) {
    throw engineError('EventsUnavailable', 'cannot follow Docker events', err);
  }

  return {
    close(): void {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      stream?.destroy?.();
    },
  };
}
