import type { ComposeProject, ServiceConfig } from '../compose/types.js';
import { LABEL } from './types.js';

/** The Compose v2 release whose labels and naming berth follows. */
export const COMPOSE_VERSION = '2.29.0';

/** `<project>-<service>-<n>` as Compose v2 names containers, unless container_name is set. */
export function containerName(project: string, service: ServiceConfig, number: number): string {
  if (service.containerName !== undefined && number === 1) return service.containerName;
  return `${project}-${service.name}-${number}`;
}

/** A blue-green or canary container's name while the old container still holds `finalName`. */
export function candidateName(finalName: string, deploymentId: number): string {
  return `${finalName}-new-${deploymentId}`;
}

/** A stop-first service's old container's name while the new one takes `name`. */
export function asideName(name: string, deploymentId: number): string {
  return `${name}-prev-${deploymentId}`;
}

/** The name a candidate or aside container of the deployment had, or will have, for good. */
export function finalNameOf(name: string, deploymentId: number): string {
  for (const suffix of [`-new-${deploymentId}`, `-prev-${deploymentId}`])
    if (name.endsWith(suffix)) return name.slice(0, -suffix.length);
  return name;
}

/** The tag Compose v2 gives an image it builds for a service without `image:`. */
export function imageRef(project: string, service: ServiceConfig): string {
  return service.image ?? `${project}-${service.name}`;
}

/** Compose v2's depends_on label: "svc:condition:restart", comma-joined. */
export function dependsOnLabel(service: ServiceConfig): string {
  return Object.entries(service.dependsOn)
    .map(([name, dep]) => `${name}:${dep.condition}:${String(dep.restart)}`)
    .join(',');
}

/** The labels berth applies a stack version with: part of what `apply` and `plan` compare. */
export function versionLabels(version: string): Record<string, string> {
  return { [LABEL.stackVersion]: version, [LABEL.managed]: 'true' };
}

/** Every label of one container: user labels, then Compose's and berth's (which win). */
export function containerLabels(input: {
  project: ComposeProject;
  service: ServiceConfig;
  number: number;
  hash: string;
  image: string;
  extra: Record<string, string>;
}): Record<string, string> {
  const { project, service } = input;
  return {
    ...service.labels,
    ...input.extra,
    [LABEL.project]: project.name,
    [LABEL.service]: service.name,
    [LABEL.containerNumber]: String(input.number),
    [LABEL.oneoff]: 'False',
    [LABEL.configHash]: input.hash,
    [LABEL.workingDir]: project.workingDir,
    [LABEL.configFiles]: project.configFiles.join(','),
    [LABEL.dependsOn]: dependsOnLabel(service),
    [LABEL.version]: COMPOSE_VERSION,
    [LABEL.image]: input.image,
    [LABEL.managed]: 'true',
  };
}

/** Labels of a network or volume the project owns; no config hash, as Compose writes them. */
export function resourceLabels(
  project: string,
  kind: 'network' | 'volume',
  key: string,
  user: Record<string, string>,
): Record<string, string> {
  return {
    ...user,
    [LABEL.project]: project,
    [kind === 'network' ? LABEL.network : LABEL.volume]: key,
    [LABEL.version]: COMPOSE_VERSION,
    [LABEL.managed]: 'true',
  };
}
