import { dependencyLevels, serviceDependencies } from '../compose/dependencies.js';
import type { ComposeProject } from '../compose/types.js';
import { EngineError } from '../errors.js';
import { LABEL } from './types.js';

/** Each service and the services it depends on (unknown names are ignored by the walk). */
export type DependencyGraph = ReadonlyMap<string, readonly string[]>;

/**
 * `start`: a service after everything it depends on (apply, rollouts).
 * `stop`: a service after everything that depends on it (stop, down).
 */
export type WalkOrder = 'start' | 'stop';

export interface WalkOptions {
  order?: WalkOrder;
  /** Only these services are visited; the others count as done from the start. Default all. */
  only?: ReadonlySet<string>;
}

/** The project's graph: depends_on plus every `service:` reference. Refuses a cycle up front. */
export function projectGraph(project: ComposeProject): DependencyGraph {
  dependencyLevels(project);
  return new Map(
    Object.values(project.services).map((service) => [service.name, serviceDependencies(service)]),
  );
}

/**
 * The graph of what runs, from Compose's depends_on label ("svc:condition:restart,..."), for
 * when there is no project file (stop, down). Containers without a service label are ''.
 */
export function labelGraph(
  labelSets: Iterable<Record<string, string> | undefined>,
): DependencyGraph {
  const graph = new Map<string, string[]>();
  for (const labels of labelSets) {
    const service = labels?.[LABEL.service] ?? '';
    const deps = (labels?.[LABEL.dependsOn] ?? '')
      .split(',')
      .map((entry) => entry.split(':')[0] ?? '')
      .filter((name) => name !== '' && name !== service);
    graph.set(service, [...new Set([...(graph.get(service) ?? []), ...deps])]);
  }
  return graph;
}

/** For each service, what must be done before it: its dependencies, or its dependents. */
function predecessors(graph: DependencyGraph, order: WalkOrder): Map<string, Set<string>> {
  const before = new Map<string, Set<string>>([...graph.keys()].map((name) => [name, new Set()]));
  for (const [name, deps] of graph) {
    for (const dep of deps) {
      if (!graph.has(dep)) continue;
      if (order === 'start') before.get(name)?.add(dep);
      else before.get(dep)?.add(name);
    }
  }
  return before;
}

/**
 * Visits every service once, as Compose v2 traverses its graph: each as soon as its
 * predecessors are done, so services without an order between them run in parallel. After a
 * failure nothing new starts; the visits under way finish (no Docker call outlives the walk)
 * and the first failure is thrown. Returns each visited service's result.
 */
export async function walkServices<T>(
  graph: DependencyGraph,
  visit: (service: string) => Promise<T>,
  options: WalkOptions = {},
): Promise<Map<string, T>> {
  const before = predecessors(graph, options.order ?? 'start');
  const done = new Set([...graph.keys()].filter((name) => options.only?.has(name) === false));
  const results = new Map<string, T>();
  const running = new Map<string, Promise<void>>();
  let failure: { err: unknown } | undefined;

  const ready = (name: string): boolean =>
    !done.has(name) &&
    !running.has(name) &&
    [...(before.get(name) ?? [])].every((p) => done.has(p));

  while (failure === undefined && done.size < graph.size) {
    for (const name of [...graph.keys()].filter(ready)) {
      // A visit that throws before its first await fails like one that rejects.
      const run = new Promise<T>((resolve) => resolve(visit(name))).then(
        (value) => {
          results.set(name, value);
          done.add(name);
        },
        (err: unknown) => {
          failure ??= { err };
        },
      );
      running.set(
        name,
        run.finally(() => running.delete(name)),
      );
    }
    if (running.size === 0) {
      const left = [...graph.keys()].filter((name) => !done.has(name)).sort();
      throw new EngineError(
        'DependencyCycle',
        `dependency cycle between services ${left.join(', ')}`,
      );
    }
    await Promise.race(running.values());
  }
  await Promise.all(running.values());
  if (failure !== undefined) throw failure.err;
  return results;
}
