import { ANY } from './glob.js';
import type { PolicyConfig, PolicyRulesInput } from './schema.js';
import {
  HOST_NAMESPACES,
  type Policy,
  type PolicyKey,
  type PolicyPreset,
  type PolicyRules,
  type PolicySettings,
  type StackPolicy,
} from './types.js';

/**
 * `standard` keeps every ordinary Compose stack deploying: home servers run Traefik with the
 * Docker socket, Home Assistant with the host network, WireGuard with NET_ADMIN and Jellyfin
 * with /dev/dri. It refuses only berth's own data dir (see check.ts). Whoever can push to the
 * repository is then as powerful as root on the host; `strict` is for when that is too much.
 */
export const STANDARD: Readonly<PolicyRules> = {
  privileged: true,
  hostNamespaces: [...HOST_NAMESPACES],
  capabilities: ['*'],
  devices: [ANY],
  securityOpt: ['*'],
  bindMounts: [ANY],
};

/** Nothing that reaches past the container, but `no-new-privileges`, which only narrows. */
export const STRICT: Readonly<PolicyRules> = {
  privileged: false,
  hostNamespaces: [],
  capabilities: [],
  devices: [],
  securityOpt: ['no-new-privileges*'],
  bindMounts: [],
};

export const PRESETS: Readonly<Record<PolicyPreset, Readonly<PolicyRules>>> = {
  standard: STANDARD,
  strict: STRICT,
};

/** What a berth without a `policy:` section enforces. */
export const DEFAULT_POLICY: PolicySettings = {
  preset: 'standard',
  rules: { ...STANDARD },
  stacks: {},
  adopt: [],
};

/** The preset, with the keys the config sets on top; stack exceptions keep only their keys. */
export function normalizePolicy(input: PolicyConfig): PolicySettings {
  return {
    preset: input.preset,
    rules: { ...PRESETS[input.preset], ...rulesOf(input) },
    stacks: Object.fromEntries(
      Object.entries(input.stacks).map(([stack, rules]) => [stack, rulesOf(rules)]),
    ),
    adopt: [...input.adopt],
  };
}

/** Adds what only the running berth knows; no settings means the default policy. */
export function resolvePolicy(settings: PolicySettings | undefined, dataDir?: string): Policy {
  const policy: Policy = { ...(settings ?? DEFAULT_POLICY) };
  if (dataDir !== undefined) policy.dataDir = dataDir;
  return policy;
}

/** The rules one stack is held to: the global ones with its exceptions in their place. */
export function policyForStack(policy: Policy, stack: string): StackPolicy {
  const exception = Object.hasOwn(policy.stacks, stack) ? policy.stacks[stack] : undefined;
  const resolved: StackPolicy = {
    rules: { ...policy.rules, ...exception },
    excepted: Object.keys(exception ?? {}) as PolicyKey[],
    adopt: policy.adopt.includes(stack),
  };
  if (policy.dataDir !== undefined) resolved.dataDir = policy.dataDir;
  return resolved;
}

/** Whether the operator lets the stack take over containers berth did not create. */
export function mayAdopt(policy: Policy, stack: string): boolean {
  return policy.adopt.includes(stack);
}

/** `CAP_NET_ADMIN`, `net_admin` and `NET_ADMIN` are one capability to Docker. */
export function normalizeCapability(name: string): string {
  const upper = name.toUpperCase();
  return upper.startsWith('CAP_') ? upper.slice(4) : upper;
}

/** Docker takes `seccomp=unconfined` and `seccomp:unconfined` alike. */
export function normalizeSecurityOpt(entry: string): string {
  return entry.replace(/^([^:=]*)=/, '$1:');
}

function rulesOf(input: PolicyRulesInput): Partial<PolicyRules> {
  const rules: Partial<PolicyRules> = {};
  if (input.privileged !== undefined) rules.privileged = input.privileged;
  if (input.hostNamespaces !== undefined) rules.hostNamespaces = [...new Set(input.hostNamespaces)];
  if (input.capabilities !== undefined)
    rules.capabilities = input.capabilities.map(normalizeCapability);
  if (input.devices !== undefined)
    rules.devices =
      typeof input.devices === 'boolean' ? (input.devices ? [ANY] : []) : input.devices;
  if (input.securityOpt !== undefined)
    rules.securityOpt = input.securityOpt.map(normalizeSecurityOpt);
  if (input.bindMounts !== undefined) rules.bindMounts = input.bindMounts;
  return rules;
}
