import path from 'node:path';
import type { ComposeProject, ServiceConfig, VolumeConfig } from '../compose/types.js';
import { StackError } from '../errors.js';
import { isDecryptedFileOf } from '../stack/decrypted.js';
import { isInside, isLiteral, matchesHostGlob, matchesName, normalizeHostPath } from './glob.js';
import { normalizeCapability, normalizeSecurityOpt, policyForStack } from './presets.js';
import type { HostNamespace, Policy, PolicyKey, PolicyViolation, StackPolicy } from './types.js';

/** A stack whose compose project the policy refuses; lists every violation, not the first. */
export class PolicyError extends StackError {
  readonly violations: PolicyViolation[];

  constructor(stack: string, violations: PolicyViolation[]) {
    const first = violations[0];
    super('PolicyViolation', `stack "${stack}": ${violations.map((v) => v.message).join('; ')}`, {
      place: { stack, file: first?.file, service: first?.service, field: first?.field },
    });
    this.violations = violations;
  }
}

/** Throws a PolicyError naming each thing the stack's project asks for that it may not. */
export function assertPolicy(project: ComposeProject, policy: Policy, stack: string): void {
  const violations = checkPolicy(project, policyForStack(policy, stack), stack);
  if (violations.length > 0) throw new PolicyError(stack, violations);
}

interface Context {
  stack: string;
  file: string;
  workingDir: string;
  policy: StackPolicy;
}

/** Where a finding is: `service "web"` or `volume "data"`, and the compose field. */
interface Where {
  service?: string;
  subject: string;
  field: string;
}

/** Everything in the project the policy does not allow; pure, in the order of the file. */
export function checkPolicy(
  project: ComposeProject,
  policy: StackPolicy,
  stack: string,
): PolicyViolation[] {
  const ctx: Context = {
    stack,
    file: composeFileOf(project),
    workingDir: project.workingDir,
    policy,
  };
  return [
    ...Object.values(project.services).flatMap((service) => checkService(ctx, service)),
    ...Object.values(project.volumes).flatMap((volume) => checkVolumeDefinition(ctx, volume)),
  ];
}

function checkService(ctx: Context, service: ServiceConfig): PolicyViolation[] {
  const { rules } = ctx.policy;
  const found: PolicyViolation[] = [];
  const at = (field: string): Where => ({
    service: service.name,
    subject: `service "${service.name}"`,
    field,
  });
  const refuse = (field: string, key: PolicyKey, value: string, what: string): void => {
    found.push(
      violation(ctx, at(field), key, value, `${what} is not allowed by ${keyOf(ctx, key)}`),
    );
  };

  if (service.privileged && !rules.privileged)
    refuse('privileged', 'privileged', 'true', 'privileged mode');
  const namespaces: [string, HostNamespace, string | undefined][] = [
    ['network_mode', 'network', service.networkMode],
    ['pid', 'pid', service.pid],
    ['ipc', 'ipc', service.ipc],
  ];
  for (const [field, namespace, mode] of namespaces) {
    if (mode === 'host' && !rules.hostNamespaces.includes(namespace))
      refuse(field, 'hostNamespaces', mode, `the host's ${namespace} namespace`);
  }
  service.capAdd.forEach((entry, i) => {
    const name = normalizeCapability(entry);
    if (!rules.capabilities.some((pattern) => matchesName(pattern, name)))
      refuse(`cap_add[${i}]`, 'capabilities', entry, `capability "${name}"`);
  });
  service.devices.forEach((device, i) => {
    if (!rules.devices.some((pattern) => matchesHostGlob(pattern, device.source)))
      refuse(`devices[${i}]`, 'devices', device.source, `device "${device.source}"`);
  });
  service.securityOpt.forEach((entry, i) => {
    const option = normalizeSecurityOpt(entry);
    if (!rules.securityOpt.some((pattern) => matchesName(pattern, option)))
      refuse(`security_opt[${i}]`, 'securityOpt', entry, `security option "${entry}"`);
  });
  service.volumes.forEach((volume, i) => {
    if (volume.type !== 'bind' || volume.source === undefined) return;
    const refused = checkHostPath(ctx, at(`volumes[${i}]`), volume.source);
    if (refused !== undefined) found.push(refused);
  });
  return found;
}

/** A local volume with `o: bind` is a bind mount by another name: the same rules apply. */
function checkVolumeDefinition(ctx: Context, volume: VolumeConfig): PolicyViolation[] {
  if (volume.external || (volume.driver !== undefined && volume.driver !== 'local')) return [];
  const device = volume.driverOpts.device;
  const options = (volume.driverOpts.o ?? '').split(',').map((option) => option.trim());
  if (device === undefined || !(options.includes('bind') || options.includes('rbind'))) return [];
  const where = { subject: `volume "${volume.key}"`, field: 'driver_opts.device' };
  const refused = checkHostPath(ctx, where, device);
  return refused === undefined ? [] : [refused];
}

/**
 * A bind-mount source. Inside the stack folder it is the stack's own files (containment keeps
 * relative sources there). berth's data dir is never mountable: it holds the state database
 * and the control socket, through which a container could command berth. A folder above it
 * hands the data dir over too, `/` included, so even `standard` refuses those unless the
 * operator writes that very path in bindMounts (`/` for node-exporter's `/:/host:ro`): a
 * whole-host mount should be a decision someone made for one stack, never a wildcard's
 * side effect. Paths are compared as written (this is pure): a host symlink into the data dir
 * is the operator's to avoid allowing.
 */
function checkHostPath(ctx: Context, where: Where, raw: string): PolicyViolation | undefined {
  const source = normalizeHostPath(raw);
  if (isInside(source, ctx.workingDir)) return undefined;
  const { rules, dataDir } = ctx.policy;
  // The plaintext berth wrote of the stack's own encrypted files (its own, so nothing new).
  if (dataDir !== undefined && isDecryptedFileOf(source, dataDir, ctx.stack)) return undefined;
  const key = keyOf(ctx, 'bindMounts');
  const refuse = (why: string): PolicyViolation =>
    violation(ctx, where, 'bindMounts', source, `host path "${source}" ${why}`);
  if (dataDir !== undefined && isInside(source, dataDir))
    return refuse(
      `${normalizeHostPath(dataDir) === source ? 'is' : 'is inside'} berth's data dir "${dataDir}", which no policy allows`,
    );
  if (!rules.bindMounts.some((pattern) => matchesHostGlob(pattern, source)))
    return refuse(`is not allowed by ${key}`);
  const named = rules.bindMounts.some(
    (pattern) => isLiteral(pattern) && normalizeHostPath(pattern) === source,
  );
  if (dataDir !== undefined && isInside(dataDir, source) && !named)
    return refuse(
      `holds berth's data dir "${dataDir}": allowed only when ${key} lists "${source}" itself`,
    );
  return undefined;
}

function violation(
  ctx: Context,
  where: Where,
  key: PolicyKey,
  value: string,
  refusal: string,
): PolicyViolation {
  const found: PolicyViolation = {
    stack: ctx.stack,
    file: ctx.file,
    field: where.field,
    value,
    key,
    message: `${ctx.file}: ${where.subject}: field "${where.field}": ${refusal}`,
  };
  if (where.service !== undefined) found.service = where.service;
  return found;
}

/** The config key that would allow it: the stack's exception when it sets that key. */
function keyOf(ctx: Context, key: PolicyKey): string {
  return ctx.policy.excepted.includes(key) ? `policy.stacks.${ctx.stack}.${key}` : `policy.${key}`;
}

function composeFileOf(project: ComposeProject): string {
  const main = project.configFiles[0];
  return main === undefined ? 'compose.yaml' : path.relative(project.workingDir, main) || main;
}
