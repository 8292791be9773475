import type { ManagedContainerEvent, ObservedContainer } from '../../engine/types.js';

/**
 * Pure reading of a burst of Docker events for one stack: which containers went down, were
 * removed or turned unhealthy, and whether Docker's listing confirms it now.
 */

/** Actions that can leave a managed container down. */
export const DOWN_ACTIONS: ReadonlySet<string> = new Set(['die', 'stop', 'kill', 'oom', 'destroy']);
/** Followed within a burst, so a restart (by a restart policy, say) is not taken for drift. */
export const UP_ACTIONS: ReadonlySet<string> = new Set(['start', 'restart']);
const UP_STATES: ReadonlySet<string> = new Set(['running', 'restarting', 'paused']);

/** An event that opens a burst: a container going down or turning unhealthy. */
export function opensBurst(event: ManagedContainerEvent): boolean {
  return DOWN_ACTIONS.has(event.action) || turnedUnhealthy(event);
}

/** An event that only matters inside a burst: the container came back. */
export function closesBurst(event: ManagedContainerEvent): boolean {
  return (
    UP_ACTIONS.has(event.action) || (event.action === 'health_status' && event.health === 'healthy')
  );
}

export function turnedUnhealthy(event: ManagedContainerEvent): boolean {
  return event.action === 'health_status' && event.health === 'unhealthy';
}

export interface Suspect {
  id: string;
  name: string;
  service: string;
  /** A stop, kill or oom was seen: an exit 0 afterwards is not a one-shot finishing. */
  forced: boolean;
  destroyed: boolean;
  /** The burst's last lifecycle event took the container down (die, stop, destroy). */
  lastDown: boolean;
  /** The last health event said unhealthy. */
  unhealthy: boolean;
}

export interface DownContainers {
  stopped: Suspect[];
  removed: Suspect[];
  unhealthy: Suspect[];
  /** The listing still says running although the events said it died (the listing lags). */
  unsure: Suspect[];
}

function apply(suspect: Suspect, event: ManagedContainerEvent): void {
  const { action } = event;
  if (action === 'die' || action === 'stop' || action === 'destroy') suspect.lastDown = true;
  if (UP_ACTIONS.has(action)) {
    suspect.lastDown = false;
    suspect.unhealthy = false;
  }
  if (action === 'stop' || action === 'kill' || action === 'oom') suspect.forced = true;
  if (action === 'die' && event.exitCode !== undefined && event.exitCode !== 0)
    suspect.forced = true;
  if (action === 'destroy') suspect.destroyed = true;
  if (action === 'health_status') suspect.unhealthy = event.health === 'unhealthy';
}

export function suspectsOf(events: ManagedContainerEvent[]): Suspect[] {
  const byId = new Map<string, Suspect>();
  for (const event of events) {
    const suspect = byId.get(event.containerId) ?? {
      id: event.containerId,
      name: event.containerName,
      service: event.service,
      forced: false,
      destroyed: false,
      lastDown: false,
      unhealthy: false,
    };
    apply(suspect, event);
    byId.set(event.containerId, suspect);
  }
  return [...byId.values()];
}

/** Compares the burst with what Docker reports now; returns what is still down. */
export function stillDown(suspects: Suspect[], containers: ObservedContainer[]): DownContainers {
  const byId = new Map(containers.map((c) => [c.id, c]));
  const byName = new Map(containers.map((c) => [c.name, c]));
  const down: DownContainers = { stopped: [], removed: [], unhealthy: [], unsure: [] };
  for (const suspect of suspects) {
    const current = byId.get(suspect.id);
    if (current === undefined) {
      // Someone (berth's deploy, compose) may have created its replacement already.
      const replacement = byName.get(suspect.name);
      if (replacement === undefined || !UP_STATES.has(replacement.state))
        down.removed.push(suspect);
      continue;
    }
    if (UP_STATES.has(current.state)) {
      // Docker's listing can still say running just after it reported the container died.
      if (suspect.lastDown) down.unsure.push(suspect);
      else if (suspect.unhealthy && current.health === 'unhealthy') down.unhealthy.push(suspect);
      continue;
    }
    // A one-shot service that finished cleanly by itself is where it should be.
    if (current.state === 'exited' && current.exitCode === 0 && !suspect.forced) continue;
    down.stopped.push(suspect);
  }
  return down;
}

export function nothingDown(down: DownContainers): boolean {
  return down.stopped.length + down.removed.length + down.unhealthy.length === 0;
}

/** The drift in words, for logs, the health history and the repair's record. */
export function describeDown(down: DownContainers): string {
  return [
    ...down.stopped.map((s) => `container ${s.name} stopped`),
    ...down.removed.map((s) => `container ${s.name} removed`),
    ...down.unhealthy.map((s) => `container ${s.name} unhealthy`),
  ].join('; ');
}
