import { z } from 'zod';
import { isHostGlob } from './glob.js';
import { HOST_NAMESPACES, POLICY_PRESETS } from './types.js';

/** The `policy:` section of berth's config as written; normalized by `normalizePolicy`. */

const HostGlob = z.string().refine(isHostGlob, {
  message: 'expected an absolute host path or glob such as /srv/** (or ** for any path)',
});

const Capability = z
  .string()
  .regex(/^[A-Za-z0-9_*?]+$/, 'expected a capability name such as NET_ADMIN, or *');

/** The keys a per-stack exception may set too. */
const RULE_KEYS = {
  privileged: z.boolean().optional(),
  hostNamespaces: z.array(z.enum(HOST_NAMESPACES)).optional(),
  capabilities: z.array(Capability).optional(),
  /** true: any device, false: none, or host path globs of the devices allowed. */
  devices: z.union([z.boolean(), z.array(HostGlob)]).optional(),
  securityOpt: z.array(z.string().min(1)).optional(),
  bindMounts: z.array(HostGlob).optional(),
};

export const PolicyRulesInput = z.strictObject(RULE_KEYS);
export type PolicyRulesInput = z.infer<typeof PolicyRulesInput>;

export const PolicyConfig = z.strictObject({
  preset: z.enum(POLICY_PRESETS).default('standard'),
  ...RULE_KEYS,
  adopt: z.array(z.string().min(1)).default([]),
  stacks: z.record(z.string().min(1), PolicyRulesInput).default({}),
});
export type PolicyConfig = z.infer<typeof PolicyConfig>;
