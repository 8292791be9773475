import type { ComposeProject, ServiceConfig } from '../../compose/types.js';
import type { ContainerPlanItem } from '../../engine/types.js';
import { projectGraph, type DependencyGraph } from '../../engine/walk.js';
import type { BatchSize } from '../../stack/types.js';
import type { PlanEntry } from '../../plan-entry.js';

/** The deploy methods that roll new containers beside the old ones. */
export type RolloutMethod = 'blue-green' | 'canary';

/**
 * side-by-side: new containers start beside the old ones and take over once healthy.
 * stop-first: the service cannot run twice, so its old containers stop before the new start.
 */
export type RolloutMode = 'side-by-side' | 'stop-first';

export interface Replacement {
  /** Replica number the new container takes. */
  number: number;
  /** The container it replaces; none for a new replica. */
  old?: { id: string; name: string };
}

export interface ServiceRollout {
  service: string;
  /** Dependency level: orders the plan's lines; the roll itself waits only for `after`. */
  level: number;
  /**
   * The rolled services this one depends on, directly or through services left unchanged:
   * its roll starts once theirs have finished.
   */
  after: string[];
  mode: RolloutMode;
  /** Why the service is rolled stop-first, or why it is rolled at all. */
  reason: string;
  replacements: Replacement[];
  /** Replacements grouped into batches (canary); blue-green and stop-first have one. */
  batches: Replacement[][];
}

export interface Removal {
  service: string;
  containerId: string;
  name: string;
  reason: string;
}

export interface RolloutPlan {
  /** Services that get new containers, in dependency order. */
  services: ServiceRollout[];
  /** Services left as they are. */
  unchanged: string[];
  /** Containers removed after the switch: orphans, scale-down, duplicates. */
  removals: Removal[];
  /** What --dry-run prints and the deployment log records, one line per service or removal. */
  entries: PlanEntry[];
}

export interface RolloutPlanInput {
  project: ComposeProject;
  /** The engine's container plan for the new version (`engine.plan`). */
  items: ContainerPlanItem[];
  /** dependencyLevels(project). */
  levels: string[][];
  method: RolloutMethod;
  /** canary only. */
  batch?: BatchSize;
  /** Compose volume keys marked exclusive in the deploy settings. */
  exclusiveVolumes: string[];
}

function serviceModes(service: ServiceConfig): string[] {
  return [service.networkMode, service.ipc, service.pid].filter(
    (m): m is string => m !== undefined,
  );
}

/** Services whose containers join `name`'s namespaces or mount its volumes by container. */
function referencers(project: ComposeProject, name: string): string[] {
  return Object.values(project.services)
    .filter(
      (s) =>
        s.name !== name &&
        (serviceModes(s).includes(`service:${name}`) ||
          // The loader writes every entry as `service:<name>[:mode]`.
          s.volumesFrom.some((v) => v === `service:${name}` || v.startsWith(`service:${name}:`))),
    )
    .map((s) => s.name);
}

/**
 * Why a service cannot run an old and a new container side by side, or undefined when it can.
 * Pure: read off the compose model and the settings.
 */
export function stopFirstReason(
  project: ComposeProject,
  service: ServiceConfig,
  exclusiveVolumes: readonly string[],
): string | undefined {
  if (service.containerName !== undefined) return `fixed container_name "${service.containerName}"`;
  const fixed = service.ports.find((p) => p.published !== undefined);
  if (fixed !== undefined) return `publishes fixed host port ${fixed.published}/${fixed.protocol}`;
  if (service.networkMode === 'host') return 'network_mode: host';
  const joined = serviceModes(service).find(
    (m) => m.startsWith('service:') || m.startsWith('container:'),
  );
  if (joined !== undefined) return `joins the namespace of ${joined}`;
  const shared = referencers(project, service.name);
  if (shared.length > 0)
    return `${shared.join(', ')} ${shared.length === 1 ? 'joins' : 'join'} its namespaces or volumes`;
  for (const [key, net] of Object.entries(service.networks)) {
    if (net?.ipv4Address !== undefined) return `fixed ipv4_address on network ${key}`;
    if (net?.ipv6Address !== undefined) return `fixed ipv6_address on network ${key}`;
  }
  const exclusive = service.volumes.find(
    (v) => v.type === 'volume' && v.source !== undefined && exclusiveVolumes.includes(v.source),
  );
  if (exclusive?.source !== undefined)
    return `volume ${exclusive.source} is marked exclusive in the deploy settings`;
  return undefined;
}

/** Batch size for a service of `count` new containers; at least one. */
export function batchCount(batch: BatchSize | undefined, count: number): number {
  if (batch === undefined) return Math.max(1, count);
  if ('count' in batch) return Math.max(1, Math.min(batch.count, count));
  return Math.max(1, Math.min(count, Math.ceil((count * batch.percent) / 100)));
}

/** The rolled services `name` depends on, looking through the ones that are not rolled. */
function rolledDependencies(
  graph: DependencyGraph,
  rolled: ReadonlySet<string>,
  name: string,
): string[] {
  const found = new Set<string>();
  const seen = new Set<string>([name]);
  const queue = [...(graph.get(name) ?? [])];
  for (let dep = queue.shift(); dep !== undefined; dep = queue.shift()) {
    if (seen.has(dep)) continue;
    seen.add(dep);
    if (rolled.has(dep)) found.add(dep);
    else queue.push(...(graph.get(dep) ?? []));
  }
  return [...found].sort();
}

/** The graph the rollout walks: each rolled service and the rolled services it waits for. */
export function rollGraph(plan: Pick<RolloutPlan, 'services'>): DependencyGraph {
  return new Map(plan.services.map((s) => [s.service, s.after]));
}

function chunk<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** What --dry-run prints and the deployment log records, one line per service or removal. */
function planLines(
  { services, unchanged, removals }: Omit<RolloutPlan, 'entries'>,
  method: RolloutMethod,
): PlanEntry[] {
  const entries: PlanEntry[] = [];
  for (const s of services) {
    const count = `${s.replacements.length} container${s.replacements.length === 1 ? '' : 's'}`;
    const batches =
      s.batches.length > 1 ? `, ${s.batches.length} batches of up to ${s.batches[0]!.length}` : '';
    entries.push({
      subject: s.service,
      action: s.replacements.some((r) => r.old !== undefined) ? 'recreate' : 'create',
      reason:
        s.mode === 'stop-first'
          ? `stop-first (${s.reason}): old containers stop before the new start; ${count}`
          : `${method} side by side (${s.reason}); ${count}${batches}`,
    });
  }
  for (const name of unchanged) {
    entries.push({ subject: name, action: 'unchanged', reason: 'config unchanged' });
  }
  for (const r of removals) {
    entries.push({ subject: r.name, action: 'remove', reason: `${r.reason}, after the switch` });
  }
  return entries;
}

/**
 * Blue-green and canary's plan: which services get new containers, how (side by side or
 * stop-first, and why), in which batches, and what goes at the end. Pure.
 */
export function computeRolloutPlan(input: RolloutPlanInput): RolloutPlan {
  const { project, items, levels, method } = input;
  const levelOf = new Map<string, number>();
  levels.forEach((level, i) => {
    for (const name of level) levelOf.set(name, i);
  });

  const byService = new Map<string, ContainerPlanItem[]>();
  const removals: Removal[] = [];
  for (const item of items) {
    if (item.action === 'remove' && item.containerId !== undefined) {
      removals.push({
        service: item.service,
        containerId: item.containerId,
        name: item.subject,
        reason: item.reason,
      });
      continue;
    }
    const list = byService.get(item.service) ?? [];
    list.push(item);
    byService.set(item.service, list);
  }

  const changed = new Set<string>();
  const replaced = new Set<string>();
  for (const [name, list] of byService) {
    if (list.some((i) => i.action === 'create' || i.action === 'recreate')) changed.add(name);
    if (list.some((i) => i.action === 'recreate')) replaced.add(name);
  }
  // A container that joins a replaced container's namespaces must be replaced with it; a
  // service that only gains replicas leaves its joiners alone.
  const forced = new Map<string, string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const name of [...replaced]) {
      for (const other of referencers(project, name)) {
        if (changed.has(other)) continue;
        changed.add(other);
        replaced.add(other);
        forced.set(other, `joins ${name}, which is replaced`);
        grew = true;
      }
    }
  }

  const services: ServiceRollout[] = [];
  const unchanged: string[] = [];
  for (const name of Object.keys(project.services).sort(
    (a, b) => (levelOf.get(a) ?? 0) - (levelOf.get(b) ?? 0) || a.localeCompare(b),
  )) {
    const service = project.services[name]!;
    const list = byService.get(name) ?? [];
    if (!changed.has(name)) {
      unchanged.push(name);
      continue;
    }
    const replacements: Replacement[] = list
      .filter((i) => i.action === 'create' || i.action === 'recreate' || forced.has(name))
      .map((i) => ({
        number: i.number,
        ...(i.containerId === undefined || i.action === 'create'
          ? {}
          : { old: { id: i.containerId, name: i.subject } }),
      }))
      .sort((a, b) => a.number - b.number);
    if (replacements.length === 0) {
      unchanged.push(name);
      continue;
    }
    const stopFirst = forced.get(name) ?? stopFirstReason(project, service, input.exclusiveVolumes);
    const hasOld = replacements.some((r) => r.old !== undefined);
    const mode: RolloutMode = stopFirst !== undefined && hasOld ? 'stop-first' : 'side-by-side';
    const size =
      mode === 'side-by-side' && method === 'canary'
        ? batchCount(input.batch, replacements.length)
        : replacements.length;
    const why =
      list.find((i) => i.action === 'recreate')?.reason ??
      (hasOld ? (forced.get(name) ?? 'replaced') : 'new service or replica');
    services.push({
      service: name,
      level: levelOf.get(name) ?? 0,
      after: [],
      mode,
      reason: mode === 'stop-first' ? stopFirst! : why,
      replacements,
      batches: chunk(replacements, size),
    });
  }

  const graph = projectGraph(project);
  const rolled = new Set(services.map((s) => s.service));
  for (const s of services) s.after = rolledDependencies(graph, rolled, s.service);

  const plan = { services, unchanged, removals };
  return { ...plan, entries: planLines(plan, method) };
}
