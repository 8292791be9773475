import type { ObservedContainer, ObservedProject } from './types.js';
import type { PlanEntry } from '../plan-entry.js';

/** What one service should look like after converging. */
export interface DesiredService {
  service: string;
  /** berth's config hash of the service (see src/engine/hash.ts). */
  hash: string;
  /** Image ID the service's image reference resolves to now. */
  imageId: string;
  replicas: number;
  /** Container name for replica n. */
  containerName: (number: number) => string;
  /** Dependencies declared with `restart: true`: recreating them restarts this service. */
  restartWith?: string[];
}

export interface ContainerPlanOptions {
  /** Remove containers of services that left the file. Default true. */
  removeOrphans?: boolean;
  /** Recreate even when hash and image match. */
  forceRecreate?: boolean;
  /**
   * Every service the project file defines. Containers of services outside this set are orphans;
   * defaults to the desired services.
   */
  projectServices?: string[];
}

/** A plan entry with what executing it needs. Subjects are container names. */
export interface ContainerPlanEntry extends PlanEntry {
  service: string;
  number: number;
  /** The existing container the entry acts on (recreate, remove, unchanged). */
  container?: ObservedContainer;
  /** unchanged entries only: the container is not running and gets started. */
  start?: boolean;
  /** unchanged entries only: a `restart: true` dependency is recreated, restart it after. */
  restart?: boolean;
}

const RUNNING_STATES = new Set(['running', 'restarting', 'paused']);

function sortedByNumber(containers: ObservedContainer[]): ObservedContainer[] {
  return [...containers].sort((a, b) => a.number - b.number || a.name.localeCompare(b.name));
}

function changeReason(
  desired: DesiredService,
  container: ObservedContainer,
  forceRecreate: boolean,
): string | undefined {
  if (forceRecreate) return 'forced recreate';
  if (container.state === 'dead' || container.state === 'removing')
    return `container ${container.state}`;
  if (container.configHash !== desired.hash) return 'config hash changed';
  if (container.imageId !== desired.imageId) return 'image changed';
  return undefined;
}

/**
 * Compares desired services with the containers Docker reports, the way Compose v2 converges:
 * one entry per container, in service order, with the reason a user reads in deployment logs.
 * Pure: the engine executes the entries.
 */
export function computeContainerPlan(
  desired: DesiredService[],
  observed: ObservedProject,
  options: ContainerPlanOptions = {},
): ContainerPlanEntry[] {
  const entries: ContainerPlanEntry[] = [];
  const removeOrphans = options.removeOrphans ?? true;
  const forceRecreate = options.forceRecreate ?? false;
  const known = new Set(options.projectServices ?? desired.map((d) => d.service));
  for (const d of desired) known.add(d.service);

  for (const name of Object.keys(observed.services).sort()) {
    if (known.has(name)) continue;
    for (const container of sortedByNumber(observed.services[name]?.containers ?? [])) {
      entries.push({
        subject: container.name,
        service: name,
        number: container.number,
        container,
        action: removeOrphans ? 'remove' : 'skip',
        reason: removeOrphans
          ? 'orphan: service left the file'
          : 'orphan: service left the file (kept, removeOrphans off)',
      });
    }
  }

  const recreated = new Set<string>();
  const serviceEntries = new Map<string, ContainerPlanEntry[]>();
  for (const d of desired) {
    const list: ContainerPlanEntry[] = [];
    const containers = sortedByNumber(observed.services[d.service]?.containers ?? []);
    const byNumber = new Map<number, ObservedContainer>();
    const extra: ObservedContainer[] = [];
    for (const c of containers) {
      if (c.number >= 1 && c.number <= d.replicas && !byNumber.has(c.number))
        byNumber.set(c.number, c);
      else extra.push(c);
    }
    for (const c of extra) {
      list.push({
        subject: c.name,
        service: d.service,
        number: c.number,
        container: c,
        action: 'remove',
        reason: c.number > d.replicas ? 'scale down' : 'duplicate container number',
      });
    }
    for (let n = 1; n <= d.replicas; n++) {
      const c = byNumber.get(n);
      if (c === undefined) {
        list.push({
          subject: d.containerName(n),
          service: d.service,
          number: n,
          action: 'create',
          reason: 'missing',
        });
        continue;
      }
      const why = changeReason(d, c, forceRecreate);
      if (why !== undefined) {
        recreated.add(d.service);
        list.push({
          subject: c.name,
          service: d.service,
          number: n,
          container: c,
          action: 'recreate',
          reason: why,
        });
      } else if (!RUNNING_STATES.has(c.state)) {
        list.push({
          subject: c.name,
          service: d.service,
          number: n,
          container: c,
          action: 'unchanged',
          reason: `${c.state}: up to date, started again`,
          start: true,
        });
      } else {
        list.push({
          subject: c.name,
          service: d.service,
          number: n,
          container: c,
          action: 'unchanged',
          reason: 'up to date',
        });
      }
    }
    serviceEntries.set(d.service, list);
  }

  for (const d of desired) {
    const list = serviceEntries.get(d.service) ?? [];
    const trigger = (d.restartWith ?? []).find((dep) => recreated.has(dep));
    if (trigger !== undefined) {
      for (const e of list) {
        if (e.action === 'unchanged' && e.start !== true) {
          e.restart = true;
          e.reason = `restarted: dependency ${trigger} recreated`;
        }
      }
    }
    entries.push(...list);
  }
  return entries;
}
