import { stringify } from 'yaml';
import type {
  BlkioConfig,
  BuildConfig,
  ComposeProject,
  DeployConfig,
  DependsOnConfig,
  DeviceRequestConfig,
  FileReference,
  HealthcheckConfig,
  NetworkConfig,
  PortConfig,
  ResourceLimits,
  SecretOrConfigDefinition,
  ServiceConfig,
  ServiceNetwork,
  ServiceVolume,
  Ulimit,
  VolumeConfig,
} from './types.js';

/**
 * The normalized project written back as a compose file, in the form `docker compose config`
 * prints: long-form ports, volumes and depends_on, environment as a mapping, durations as Go
 * duration strings, sizes as byte counts, command and entrypoint as lists, absolute paths.
 * Loading the document again gives the same services: every string has its `$` doubled, so
 * interpolation gives back what was loaded, and nothing is written that the loader would read
 * differently. Two choices differ from docker compose v2 so that Compose v1 (whose schema
 * predates the others) reads more of it: published ports are numbers, device and ulimit
 * entries keep their shortest form.
 */

/** What a masked value prints as. */
export const MASK = '********';

/**
 * Sensitive values shorter than this are masked only where a whole value equals them: as a
 * part of longer text, `1` or `yes` would hide every port and flag of the document.
 */
const MIN_MASKED_PART = 4;

export interface CanonicalOptions {
  /** Applied to every string value (never a key) of the document before it is escaped. */
  mask: (value: string) => string;
}

type Doc = Record<string, unknown>;

/** The project as a compose document; secret contents are always masked. */
export function canonicalCompose(project: ComposeProject, options: CanonicalOptions): Doc {
  const doc: Doc = { name: project.name };
  doc.services = sortedMap(project.services, serviceDocument);
  const sections: [string, Doc][] = [
    ['networks', sortedMap(project.networks, networkDocument)],
    ['volumes', sortedMap(project.volumes, volumeDocument)],
    ['secrets', sortedMap(project.secrets, (d) => fileDefinitionDocument(d, true))],
    ['configs', sortedMap(project.configs, (d) => fileDefinitionDocument(d, false))],
  ];
  for (const [key, section] of sections) if (Object.keys(section).length > 0) doc[key] = section;
  for (const key of Object.keys(project.extensions).sort()) doc[key] = project.extensions[key];
  return finish(doc, options.mask) as Doc;
}

/**
 * A mask hiding each sensitive value wherever it occurs in a string (a password inside a URL
 * too); values shorter than MIN_MASKED_PART only when they are the whole string.
 */
export function maskValues(values: Iterable<string>): (value: string) => string {
  const whole = new Set<string>();
  const parts: string[] = [];
  for (const value of values) {
    if (value === '') continue;
    whole.add(value);
    if (value.length >= MIN_MASKED_PART) parts.push(value);
  }
  // Longest first: a value containing another is replaced whole.
  parts.sort((a, b) => b.length - a.length);
  return (value) => {
    if (whole.has(value)) return MASK;
    let out = value;
    for (const part of parts) if (out.includes(part)) out = out.split(part).join(MASK);
    return out;
  };
}

/** The plaintext of the project's secrets: masked wherever it shows, not only as a secret. */
export function secretValues(project: ComposeProject): string[] {
  return Object.values(project.secrets).flatMap((secret) =>
    secret.source === 'file' ? [] : [secret.content],
  );
}

/**
 * The document as YAML. Written with YAML 1.1's plain scalars in mind, so `yes`, `on` or
 * `12:30` come out quoted and stay strings for readers of either YAML version (Compose v1's
 * PyYAML reads 1.1).
 */
export function formatComposeYaml(doc: Doc): string {
  return stringify(doc, { version: '1.1', lineWidth: 0, aliasDuplicateObjects: false });
}

/** Go's time.Duration.String() for milliseconds: 1m30s, 1h0m0s, 1.5s, 250ms, 0s. */
export function goDuration(ms: number): string {
  const ns = BigInt(Math.round(ms * 1e6));
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  const u = ns < 0n ? -ns : ns;
  if (u < 1_000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${fraction(u, 3)}µs`;
  if (u < 1_000_000_000n) return `${sign}${fraction(u, 6)}ms`;
  const seconds = u / 1_000_000_000n;
  const secondsText = `${fraction((seconds % 60n) * 1_000_000_000n + (u % 1_000_000_000n), 9)}s`;
  const minutes = (seconds / 60n) % 60n;
  const hours = seconds / 3600n;
  if (hours > 0n) return `${sign}${hours}h${minutes}m${secondsText}`;
  if (minutes > 0n) return `${sign}${minutes}m${secondsText}`;
  return `${sign}${secondsText}`;
}

function fraction(value: bigint, digits: number): string {
  const scale = 10n ** BigInt(digits);
  const rest = (value % scale).toString().padStart(digits, '0').replace(/0+$/, '');
  return rest === '' ? `${value / scale}` : `${value / scale}.${rest}`;
}

/** Sizes as compose-go writes them: a byte count in a string. */
function bytes(value: number): string {
  return String(value);
}

/** A data mapping (labels, options) with sorted keys, as Go's YAML writes maps. */
function data(map: Record<string, string> | undefined): Doc | undefined {
  return map === undefined ? undefined : sortedMap(map, (value) => value);
}

function sortedMap<T>(map: Record<string, T>, write: (value: T) => unknown): Doc {
  const out: Doc = {};
  for (const key of Object.keys(map).sort()) out[key] = write(map[key] as T);
  return out;
}

/** Masks and escapes every string value; keys are left alone, as interpolation leaves them. */
function finish(value: unknown, mask: (value: string) => string): unknown {
  if (typeof value === 'string') return mask(value).replaceAll('$', '$$$$');
  if (Array.isArray(value)) return value.map((item) => finish(item, mask));
  if (value !== null && typeof value === 'object') {
    const out: Doc = {};
    for (const [key, item] of Object.entries(value)) out[key] = finish(item, mask);
    return out;
  }
  return value;
}

/** Sets `key` unless the value is unset, false or an empty list or mapping. */
function put(doc: Doc, key: string, value: unknown): void {
  if (value === undefined || value === false) return;
  if (Array.isArray(value) && value.length === 0) return;
  if (isPlainObject(value) && Object.keys(value).length === 0) return;
  doc[key] = value;
}

function isPlainObject(value: unknown): value is Doc {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function withoutUnset(entries: Record<string, unknown>): Doc {
  const out: Doc = {};
  for (const [key, value] of Object.entries(entries)) put(out, key, value);
  return out;
}

// ---- services ---------------------------------------------------------------------------

/**
 * How each ServiceConfig field is written: the compose key and value, or undefined to leave it
 * out. A field not listed here is written by `genericField`.
 */
type FieldWriter<K extends keyof ServiceConfig> = (
  value: NonNullable<ServiceConfig[K]>,
  service: ServiceConfig,
) => [string, unknown] | undefined;

const SERVICE_FIELDS: { [K in keyof ServiceConfig]?: FieldWriter<K> } = {
  name: () => undefined,
  build: (v) => ['build', buildDocument(v)],
  pullPolicy: (v) => (v === 'missing' ? undefined : ['pull_policy', v]),
  ports: (v) => ['ports', v.map(portDocument)],
  volumes: (v) => ['volumes', v.map(serviceVolumeDocument)],
  networks: (v) => ['networks', sortedMap(v, serviceNetworkDocument)],
  dependsOn: (v) => ['depends_on', sortedMap(v, dependsOnDocument)],
  restart: (v) => [
    'restart',
    v.maximumRetryCount === undefined ? v.name : `${v.name}:${v.maximumRetryCount}`,
  ],
  deploy: (v) => ['deploy', deployDocument(v)],
  // deploy.replicas says it when set; else `scale`, which is 1 unless the file says otherwise.
  replicas: (v, s) => (s.deploy?.replicas !== undefined || v === 1 ? undefined : ['scale', v]),
  devices: (v) => ['devices', v.map((d) => `${d.source}:${d.target}:${d.permissions}`)],
  shmSize: (v) => ['shm_size', bytes(v)],
  memLimit: (v) => ['mem_limit', bytes(v)],
  memReservation: (v) => ['mem_reservation', bytes(v)],
  ulimits: (v) => ['ulimits', sortedMap(v, ulimitDocument)],
  logging: (v) => ['logging', withoutUnset({ driver: v.driver, options: data(v.options) })],
  secrets: (v) => ['secrets', v.map(fileReferenceDocument)],
  configs: (v) => ['configs', v.map(fileReferenceDocument)],
  environment: (v) => ['environment', data(v)],
  labels: (v) => ['labels', data(v)],
  sysctls: (v) => ['sysctls', data(v)],
  storageOpt: (v) => ['storage_opt', data(v)],
  annotations: (v) => ['annotations', data(v)],
  memswapLimit: (v) => ['memswap_limit', v === -1 ? -1 : bytes(v)],
  blkio: (v) => ['blkio_config', blkioDocument(v)],
  gpus: (v) => ['gpus', v.map(deviceRequestDocument)],
  // Written even when false or empty: set, they override the image's or the daemon's default.
  init: (v) => ['init', v],
  command: (v) => ['command', v],
  entrypoint: (v) => ['entrypoint', v],
  healthcheck: (v) => ['healthcheck', healthcheckDocument(v)],
  oomKillDisable: (v) => ['oom_kill_disable', v],
};

/** Output keys written whatever their value, when the field is set at all. */
const ALWAYS_WRITTEN = new Set([
  'init',
  'command',
  'entrypoint',
  'healthcheck',
  'oom_kill_disable',
]);

/** A service as a compose mapping, keys sorted as compose-go prints them. */
export function serviceDocument(service: ServiceConfig): Doc {
  const out: Doc = {};
  for (const [field, value] of Object.entries(service)) {
    if (value === undefined) continue;
    const writer = SERVICE_FIELDS[field as keyof ServiceConfig] as
      ((value: unknown, service: ServiceConfig) => [string, unknown] | undefined) | undefined;
    const entry = writer === undefined ? genericField(field, value) : writer(value, service);
    if (entry === undefined) continue;
    if (ALWAYS_WRITTEN.has(entry[0])) out[entry[0]] = entry[1];
    else put(out, entry[0], entry[1]);
  }
  return Object.fromEntries(
    Object.keys(out)
      .sort()
      .map((key) => [key, out[key]]),
  );
}

/**
 * A field with no writer of its own: snake_case key, the value as it is; `…Ms` fields are
 * durations. New simple fields (runtime, pidsLimit, macAddress…) need no code here.
 */
function genericField(field: string, value: unknown): [string, unknown] {
  if (field.endsWith('Ms') && typeof value === 'number')
    return [snakeCase(field.slice(0, -2)), goDuration(value)];
  return [snakeCase(field), genericValue(value)];
}

/**
 * A mapping of plain values under keys that are not camelCase is data (like labels or driver
 * options): its keys are kept. Other objects are structure: keys written in snake_case.
 */
function genericValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(genericValue);
  if (!isPlainObject(value)) return value;
  const plainValues = Object.values(value).every(
    (item) => item === null || typeof item !== 'object',
  );
  if (plainValues && !Object.keys(value).some((key) => /[a-z][A-Z]/.test(key)))
    return sortedMap(value, (item) => item);
  const out: Doc = {};
  for (const [key, item] of Object.entries(value))
    if (item !== undefined) out[snakeCase(key)] = genericValue(item);
  return out;
}

/** camelCase to snake_case: cgroupParent -> cgroup_parent, enableIpv6 -> enable_ipv6. */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function buildDocument(build: BuildConfig): Doc {
  const out = withoutUnset({
    context: build.context,
    dockerfile: build.dockerfile,
    args: data(build.args),
    target: build.target,
    labels: data(build.labels),
    network: build.network,
    extra_hosts: build.extraHosts,
    shm_size: build.shmSize === undefined ? undefined : bytes(build.shmSize),
  });
  // Set, false included: the file said so.
  if (build.noCache !== undefined) out.no_cache = build.noCache;
  if (build.pull !== undefined) out.pull = build.pull;
  return out;
}

function portDocument(port: PortConfig): Doc {
  return withoutUnset({
    mode: port.mode,
    host_ip: port.hostIp,
    target: port.target,
    published: port.published,
    protocol: port.protocol,
  });
}

function serviceVolumeDocument(volume: ServiceVolume): Doc {
  const out = withoutUnset({
    type: volume.type,
    source: volume.source,
    target: volume.target,
    read_only: volume.readOnly,
  });
  if (volume.bind !== undefined)
    out.bind = {
      ...withoutUnset({ propagation: volume.bind.propagation }),
      // Written when true too, as compose-go does: false is no default since Compose v2.
      create_host_path: volume.bind.createHostPath,
      ...withoutUnset({ selinux: volume.bind.selinux }),
    };
  if (volume.volume !== undefined)
    put(
      out,
      'volume',
      withoutUnset({
        nocopy: volume.volume.nocopy,
        subpath: volume.volume.subpath,
        labels: data(volume.volume.labels),
      }),
    );
  if (volume.tmpfs !== undefined)
    put(
      out,
      'tmpfs',
      withoutUnset({
        size: volume.tmpfs.size === undefined ? undefined : bytes(volume.tmpfs.size),
        mode: volume.tmpfs.mode,
      }),
    );
  put(out, 'consistency', volume.consistency);
  return out;
}

/** An attachment with nothing but its name is `null`, as compose-go prints it. */
function serviceNetworkDocument(network: ServiceNetwork): Doc | null {
  const out = withoutUnset({
    aliases: network.aliases,
    ipv4_address: network.ipv4Address,
    ipv6_address: network.ipv6Address,
    link_local_ips: network.linkLocalIps,
    priority: network.priority,
    driver_opts: data(network.driverOpts),
  });
  return Object.keys(out).length === 0 ? null : out;
}

function healthcheckDocument(check: HealthcheckConfig): Doc {
  if (check.disable) return { disable: true };
  const duration = (ms: number | undefined): string | undefined =>
    ms === undefined ? undefined : goDuration(ms);
  return withoutUnset({
    test: check.test,
    interval: duration(check.intervalMs),
    timeout: duration(check.timeoutMs),
    retries: check.retries,
    start_period: duration(check.startPeriodMs),
    start_interval: duration(check.startIntervalMs),
  });
}

/** `required` always, `restart` only when true: compose-go's output. */
function dependsOnDocument(dependency: DependsOnConfig): Doc {
  const out: Doc = { condition: dependency.condition, required: dependency.required };
  if (dependency.restart) out.restart = true;
  return out;
}

function limitsDocument(limits: ResourceLimits & { devices?: DeviceRequestConfig[] }): Doc {
  return withoutUnset({
    cpus: limits.cpus,
    memory: limits.memory === undefined ? undefined : bytes(limits.memory),
    pids: limits.pids,
    devices: limits.devices?.map(deviceRequestDocument),
  });
}

/** A request for every device (-1) is `count: all`, as Compose writes it. */
function deviceRequestDocument(request: DeviceRequestConfig): Doc {
  return withoutUnset({
    driver: request.driver,
    count: request.count === -1 ? 'all' : request.count,
    device_ids: request.deviceIds,
    capabilities: request.capabilities,
    options: data(request.options),
  });
}

function blkioDocument(blkio: BlkioConfig): Doc {
  const rates = (list: { path: string; rate: number }[] | undefined): Doc[] | undefined =>
    list?.map((entry) => ({ path: entry.path, rate: bytes(entry.rate) }));
  return withoutUnset({
    weight: blkio.weight,
    weight_device: blkio.weightDevice,
    device_read_bps: rates(blkio.deviceReadBps),
    device_read_iops: blkio.deviceReadIops,
    device_write_bps: rates(blkio.deviceWriteBps),
    device_write_iops: blkio.deviceWriteIops,
  });
}

function deployDocument(deploy: DeployConfig): Doc {
  const out = withoutUnset({ replicas: deploy.replicas, labels: data(deploy.labels) });
  if (deploy.resources !== undefined) {
    const { limits, reservations } = deploy.resources;
    out.resources = withoutUnset({
      limits: limits === undefined ? undefined : limitsDocument(limits),
      reservations: reservations === undefined ? undefined : limitsDocument(reservations),
    });
  }
  const policy = deploy.restartPolicy;
  if (policy !== undefined)
    out.restart_policy = withoutUnset({
      condition: policy.condition,
      delay: policy.delayMs === undefined ? undefined : goDuration(policy.delayMs),
      max_attempts: policy.maxAttempts,
      window: policy.windowMs === undefined ? undefined : goDuration(policy.windowMs),
    });
  return out;
}

function ulimitDocument(limit: Ulimit): number | Doc {
  return limit.soft === limit.hard ? limit.soft : { soft: limit.soft, hard: limit.hard };
}

function fileReferenceDocument(ref: FileReference): Doc {
  return withoutUnset({
    source: ref.source,
    target: ref.target,
    uid: ref.uid,
    gid: ref.gid,
    mode: ref.mode,
  });
}

// ---- top level --------------------------------------------------------------------------

function networkDocument(network: NetworkConfig): Doc {
  const out = withoutUnset({
    name: network.name,
    external: network.external,
    driver: network.driver,
    driver_opts: data(network.driverOpts),
    internal: network.internal,
    attachable: network.attachable,
    enable_ipv6: network.enableIpv6,
    labels: data(network.labels),
  });
  if (network.ipam !== undefined) {
    const ipam = network.ipam;
    out.ipam = withoutUnset({
      driver: ipam.driver,
      config: ipam.config.map((pool) =>
        withoutUnset({
          subnet: pool.subnet,
          gateway: pool.gateway,
          ip_range: pool.ipRange,
          aux_addresses: data(pool.auxAddresses),
        }),
      ),
      options: data(ipam.options),
    });
  }
  return out;
}

function volumeDocument(volume: VolumeConfig): Doc {
  return withoutUnset({
    name: volume.name,
    external: volume.external,
    driver: volume.driver,
    driver_opts: data(volume.driverOpts),
    labels: data(volume.labels),
  });
}

/** A secret's content never shows; a config's does (it is no secret). */
function fileDefinitionDocument(definition: SecretOrConfigDefinition, secret: boolean): Doc {
  switch (definition.source) {
    case 'file':
      return { file: definition.file };
    case 'environment':
      return { environment: definition.environment };
    case 'content':
      return { content: secret ? MASK : definition.content };
  }
}
