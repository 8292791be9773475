import { createHash } from 'node:crypto';
import type { ComposeProject, ServiceConfig } from '../compose/types.js';
import { LABEL } from './types.js';

/** JSON with object keys sorted at every level, so equal configs hash equal. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/**
 * berth's config hash of a service: SHA-256 of the canonical service minus the fields that do
 * not change a container (scale, profiles, depends_on, build, pull_policy), plus the extra
 * labels berth puts on containers (but the stack version) and the content of the secrets and configs it mounts.
 */
export function serviceConfigHash(
  project: ComposeProject,
  service: ServiceConfig,
  extraLabels: Record<string, string> = {},
): string {
  const {
    replicas: _replicas,
    profiles: _profiles,
    dependsOn: _dependsOn,
    build: _build,
    pullPolicy: _pullPolicy,
    deploy,
    ...rest
  } = service;
  let deployRest: Record<string, unknown> | undefined;
  if (deploy !== undefined) {
    const { replicas: _deployReplicas, ...others } = deploy;
    deployRest = others;
  }
  const files = {
    secrets: service.secrets.map((ref) => project.secrets[ref.source] ?? null),
    configs: service.configs.map((ref) => project.configs[ref.source] ?? null),
  };
  // The stack version is left out: a service whose config did not change keeps its container
  // when another service of the stack is replaced (blue-green, canary).
  const { [LABEL.stackVersion]: _version, ...labels } = extraLabels;
  const canonical = canonicalJson({
    service: { ...rest, deploy: deployRest },
    extraLabels: labels,
    files,
  });
  return createHash('sha256').update(canonical).digest('hex');
}
