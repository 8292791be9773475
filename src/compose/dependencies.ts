import { ComposeError } from '../errors.js';
import type { ComposeProject, ServiceConfig } from './types.js';

/**
 * Services whose container this service's create body names (links, volumes_from,
 * network_mode, ipc and pid `service:`): they must exist, under their final ID, before it is created.
 */
export function referencedServices(service: ServiceConfig): string[] {
  const deps = new Set<string>();
  for (const link of service.links) deps.add(link.split(':')[0] ?? link);
  for (const from of service.volumesFrom) {
    const [kind, name] = from.split(':');
    if (kind === 'service' && name !== undefined) deps.add(name);
    else if (kind !== 'container' && kind !== undefined && name === undefined) deps.add(kind);
  }
  for (const mode of [service.networkMode, service.ipc, service.pid]) {
    if (mode?.startsWith('service:') === true) deps.add(mode.slice('service:'.length));
  }
  deps.delete(service.name);
  return [...deps];
}

/** Services a service needs started first: depends_on plus every `service:` reference. */
export function serviceDependencies(service: ServiceConfig): string[] {
  const deps = new Set<string>([...Object.keys(service.dependsOn), ...referencedServices(service)]);
  deps.delete(service.name);
  return [...deps];
}

/** Topological levels over the dependency graph; a cycle is an error naming its services. */
export function dependencyLevels(project: ComposeProject): string[][] {
  const levels: string[][] = [];
  const placed = new Map<string, number>();
  const remaining = new Set(Object.keys(project.services));
  while (remaining.size > 0) {
    const level: string[] = [];
    for (const name of remaining) {
      const service = project.services[name];
      if (service === undefined) continue;
      const deps = serviceDependencies(service).filter((d) => project.services[d] !== undefined);
      if (deps.every((d) => placed.has(d))) level.push(name);
    }
    if (level.length === 0) {
      throw new ComposeError(
        'DependencyCycle',
        `dependency cycle between services ${[...remaining].sort().join(', ')}`,
        { place: { stack: project.name } },
      );
    }
    level.sort();
    for (const name of level) {
      placed.set(name, levels.length);
      remaining.delete(name);
    }
    levels.push(level);
  }
  return levels;
}
