import type Docker from 'dockerode';
import type {
  ContainerHealth,
  ContainerState,
  ObservedContainer,
  ObservedProject,
} from './types.js';
import { LABEL } from './types.js';
import { isManaged, ownedFilters } from './ownership.js';

const STATES: readonly ContainerState[] = [
  'created',
  'running',
  'paused',
  'restarting',
  'removing',
  'exited',
  'dead',
];

function parseState(state: string): ContainerState {
  return (STATES as readonly string[]).includes(state) ? (state as ContainerState) : 'dead';
}

/** Health from the listing's Status text ("Up 3 seconds (healthy)"), which saves an inspect. */
export function parseHealth(status: string): ContainerHealth {
  if (status.includes('(healthy)')) return 'healthy';
  if (status.includes('(unhealthy)')) return 'unhealthy';
  if (status.includes('(health: starting)')) return 'starting';
  return 'none';
}

/** Exit code from "Exited (1) 3 seconds ago". */
export function parseExitCode(status: string): number | undefined {
  const match = /^Exited \((-?\d+)\)/.exec(status);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** One container of a listing, or undefined for containers Compose would ignore (one-off runs). */
export function toObservedContainer(info: Docker.ContainerInfo): ObservedContainer | undefined {
  const labels = info.Labels ?? {};
  const service = labels[LABEL.service];
  if (service === undefined || labels[LABEL.oneoff] === 'True') return undefined;
  const exitCode = parseExitCode(info.Status);
  return {
    id: info.Id,
    name: (info.Names[0] ?? info.Id).replace(/^\//, ''),
    service,
    number: Number(labels[LABEL.containerNumber] ?? '0') || 0,
    state: parseState(info.State),
    health: parseHealth(info.Status),
    ...(labels[LABEL.configHash] === undefined ? {} : { configHash: labels[LABEL.configHash] }),
    image: info.Image,
    imageId: info.ImageID,
    labels,
    ...(exitCode === undefined ? {} : { exitCode }),
  };
}

/** Groups a listing into projects by the Compose project label. */
export function groupByProject(list: Docker.ContainerInfo[]): Map<string, ObservedProject> {
  const projects = new Map<string, ObservedProject>();
  for (const info of list) {
    const name = info.Labels?.[LABEL.project];
    if (name === undefined) continue;
    const container = toObservedContainer(info);
    if (container === undefined) continue;
    let project = projects.get(name);
    if (project === undefined) {
      project = { name, services: {} };
      projects.set(name, project);
    }
    const service = (project.services[container.service] ??= {
      name: container.service,
      containers: [],
    });
    service.containers.push(container);
    project.stackVersion ??= container.labels[LABEL.stackVersion];
    project.workingDir ??= container.labels[LABEL.workingDir];
  }
  for (const project of projects.values()) {
    for (const service of Object.values(project.services)) {
      service.containers.sort((a, b) => a.number - b.number);
    }
    if (project.stackVersion === undefined) delete project.stackVersion;
    if (project.workingDir === undefined) delete project.workingDir;
  }
  return projects;
}

/**
 * Lists a project's containers (all states) in one call: berth's own only, unless it adopts
 * the project's hand-run containers (`adopt`).
 */
export async function listProject(
  docker: Docker,
  project: string,
  adopt = false,
): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: ownedFilters(project, adopt) } });
}

/** Names of the project's containers that berth did not create (all states, one-off runs too). */
export async function listForeign(docker: Docker, project: string): Promise<string[]> {
  const listed = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL.project}=${project}`] },
  });
  return listed
    .filter((c) => !isManaged(c.Labels))
    .map((c) => (c.Names[0] ?? c.Id).replace(/^\//, ''))
    .sort();
}

export function emptyProject(name: string): ObservedProject {
  return { name, services: {} };
}
