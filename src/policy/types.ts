/**
 * What the operator lets a stack's compose project ask Docker for. The repository never sets
 * any of this: it comes from berth's config, so write access to the repository cannot widen it.
 */

export const HOST_NAMESPACES = ['network', 'pid', 'ipc'] as const;
/** Host namespaces a service can join: `network_mode: host`, `pid: host`, `ipc: host`. */
export type HostNamespace = (typeof HOST_NAMESPACES)[number];

export const POLICY_PRESETS = ['standard', 'strict'] as const;
export type PolicyPreset = (typeof POLICY_PRESETS)[number];

/** One set of rules: the global one, or a stack's after its exceptions are applied. */
export interface PolicyRules {
  privileged: boolean;
  hostNamespaces: HostNamespace[];
  /** Name patterns of capabilities `cap_add` may add, upper case without `CAP_`; `*` = any. */
  capabilities: string[];
  /** Host path globs of devices a service may map; `**` = any, [] = none. */
  devices: string[];
  /** Name patterns of `security_opt` entries, `key:value` form; `*` = any. */
  securityOpt: string[];
  /** Host path globs allowed as bind-mount sources outside the stack folder. */
  bindMounts: string[];
}

export type PolicyKey = keyof PolicyRules;

/** The `policy:` section normalized: the preset applied, keys given in the config on top. */
export interface PolicySettings {
  preset: PolicyPreset;
  rules: PolicyRules;
  /** Per-stack exceptions: each key given replaces the global value for that stack. */
  stacks: Record<string, Partial<PolicyRules>>;
  /** Stacks that may take over a same-named Compose project berth did not create. */
  adopt: string[];
}

/** The settings plus what only the running berth knows: its own data dir. */
export interface Policy extends PolicySettings {
  /** Never mountable: it holds the state database, the lock and the control socket. */
  dataDir?: string;
}

/** The rules one stack is checked against. */
export interface StackPolicy {
  rules: PolicyRules;
  /** Keys set by the stack's exception, so a refusal names `policy.stacks.<stack>.<key>`. */
  excepted: PolicyKey[];
  adopt: boolean;
  dataDir?: string;
}

/** One thing a compose project asks for that the policy does not allow. */
export interface PolicyViolation {
  stack: string;
  /** The compose file, relative to the stack folder. */
  file: string;
  /** Absent for a top-level volume definition. */
  service?: string;
  /** The compose field, as written: `volumes[0]`, `cap_add[1]`, `network_mode`. */
  field: string;
  value: string;
  key: PolicyKey;
  /** `file: service "x": field "y": what is refused and which key allows it`. */
  message: string;
}
