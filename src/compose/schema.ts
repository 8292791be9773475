import { z } from 'zod';
import { ComposeError } from '../errors.js';
import { refusedReason } from './fields.js';

/**
 * The raw shape of a compose file, after interpolation (so numbers and booleans may arrive as
 * strings). Strict objects: any field berth does not support is reported, never dropped.
 */

const Scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);
const Int = z.union([
  z.number().int(),
  z
    .string()
    .regex(/^[-+]?\d+$/, 'expected an integer')
    .transform(Number),
]);
const Num = z.union([
  z.number(),
  z
    .string()
    .regex(/^[-+]?\d+(\.\d+)?$/, 'expected a number')
    .transform(Number),
]);
const TRUE_WORDS = new Set(['y', 'yes', 'true', 'on']);
const FALSE_WORDS = new Set(['n', 'no', 'false', 'off']);
// Compose casts interpolated text to booleans with these words, case-insensitively.
const Bool = z.union([
  z.boolean(),
  z
    .string()
    .refine(
      (v) => TRUE_WORDS.has(v.toLowerCase()) || FALSE_WORDS.has(v.toLowerCase()),
      'expected a boolean',
    )
    .transform((v) => TRUE_WORDS.has(v.toLowerCase())),
]);
const Duration = z.union([z.string(), z.number()]);
const Size = z.union([z.string(), z.number()]);
const StrList = z.array(Scalar);
const StrOrList = z.union([Scalar.transform((v) => [v]), StrList]);
const ListOrDict = z.union([z.array(Scalar), z.record(z.string(), z.union([Scalar, z.null()]))]);
const StrDict = z.record(z.string(), z.union([Scalar, z.null()]));
const Mode = z.union([z.number().int(), z.string()]);

export const RawPort = z.union([
  z.number().int(),
  z.string(),
  z.strictObject({
    target: Int,
    published: z.union([z.number().int(), z.string()]).optional(),
    host_ip: z.string().optional(),
    protocol: z.enum(['tcp', 'udp', 'sctp']).optional(),
    mode: z.enum(['ingress', 'host']).optional(),
    // Metadata for tools (Docker Desktop); the Engine has no field for them, as in Compose.
    name: z.string().optional(),
    app_protocol: z.string().optional(),
  }),
]);
export type RawPort = z.infer<typeof RawPort>;

export const RawVolumeLong = z.strictObject({
  type: z.enum(['bind', 'volume', 'tmpfs']),
  source: z.string().optional(),
  target: z.string(),
  read_only: Bool.optional(),
  bind: z
    .strictObject({
      propagation: z.string().optional(),
      create_host_path: Bool.optional(),
      selinux: z.enum(['z', 'Z']).optional(),
    })
    .optional(),
  volume: z
    .strictObject({
      nocopy: Bool.optional(),
      subpath: z.string().optional(),
      labels: ListOrDict.optional(),
    })
    .optional(),
  tmpfs: z.strictObject({ size: Size.optional(), mode: Mode.optional() }).optional(),
  consistency: z.string().optional(),
});
export type RawVolumeLong = z.infer<typeof RawVolumeLong>;

const ServiceNetworkEntry = z.union([
  z.null(),
  z.strictObject({
    aliases: StrList.optional(),
    ipv4_address: z.string().optional(),
    ipv6_address: z.string().optional(),
    priority: Int.optional(),
    link_local_ips: StrList.optional(),
    driver_opts: StrDict.optional(),
  }),
]);

const Healthcheck = z.strictObject({
  test: z.union([z.string(), StrList]).optional(),
  interval: Duration.optional(),
  timeout: Duration.optional(),
  retries: Int.optional(),
  start_period: Duration.optional(),
  start_interval: Duration.optional(),
  disable: Bool.optional(),
});

const DependsOn = z.union([
  StrList,
  z.record(
    z.string(),
    z.union([
      z.null(),
      z.strictObject({
        condition: z
          .enum(['service_started', 'service_healthy', 'service_completed_successfully'])
          .optional(),
        required: Bool.optional(),
        restart: Bool.optional(),
      }),
    ]),
  ),
]);

const Limits = z.strictObject({
  cpus: Num.optional(),
  memory: Size.optional(),
  pids: Int.optional(),
});

/** A device request (deploy.resources.reservations.devices, gpus). */
const DeviceRequest = z.strictObject({
  capabilities: StrList.optional(),
  count: z.union([Int, z.literal('all')]).optional(),
  device_ids: StrList.optional(),
  driver: z.string().optional(),
  options: ListOrDict.optional(),
});

const Reservations = z.strictObject({
  cpus: Num.optional(),
  memory: Size.optional(),
  pids: Int.optional(),
  devices: z.array(DeviceRequest).optional(),
});

const Deploy = z.strictObject({
  // Only `replicated`: a `global` service has nothing to mean on one host (refused when normalized).
  mode: z.enum(['replicated', 'global']).optional(),
  replicas: Int.optional(),
  resources: z
    .strictObject({ limits: Limits.optional(), reservations: Reservations.optional() })
    .optional(),
  restart_policy: z
    .strictObject({
      condition: z.enum(['none', 'on-failure', 'any']).optional(),
      delay: Duration.optional(),
      max_attempts: Int.optional(),
      window: Duration.optional(),
    })
    .optional(),
  labels: ListOrDict.optional(),
});

const BlkioRate = z.strictObject({ path: z.string(), rate: Size });
const BlkioIops = z.strictObject({ path: z.string(), rate: Int });
const Blkio = z.strictObject({
  weight: Int.optional(),
  weight_device: z.array(z.strictObject({ path: z.string(), weight: Int })).optional(),
  device_read_bps: z.array(BlkioRate).optional(),
  device_read_iops: z.array(BlkioIops).optional(),
  device_write_bps: z.array(BlkioRate).optional(),
  device_write_iops: z.array(BlkioIops).optional(),
});

const ExtraHosts = z.union([StrList, z.record(z.string(), z.union([Scalar, StrList]))]);

const Build = z.union([
  z.string(),
  z.strictObject({
    context: z.string().optional(),
    dockerfile: z.string().optional(),
    args: ListOrDict.optional(),
    target: z.string().optional(),
    labels: ListOrDict.optional(),
    network: z.string().optional(),
    extra_hosts: ExtraHosts.optional(),
    shm_size: Size.optional(),
    no_cache: Bool.optional(),
    pull: Bool.optional(),
  }),
]);

const FileRef = z.union([
  z.string(),
  z.strictObject({
    source: z.string(),
    target: z.string().optional(),
    uid: Scalar.optional(),
    gid: Scalar.optional(),
    mode: Mode.optional(),
  }),
]);

const EnvFile = z.union([
  z.string(),
  z.array(z.union([z.string(), z.strictObject({ path: z.string(), required: Bool.optional() })])),
]);

export const RawService = z.strictObject({
  image: z.string().optional(),
  build: Build.optional(),
  pull_policy: z.string().optional(),
  command: z.union([z.string(), StrList, z.null()]).optional(),
  entrypoint: z.union([z.string(), StrList, z.null()]).optional(),
  environment: ListOrDict.optional(),
  env_file: EnvFile.optional(),
  ports: z.array(RawPort).optional(),
  expose: z.array(z.union([z.string(), z.number().int()])).optional(),
  volumes: z.array(z.union([z.string(), RawVolumeLong])).optional(),
  networks: z.union([StrList, z.record(z.string(), ServiceNetworkEntry)]).optional(),
  network_mode: z.string().optional(),
  healthcheck: Healthcheck.optional(),
  depends_on: DependsOn.optional(),
  restart: z.string().optional(),
  deploy: Deploy.optional(),
  scale: Int.optional(),
  labels: ListOrDict.optional(),
  container_name: z.string().optional(),
  hostname: z.string().optional(),
  domainname: z.string().optional(),
  user: Scalar.optional(),
  working_dir: z.string().optional(),
  extra_hosts: ExtraHosts.optional(),
  dns: StrOrList.optional(),
  dns_search: StrOrList.optional(),
  dns_opt: StrList.optional(),
  cap_add: StrList.optional(),
  cap_drop: StrList.optional(),
  privileged: Bool.optional(),
  devices: z
    .array(
      z.union([
        z.string(),
        z.strictObject({
          source: z.string(),
          target: z.string().optional(),
          permissions: z.string().optional(),
        }),
      ]),
    )
    .optional(),
  security_opt: StrList.optional(),
  tmpfs: StrOrList.optional(),
  shm_size: Size.optional(),
  ulimits: z
    .record(z.string(), z.union([Int, z.strictObject({ soft: Int, hard: Int })]))
    .optional(),
  sysctls: ListOrDict.optional(),
  logging: z
    .strictObject({ driver: z.string().optional(), options: StrDict.optional() })
    .optional(),
  init: Bool.optional(),
  stop_signal: z.string().optional(),
  stop_grace_period: Duration.optional(),
  mem_limit: Size.optional(),
  mem_reservation: Size.optional(),
  cpus: Num.optional(),
  cpu_shares: Int.optional(),
  read_only: Bool.optional(),
  tty: Bool.optional(),
  stdin_open: Bool.optional(),
  secrets: z.array(FileRef).optional(),
  configs: z.array(FileRef).optional(),
  pid: z.string().optional(),
  ipc: z.string().optional(),
  group_add: StrList.optional(),
  volumes_from: StrList.optional(),
  links: StrList.optional(),
  profiles: StrList.optional(),
  platform: z.string().optional(),
  runtime: z.string().optional(),
  cgroup: z.enum(['host', 'private']).optional(),
  cgroup_parent: z.string().optional(),
  cpu_count: Int.optional(),
  cpu_percent: Int.optional(),
  cpu_period: Int.optional(),
  cpu_quota: Int.optional(),
  // Microseconds, or a duration.
  cpu_rt_period: Duration.optional(),
  cpu_rt_runtime: Duration.optional(),
  cpuset: Scalar.optional(),
  mem_swappiness: Int.optional(),
  memswap_limit: Size.optional(),
  oom_kill_disable: Bool.optional(),
  oom_score_adj: Int.optional(),
  pids_limit: Int.optional(),
  storage_opt: z.record(z.string(), Scalar).optional(),
  userns_mode: z.string().optional(),
  uts: z.string().optional(),
  device_cgroup_rules: StrList.optional(),
  blkio_config: Blkio.optional(),
  mac_address: z.string().optional(),
  external_links: StrList.optional(),
  isolation: z.string().optional(),
  annotations: ListOrDict.optional(),
  gpus: z.union([z.literal('all'), z.array(DeviceRequest)]).optional(),
  // Which containers `compose up` follows the output of; berth never attaches.
  attach: Bool.optional(),
});
export type RawService = z.infer<typeof RawService>;

const External = z.union([Bool, z.strictObject({ name: z.string().optional() })]);

export const RawNetwork = z.strictObject({
  name: z.string().optional(),
  external: External.optional(),
  driver: z.string().optional(),
  driver_opts: StrDict.optional(),
  ipam: z
    .strictObject({
      driver: z.string().optional(),
      config: z
        .array(
          z.strictObject({
            subnet: z.string().optional(),
            gateway: z.string().optional(),
            ip_range: z.string().optional(),
            aux_addresses: z.record(z.string(), z.string()).optional(),
          }),
        )
        .optional(),
      options: z.record(z.string(), Scalar).optional(),
    })
    .optional(),
  internal: Bool.optional(),
  attachable: Bool.optional(),
  enable_ipv6: Bool.optional(),
  labels: ListOrDict.optional(),
});
export type RawNetwork = z.infer<typeof RawNetwork>;

export const RawVolume = z.strictObject({
  name: z.string().optional(),
  external: External.optional(),
  driver: z.string().optional(),
  driver_opts: StrDict.optional(),
  labels: ListOrDict.optional(),
});
export type RawVolume = z.infer<typeof RawVolume>;

export const RawFileDefinition = z.strictObject({
  file: z.string().optional(),
  environment: z.string().optional(),
  content: z.string().optional(),
  external: External.optional(),
});
export type RawFileDefinition = z.infer<typeof RawFileDefinition>;

export const RawInclude = z.union([
  z.string(),
  z.strictObject({
    path: z.union([z.string(), z.array(z.string())]),
    project_directory: z.string().optional(),
    env_file: z.union([z.string(), z.array(z.string())]).optional(),
  }),
]);
export type RawInclude = z.infer<typeof RawInclude>;

export const RawTopLevel = z.strictObject({
  version: z.unknown().optional(),
  name: Scalar.optional(),
  include: z.array(RawInclude).optional(),
  services: z.record(z.string(), z.unknown()).nullable().optional(),
  networks: z.record(z.string(), z.unknown()).nullable().optional(),
  volumes: z.record(z.string(), z.unknown()).nullable().optional(),
  secrets: z.record(z.string(), z.unknown()).nullable().optional(),
  configs: z.record(z.string(), z.unknown()).nullable().optional(),
});
export type RawTopLevel = z.infer<typeof RawTopLevel>;

function fieldPath(path: PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

const TYPE_WORDS: Record<string, string> = { record: 'mapping', object: 'mapping', array: 'list' };

function deepestIssue(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  // A union failure is clearest when told through the branch that got furthest.
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue;
  let best: z.core.$ZodIssue | undefined;
  let bestScore = -1;
  const expected = new Set<string>();
  for (const branch of issue.errors) {
    for (const inner of branch) {
      if (inner.code === 'invalid_type' && inner.path.length === 0)
        expected.add(TYPE_WORDS[inner.expected] ?? inner.expected);
      const score = inner.path.length * 2 + (inner.code === 'invalid_type' ? 0 : 1);
      if (score > bestScore && !(inner.code === 'invalid_type' && inner.path.length === 0)) {
        best = { ...inner, path: [...issue.path, ...inner.path] };
        bestScore = score;
      }
    }
  }
  if (best !== undefined) return deepestIssue(best);
  return { ...issue, message: `expected ${[...expected].join(' or ')}` };
}

/**
 * Validates `value` with `schema`, turning the first problem into a ComposeError that names the
 * file, the service and the field (`prefix` is the field path of `value` itself).
 */
export function parseRaw<T extends z.ZodType>(
  schema: T,
  value: unknown,
  where: { file: string; service?: string; prefix?: string; what: string },
): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = deepestIssue(result.error.issues[0] as z.core.$ZodIssue);
  const base = where.prefix === undefined ? [] : [where.prefix];
  const subject = where.service === undefined ? where.what : `service "${where.service}"`;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const field = fieldPath([...base, ...issue.path, key]);
    const why = refusedReason(specPath(where, [...issue.path, key])) ?? UNKNOWN_FIELD;
    throw new ComposeError(
      'ComposeFieldUnsupported',
      `${where.file}: ${subject}: field "${field}" is not supported: ${why}`,
      { place: { file: where.file, service: where.service, field } },
    );
  }
  const field = fieldPath([...base, ...issue.path]);
  throw new ComposeError(
    'ComposeFieldInvalid',
    `${where.file}: ${subject}: field "${field}": ${issue.message}`,
    { place: { file: where.file, service: where.service, field } },
  );
}

const UNKNOWN_FIELD = 'not a compose-spec field berth knows';

/**
 * The field's path from the top of the compose file, as REFUSED_FIELDS spells it: names of
 * services and definitions become `*`, list positions `[]`.
 */
function specPath(where: { service?: string; prefix?: string }, path: PropertyKey[]): string[] {
  const out: string[] = [];
  if (where.service !== undefined) out.push('services', '*');
  else if (where.prefix !== undefined) {
    const dot = where.prefix.indexOf('.');
    out.push(dot < 0 ? where.prefix : where.prefix.slice(0, dot));
    if (dot >= 0) out.push('*');
  }
  for (const part of path) {
    if (typeof part === 'number' && out.length > 0) out[out.length - 1] += '[]';
    else out.push(String(part));
  }
  return out;
}
