import { isAbsolute, posix, resolve } from 'node:path';
import { readBoundedFileSync } from '../bounded-read.js';
import type { Confinement } from '../containment.js';
import { parseDuration } from '../duration.js';
import { ComposeError } from '../errors.js';
import type { Reason } from '../reasons.js';
import { parseDotenv, type EnvFileReader } from './dotenv.js';
import type { Lookup } from './interpolate.js';
import { parseExpose, parseShortPort } from './ports.js';
import type {
  RawFileDefinition,
  RawNetwork,
  RawService,
  RawVolume,
  RawVolumeLong,
} from './schema.js';
import { splitShellWords } from './shellwords.js';
import type {
  BuildConfig,
  BlkioConfig,
  DeployConfig,
  DependsOnConfig,
  DeviceRequestConfig,
  FileReference,
  HealthcheckConfig,
  NetworkConfig,
  PortConfig,
  PullPolicy,
  ResourceLimits,
  RestartPolicy,
  SecretOrConfigDefinition,
  ServiceConfig,
  ServiceNetwork,
  ServiceVolume,
  Ulimit,
  VolumeConfig,
} from './types.js';
import { parseSize } from './units.js';
import { confinePath, parseShortVolume } from './volumes.js';

export interface NormalizeContext {
  file: string;
  service: string;
  /** Project directory of the file the service came from. */
  baseDir: string;
  /** Project environment (process environment over `.env`) for bare `KEY` entries and env files. */
  lookup: Lookup;
  declared: {
    networks: Set<string>;
    volumes: Set<string>;
    secrets: Set<string>;
    configs: Set<string>;
  };
  /** The stack folder every file the service names must stay in; undefined: not confined. */
  confine?: Confinement;
  /** How env files are read (e.g. decrypted); as they are when not set. */
  readEnvFile?: EnvFileReader;
}

function fail(ctx: NormalizeContext, field: string, message: string, cause?: unknown): never {
  throw new ComposeError(
    'ComposeFieldInvalid',
    `${ctx.file}: service "${ctx.service}": field "${field}": ${message}`,
    { place: { file: ctx.file, service: ctx.service, field }, cause },
  );
}

/** The error for a file the service names that berth will not read. */
function refuse(
  ctx: NormalizeContext,
  reason: Reason,
  field: string,
  detail: string,
): ComposeError {
  return new ComposeError(
    reason,
    `${ctx.file}: service "${ctx.service}": field "${field}": ${detail}`,
    {
      place: { file: ctx.file, service: ctx.service, field },
    },
  );
}

function duration(ctx: NormalizeContext, field: string, value: string | number): number {
  const ms = parseDuration(value);
  if (ms === undefined) fail(ctx, field, `invalid duration "${value}"`);
  return ms;
}

function size(ctx: NormalizeContext, field: string, value: string | number): number {
  const bytes = parseSize(value);
  if (bytes === undefined) fail(ctx, field, `invalid size "${value}"`);
  return bytes;
}

/** Turns a list-or-map of strings (already a map after preparation) into a plain string map. */
function stringMap(
  value: string[] | Record<string, string | null> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === undefined) return out;
  if (Array.isArray(value)) {
    for (const entry of value) {
      const eq = entry.indexOf('=');
      if (eq < 0) out[entry] = '';
      else out[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    return out;
  }
  for (const [key, item] of Object.entries(value)) out[key] = item ?? '';
  return out;
}

/** Like stringMap, but entries without a value are taken from the environment (or omitted). */
function environmentMap(
  value: string[] | Record<string, string | null> | undefined,
  lookup: Lookup,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === undefined) return out;
  const entries: [string, string | null][] = Array.isArray(value)
    ? value.map((entry) => {
        const eq = entry.indexOf('=');
        return eq < 0 ? [entry, null] : [entry.slice(0, eq), entry.slice(eq + 1)];
      })
    : Object.entries(value);
  for (const [key, item] of entries) {
    if (item !== null) out[key] = item;
    else {
      const inherited = lookup(key);
      if (inherited !== undefined) out[key] = inherited;
    }
  }
  return out;
}

function extraHosts(value: string[] | Record<string, string | string[]> | undefined): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    return Object.entries(value).flatMap(([host, ip]) =>
      (Array.isArray(ip) ? ip : [ip]).map((one) => `${host}:${one}`),
    );
  }
  return value.map((entry) => {
    const eq = entry.indexOf('=');
    return eq < 0 ? entry : `${entry.slice(0, eq)}:${entry.slice(eq + 1)}`;
  });
}

function argv(ctx: NormalizeContext, field: string, value: string | string[]): string[] {
  if (Array.isArray(value)) return value;
  const words = splitShellWords(value);
  if (words === undefined) fail(ctx, field, `unterminated quote in "${value}"`);
  return words;
}

const PULL_POLICIES: Record<string, PullPolicy> = {
  always: 'always',
  missing: 'missing',
  if_not_present: 'missing',
  never: 'never',
  build: 'build',
};

/**
 * A local build context and its Dockerfile stay in the stack folder. Contexts were made absolute
 * when the service was prepared; what is still relative is a git URL, which is not a file here.
 */
function confineBuild(ctx: NormalizeContext, context: string, dockerfile: string): void {
  const place = { file: ctx.file, service: ctx.service };
  const local = isAbsolute(context);
  if (local) confinePath(ctx.confine, context, { ...place, field: 'build.context' }, context);
  if (!local && !isAbsolute(dockerfile)) return;
  confinePath(
    ctx.confine,
    resolve(context, dockerfile),
    { ...place, field: 'build.dockerfile' },
    dockerfile,
  );
}

function buildConfig(ctx: NormalizeContext, raw: NonNullable<RawService['build']>): BuildConfig {
  if (typeof raw === 'string') {
    confineBuild(ctx, raw, 'Dockerfile');
    return { context: raw, dockerfile: 'Dockerfile', args: {} };
  }
  const build: BuildConfig = {
    context: raw.context ?? ctx.baseDir,
    dockerfile: raw.dockerfile ?? 'Dockerfile',
    args: environmentMap(raw.args, ctx.lookup),
  };
  confineBuild(ctx, build.context, build.dockerfile);
  if (raw.target !== undefined) build.target = raw.target;
  if (raw.labels !== undefined) build.labels = stringMap(raw.labels);
  if (raw.network !== undefined) build.network = raw.network;
  if (raw.extra_hosts !== undefined) build.extraHosts = extraHosts(raw.extra_hosts);
  if (raw.shm_size !== undefined) build.shmSize = size(ctx, 'build.shm_size', raw.shm_size);
  if (raw.no_cache !== undefined) build.noCache = raw.no_cache;
  if (raw.pull !== undefined) build.pull = raw.pull;
  return build;
}

function envFiles(ctx: NormalizeContext, raw: RawService['env_file']): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  const list = typeof raw === 'string' ? [raw] : raw;
  for (const [index, entry] of list.entries()) {
    const path = typeof entry === 'string' ? entry : entry.path;
    const required = typeof entry === 'string' ? true : (entry.required ?? true);
    const field = `env_file[${index}]`;
    let text: string;
    try {
      text = readBoundedFileSync(path, 'env file', (detail, tooLarge) =>
        refuse(ctx, tooLarge ? 'FileTooLarge' : 'ComposeFieldInvalid', field, detail),
      );
    } catch (err) {
      if (err instanceof ComposeError) throw err;
      if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      fail(ctx, field, `cannot read env file ${path}`, err);
    }
    const dotenv = ctx.readEnvFile === undefined ? text : ctx.readEnvFile(path, text);
    Object.assign(out, parseDotenv(dotenv, path, ctx.lookup));
  }
  return out;
}

function ports(ctx: NormalizeContext, raw: NonNullable<RawService['ports']>): PortConfig[] {
  const out: PortConfig[] = [];
  for (const [index, entry] of raw.entries()) {
    const field = `ports[${index}]`;
    if (typeof entry === 'string' || typeof entry === 'number') {
      const parsed = parseShortPort(entry);
      if (typeof parsed === 'string') fail(ctx, field, parsed);
      out.push(...parsed);
      continue;
    }
    const port: PortConfig = { target: entry.target, protocol: entry.protocol ?? 'tcp' };
    if (entry.published !== undefined && entry.published !== '') {
      const published = Number(entry.published);
      if (!Number.isInteger(published) || published < 1 || published > 65535)
        fail(ctx, `${field}.published`, `invalid host port "${entry.published}"`);
      port.published = published;
    }
    if (entry.host_ip !== undefined) port.hostIp = entry.host_ip;
    if (entry.mode !== undefined) port.mode = entry.mode;
    out.push(port);
  }
  return out;
}

function volume(ctx: NormalizeContext, field: string, raw: string | RawVolumeLong): ServiceVolume {
  let long: RawVolumeLong;
  if (typeof raw === 'string') {
    const parsed = parseShortVolume(raw, ctx.baseDir);
    if (typeof parsed === 'string') fail(ctx, field, parsed);
    long = parsed;
  } else {
    long = raw;
  }
  const out: ServiceVolume = {
    type: long.type,
    target: long.target,
    readOnly: long.read_only ?? false,
  };
  if (!long.target.startsWith('/'))
    fail(ctx, `${field}.target`, `target "${long.target}" must be an absolute path`);
  if (long.type === 'bind') {
    if (long.source === undefined || long.source === '')
      fail(ctx, `${field}.source`, 'a bind mount needs a source');
    out.source = long.source;
    out.bind = { createHostPath: long.bind?.create_host_path ?? true };
    if (long.bind?.propagation !== undefined) out.bind.propagation = long.bind.propagation;
    if (long.bind?.selinux !== undefined) out.bind.selinux = long.bind.selinux;
  } else if (long.bind !== undefined) {
    fail(ctx, `${field}.bind`, `only for type bind, not ${long.type}`);
  }
  if (long.type === 'volume') {
    if (long.source !== undefined && long.source !== '') {
      if (!ctx.declared.volumes.has(long.source))
        fail(
          ctx,
          `${field}.source`,
          `volume "${long.source}" is not declared in the top-level volumes`,
        );
      out.source = long.source;
    }
    out.volume = { nocopy: long.volume?.nocopy ?? false };
    if (long.volume?.subpath !== undefined) out.volume.subpath = long.volume.subpath;
    if (long.volume?.labels !== undefined) out.volume.labels = stringMap(long.volume.labels);
  } else if (long.volume !== undefined) {
    fail(ctx, `${field}.volume`, `only for type volume, not ${long.type}`);
  }
  if (long.type === 'tmpfs') {
    if (long.source !== undefined) fail(ctx, `${field}.source`, 'a tmpfs mount has no source');
    if (long.tmpfs !== undefined) {
      out.tmpfs = {};
      if (long.tmpfs.size !== undefined)
        out.tmpfs.size = size(ctx, `${field}.tmpfs.size`, long.tmpfs.size);
      if (long.tmpfs.mode !== undefined)
        out.tmpfs.mode = fileMode(ctx, `${field}.tmpfs.mode`, long.tmpfs.mode);
    }
  } else if (long.tmpfs !== undefined) {
    fail(ctx, `${field}.tmpfs`, `only for type tmpfs, not ${long.type}`);
  }
  if (long.consistency !== undefined) out.consistency = long.consistency;
  return out;
}

function fileMode(ctx: NormalizeContext, field: string, value: number | string): number {
  if (typeof value === 'number') return value;
  if (/^0?[0-7]+$/.test(value)) return parseInt(value, 8);
  fail(ctx, field, `invalid file mode "${value}"`);
}

function networks(
  ctx: NormalizeContext,
  raw: RawService['networks'],
  networkMode: string | undefined,
): Record<string, ServiceNetwork> {
  if (networkMode !== undefined) {
    if (raw !== undefined && Object.keys(raw).length > 0)
      fail(ctx, 'networks', 'cannot be combined with network_mode');
    return {};
  }
  const entries: [string, ServiceNetwork][] = [];
  const map = Array.isArray(raw) ? Object.fromEntries(raw.map((key) => [key, null])) : (raw ?? {});
  for (const [key, entry] of Object.entries(map)) {
    if (key !== 'default' && !ctx.declared.networks.has(key))
      fail(ctx, `networks.${key}`, `network "${key}" is not declared in the top-level networks`);
    const attachment: ServiceNetwork = { aliases: entry?.aliases ?? [] };
    if (entry?.ipv4_address !== undefined) attachment.ipv4Address = entry.ipv4_address;
    if (entry?.ipv6_address !== undefined) attachment.ipv6Address = entry.ipv6_address;
    if (entry?.priority !== undefined) attachment.priority = entry.priority;
    if (entry?.link_local_ips !== undefined) attachment.linkLocalIps = entry.link_local_ips;
    if (entry?.driver_opts !== undefined) attachment.driverOpts = stringMap(entry.driver_opts);
    entries.push([key, attachment]);
  }
  if (entries.length === 0) entries.push(['default', { aliases: [] }]);
  return Object.fromEntries(entries);
}

function healthcheck(
  ctx: NormalizeContext,
  raw: NonNullable<RawService['healthcheck']>,
): HealthcheckConfig {
  const test =
    typeof raw.test === 'string'
      ? raw.test === 'NONE'
        ? ['NONE']
        : ['CMD-SHELL', raw.test]
      : raw.test;
  if (raw.disable === true || (test !== undefined && test[0] === 'NONE')) return { disable: true };
  const out: HealthcheckConfig = { disable: false };
  if (test !== undefined) out.test = test;
  if (raw.interval !== undefined)
    out.intervalMs = duration(ctx, 'healthcheck.interval', raw.interval);
  if (raw.timeout !== undefined) out.timeoutMs = duration(ctx, 'healthcheck.timeout', raw.timeout);
  if (raw.retries !== undefined) out.retries = raw.retries;
  if (raw.start_period !== undefined)
    out.startPeriodMs = duration(ctx, 'healthcheck.start_period', raw.start_period);
  if (raw.start_interval !== undefined)
    out.startIntervalMs = duration(ctx, 'healthcheck.start_interval', raw.start_interval);
  return out;
}

function dependsOn(raw: RawService['depends_on']): Record<string, DependsOnConfig> {
  const out: Record<string, DependsOnConfig> = {};
  if (raw === undefined) return out;
  if (Array.isArray(raw)) {
    for (const name of raw)
      out[name] = { condition: 'service_started', required: true, restart: false };
    return out;
  }
  for (const [name, entry] of Object.entries(raw)) {
    out[name] = {
      condition: entry?.condition ?? 'service_started',
      required: entry?.required ?? true,
      restart: entry?.restart ?? false,
    };
  }
  return out;
}

function restartPolicy(ctx: NormalizeContext, raw: string): RestartPolicy {
  const match = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(raw);
  if (match === null || (match[2] !== undefined && match[1] !== 'on-failure'))
    fail(ctx, 'restart', `invalid restart policy "${raw}"`);
  const policy: RestartPolicy = { name: match[1] as RestartPolicy['name'] };
  if (match[2] !== undefined) policy.maximumRetryCount = Number(match[2]);
  return policy;
}

function limits(
  ctx: NormalizeContext,
  field: string,
  raw: { cpus?: number; memory?: string | number; pids?: number },
): ResourceLimits {
  const out: ResourceLimits = {};
  if (raw.cpus !== undefined) out.cpus = raw.cpus;
  if (raw.memory !== undefined) out.memory = size(ctx, `${field}.memory`, raw.memory);
  if (raw.pids !== undefined) out.pids = raw.pids;
  return out;
}

type RawDeviceRequest = NonNullable<
  NonNullable<NonNullable<RawService['deploy']>['resources']>['reservations']
>['devices'];

/**
 * Device requests as Compose reads them: without count or device_ids a request is for every
 * device (-1); `gpus` entries always ask for the `gpu` capability.
 */
function deviceRequests(
  ctx: NormalizeContext,
  field: string,
  raw: NonNullable<RawDeviceRequest>,
  gpu: boolean,
): DeviceRequestConfig[] {
  return raw.map((entry, index) => {
    const at = `${field}[${index}]`;
    if (!gpu && (entry.capabilities === undefined || entry.capabilities.length === 0))
      fail(ctx, `${at}.capabilities`, 'a device request needs capabilities, such as [gpu]');
    if (entry.count !== undefined && entry.device_ids !== undefined)
      fail(ctx, at, 'count and device_ids exclude each other');
    const capabilities = entry.capabilities ?? [];
    const out: DeviceRequestConfig = {
      capabilities: gpu && !capabilities.includes('gpu') ? [...capabilities, 'gpu'] : capabilities,
    };
    if (entry.driver !== undefined) out.driver = entry.driver;
    if (entry.device_ids !== undefined) out.deviceIds = entry.device_ids;
    else out.count = entry.count === undefined || entry.count === 'all' ? -1 : entry.count;
    if (entry.options !== undefined) out.options = stringMap(entry.options);
    return out;
  });
}

function deploy(ctx: NormalizeContext, raw: NonNullable<RawService['deploy']>): DeployConfig {
  const out: DeployConfig = {};
  if (raw.mode === 'global')
    fail(ctx, 'deploy.mode', 'global runs one container per swarm node; berth deploys to one host');
  if (raw.replicas !== undefined) out.replicas = raw.replicas;
  if (raw.resources !== undefined) {
    out.resources = {};
    if (raw.resources.limits !== undefined)
      out.resources.limits = limits(ctx, 'deploy.resources.limits', raw.resources.limits);
    const reservations = raw.resources.reservations;
    if (reservations !== undefined) {
      const field = 'deploy.resources.reservations';
      out.resources.reservations = limits(ctx, field, reservations);
      if (reservations.devices !== undefined)
        out.resources.reservations.devices = deviceRequests(
          ctx,
          `${field}.devices`,
          reservations.devices,
          false,
        );
    }
  }
  const policy = raw.restart_policy;
  if (policy !== undefined) {
    out.restartPolicy = {};
    if (policy.condition !== undefined) out.restartPolicy.condition = policy.condition;
    if (policy.max_attempts !== undefined) out.restartPolicy.maxAttempts = policy.max_attempts;
    if (policy.delay !== undefined)
      out.restartPolicy.delayMs = duration(ctx, 'deploy.restart_policy.delay', policy.delay);
    if (policy.window !== undefined)
      out.restartPolicy.windowMs = duration(ctx, 'deploy.restart_policy.window', policy.window);
  }
  if (raw.labels !== undefined) out.labels = stringMap(raw.labels);
  return out;
}

function fileReferences(
  ctx: NormalizeContext,
  kind: 'secrets' | 'configs',
  raw: NonNullable<RawService['secrets']>,
): FileReference[] {
  const declared = ctx.declared[kind];
  return raw.map((entry, index) => {
    const long = typeof entry === 'string' ? { source: entry } : entry;
    if (!declared.has(long.source))
      fail(
        ctx,
        `${kind}[${index}]`,
        `${kind === 'secrets' ? 'secret' : 'config'} "${long.source}" is not declared in the top-level ${kind}`,
      );
    const base = kind === 'secrets' ? '/run/secrets' : '/';
    const ref: FileReference = {
      source: long.source,
      target: posix.resolve(base, long.target ?? long.source),
    };
    if (long.uid !== undefined) ref.uid = long.uid;
    if (long.gid !== undefined) ref.gid = long.gid;
    if (long.mode !== undefined) ref.mode = fileMode(ctx, `${kind}[${index}].mode`, long.mode);
    return ref;
  });
}

function devices(
  ctx: NormalizeContext,
  raw: NonNullable<RawService['devices']>,
): ServiceConfig['devices'] {
  return raw.map((entry, index) => {
    if (typeof entry !== 'string')
      return {
        source: entry.source,
        target: entry.target ?? entry.source,
        permissions: entry.permissions ?? 'rwm',
      };
    const parts = entry.split(':');
    if (parts.length > 3 || parts[0] === '')
      fail(ctx, `devices[${index}]`, `invalid device "${entry}"`);
    const [source = '', target, permissions] = parts;
    return {
      source,
      target: target === undefined || target === '' ? source : target,
      permissions: permissions ?? 'rwm',
    };
  });
}

function ulimits(raw: NonNullable<RawService['ulimits']>): Record<string, Ulimit> {
  const out: Record<string, Ulimit> = {};
  for (const [name, value] of Object.entries(raw))
    out[name] =
      typeof value === 'number'
        ? { soft: value, hard: value }
        : { soft: value.soft, hard: value.hard };
  return out;
}

/** Turns one validated service into the engine's canonical form. */
export function normalizeService(ctx: NormalizeContext, raw: RawService): ServiceConfig {
  if (raw.image === undefined && raw.build === undefined)
    fail(ctx, 'image', 'a service needs an image or a build section');
  let pullPolicy: PullPolicy = 'missing';
  if (raw.pull_policy !== undefined) {
    const policy = PULL_POLICIES[raw.pull_policy];
    if (policy === undefined)
      fail(ctx, 'pull_policy', `unsupported pull policy "${raw.pull_policy}"`);
    pullPolicy = policy;
  }
  let replicas = raw.deploy?.replicas ?? raw.scale ?? 1;
  if (
    raw.deploy?.replicas !== undefined &&
    raw.scale !== undefined &&
    raw.deploy.replicas !== raw.scale
  )
    fail(ctx, 'scale', `scale ${raw.scale} and deploy.replicas ${raw.deploy.replicas} disagree`);
  if (replicas < 0) fail(ctx, 'deploy.replicas', 'must not be negative');
  replicas = Math.floor(replicas);

  const expose: string[] = [];
  for (const [index, entry] of (raw.expose ?? []).entries()) {
    const parsed = parseExpose(entry);
    if (typeof parsed === 'string') fail(ctx, `expose[${index}]`, parsed);
    expose.push(...parsed);
  }

  const service: ServiceConfig = {
    name: ctx.service,
    pullPolicy,
    environment: { ...envFiles(ctx, raw.env_file), ...environmentMap(raw.environment, ctx.lookup) },
    ports: raw.ports === undefined ? [] : ports(ctx, raw.ports),
    expose,
    volumes: (raw.volumes ?? []).map((entry, index) => volume(ctx, `volumes[${index}]`, entry)),
    networks: networks(ctx, raw.networks, raw.network_mode),
    dependsOn: dependsOn(raw.depends_on),
    replicas,
    labels: stringMap(raw.labels),
    extraHosts: extraHosts(raw.extra_hosts),
    dns: raw.dns ?? [],
    dnsSearch: raw.dns_search ?? [],
    dnsOpt: raw.dns_opt ?? [],
    capAdd: raw.cap_add ?? [],
    capDrop: raw.cap_drop ?? [],
    privileged: raw.privileged ?? false,
    devices: raw.devices === undefined ? [] : devices(ctx, raw.devices),
    securityOpt: raw.security_opt ?? [],
    tmpfs: raw.tmpfs ?? [],
    ulimits: raw.ulimits === undefined ? {} : ulimits(raw.ulimits),
    sysctls: stringMap(raw.sysctls),
    readOnly: raw.read_only ?? false,
    tty: raw.tty ?? false,
    stdinOpen: raw.stdin_open ?? false,
    secrets: raw.secrets === undefined ? [] : fileReferences(ctx, 'secrets', raw.secrets),
    configs: raw.configs === undefined ? [] : fileReferences(ctx, 'configs', raw.configs),
    groupAdd: raw.group_add ?? [],
    volumesFrom: (raw.volumes_from ?? []).map(canonicalVolumesFrom),
    links: raw.links ?? [],
    profiles: raw.profiles ?? [],
  };
  if (raw.image !== undefined) service.image = raw.image;
  if (raw.build !== undefined) service.build = buildConfig(ctx, raw.build);
  if (raw.command !== undefined && raw.command !== null)
    service.command = argv(ctx, 'command', raw.command);
  if (raw.entrypoint !== undefined && raw.entrypoint !== null)
    service.entrypoint = argv(ctx, 'entrypoint', raw.entrypoint);
  if (raw.network_mode !== undefined) service.networkMode = raw.network_mode;
  if (raw.healthcheck !== undefined) service.healthcheck = healthcheck(ctx, raw.healthcheck);
  if (raw.restart !== undefined) service.restart = restartPolicy(ctx, raw.restart);
  if (raw.deploy !== undefined) service.deploy = deploy(ctx, raw.deploy);
  if (raw.container_name !== undefined) service.containerName = raw.container_name;
  if (raw.hostname !== undefined) service.hostname = raw.hostname;
  if (raw.domainname !== undefined) service.domainname = raw.domainname;
  if (raw.user !== undefined) service.user = raw.user;
  if (raw.working_dir !== undefined) service.workingDir = raw.working_dir;
  if (raw.shm_size !== undefined) service.shmSize = size(ctx, 'shm_size', raw.shm_size);
  if (raw.logging !== undefined) {
    service.logging = { options: stringMap(raw.logging.options) };
    if (raw.logging.driver !== undefined) service.logging.driver = raw.logging.driver;
  }
  if (raw.init !== undefined) service.init = raw.init;
  if (raw.stop_signal !== undefined) service.stopSignal = raw.stop_signal;
  if (raw.stop_grace_period !== undefined)
    service.stopGracePeriodMs = duration(ctx, 'stop_grace_period', raw.stop_grace_period);
  if (raw.mem_limit !== undefined) service.memLimit = size(ctx, 'mem_limit', raw.mem_limit);
  if (raw.mem_reservation !== undefined)
    service.memReservation = size(ctx, 'mem_reservation', raw.mem_reservation);
  if (raw.cpus !== undefined) service.cpus = raw.cpus;
  if (raw.cpu_shares !== undefined) service.cpuShares = raw.cpu_shares;
  if (raw.pid !== undefined) service.pid = raw.pid;
  if (raw.ipc !== undefined) service.ipc = raw.ipc;
  if (raw.platform !== undefined) service.platform = raw.platform;
  hostTuning(ctx, raw, service);
  return service;
}

function inRange(
  ctx: NormalizeContext,
  field: string,
  value: number,
  min: number,
  max?: number,
): number {
  if (value < min || (max !== undefined && value > max))
    fail(
      ctx,
      field,
      max === undefined ? `must be ${min} or more` : `must be between ${min} and ${max}`,
    );
  return value;
}

/** cpu_rt_period and cpu_rt_runtime: a number of microseconds, or a duration. */
function microseconds(ctx: NormalizeContext, field: string, value: string | number): number {
  if (typeof value === 'number' || /^\d+$/.test(value)) return Number(value);
  return duration(ctx, field, value) * 1000;
}

/** Memory plus swap; -1 (unlimited swap) is the one value that is not a size. */
function memswap(ctx: NormalizeContext, value: string | number): number {
  return value === -1 || value === '-1' ? -1 : size(ctx, 'memswap_limit', value);
}

function blkio(ctx: NormalizeContext, raw: NonNullable<RawService['blkio_config']>): BlkioConfig {
  const out: BlkioConfig = {};
  const rates = (field: string, list: { path: string; rate: string | number }[]) =>
    list.map((entry, index) => ({
      path: entry.path,
      rate: size(ctx, `blkio_config.${field}[${index}].rate`, entry.rate),
    }));
  if (raw.weight !== undefined)
    out.weight = inRange(ctx, 'blkio_config.weight', raw.weight, 10, 1000);
  if (raw.weight_device !== undefined) out.weightDevice = raw.weight_device;
  if (raw.device_read_bps !== undefined)
    out.deviceReadBps = rates('device_read_bps', raw.device_read_bps);
  if (raw.device_read_iops !== undefined) out.deviceReadIops = raw.device_read_iops;
  if (raw.device_write_bps !== undefined)
    out.deviceWriteBps = rates('device_write_bps', raw.device_write_bps);
  if (raw.device_write_iops !== undefined) out.deviceWriteIops = raw.device_write_iops;
  return out;
}

/** Runtime, cgroup, CPU, memory and namespace settings: each set only when the file sets it. */
function hostTuning(ctx: NormalizeContext, raw: RawService, service: ServiceConfig): void {
  if (raw.runtime !== undefined) service.runtime = raw.runtime;
  if (raw.cgroup !== undefined) service.cgroup = raw.cgroup;
  if (raw.cgroup_parent !== undefined) service.cgroupParent = raw.cgroup_parent;
  if (raw.cpu_count !== undefined) service.cpuCount = inRange(ctx, 'cpu_count', raw.cpu_count, 0);
  if (raw.cpu_percent !== undefined)
    service.cpuPercent = inRange(ctx, 'cpu_percent', raw.cpu_percent, 0, 100);
  if (raw.cpu_period !== undefined) service.cpuPeriod = raw.cpu_period;
  if (raw.cpu_quota !== undefined) service.cpuQuota = raw.cpu_quota;
  if (raw.cpu_rt_period !== undefined)
    service.cpuRtPeriod = microseconds(ctx, 'cpu_rt_period', raw.cpu_rt_period);
  if (raw.cpu_rt_runtime !== undefined)
    service.cpuRtRuntime = microseconds(ctx, 'cpu_rt_runtime', raw.cpu_rt_runtime);
  if (raw.cpuset !== undefined) service.cpuset = raw.cpuset;
  if (raw.mem_swappiness !== undefined)
    service.memSwappiness = inRange(ctx, 'mem_swappiness', raw.mem_swappiness, 0, 100);
  if (raw.memswap_limit !== undefined) service.memswapLimit = memswap(ctx, raw.memswap_limit);
  if (raw.oom_kill_disable !== undefined) service.oomKillDisable = raw.oom_kill_disable;
  if (raw.oom_score_adj !== undefined)
    service.oomScoreAdj = inRange(ctx, 'oom_score_adj', raw.oom_score_adj, -1000, 1000);
  if (raw.pids_limit !== undefined) service.pidsLimit = raw.pids_limit;
  if (raw.storage_opt !== undefined) service.storageOpt = raw.storage_opt;
  if (raw.userns_mode !== undefined) service.usernsMode = raw.userns_mode;
  if (raw.uts !== undefined) service.uts = raw.uts;
  if (raw.device_cgroup_rules !== undefined) service.deviceCgroupRules = raw.device_cgroup_rules;
  if (raw.blkio_config !== undefined) service.blkio = blkio(ctx, raw.blkio_config);
  if (raw.mac_address !== undefined) service.macAddress = raw.mac_address;
  if (raw.external_links !== undefined) service.externalLinks = raw.external_links;
  if (raw.isolation !== undefined) service.isolation = raw.isolation;
  if (raw.annotations !== undefined) service.annotations = stringMap(raw.annotations);
  if (raw.gpus !== undefined)
    service.gpus =
      raw.gpus === 'all'
        ? [{ capabilities: ['gpu'], count: -1 }]
        : deviceRequests(ctx, 'gpus', raw.gpus, true);
}

function externalName(external: boolean | { name?: string } | undefined): {
  external: boolean;
  name?: string;
} {
  if (external === undefined || external === false) return { external: false };
  if (external === true) return { external: true };
  return external.name === undefined ? { external: true } : { external: true, name: external.name };
}

/** A top-level network in canonical form, with its Docker name. */
export function normalizeNetwork(project: string, key: string, raw: RawNetwork): NetworkConfig {
  const ext = externalName(raw.external);
  const out: NetworkConfig = {
    key,
    name: ext.name ?? raw.name ?? (ext.external ? key : `${project}_${key}`),
    external: ext.external,
    driverOpts: stringMap(raw.driver_opts),
    internal: raw.internal ?? false,
    attachable: raw.attachable ?? false,
    enableIpv6: raw.enable_ipv6 ?? false,
    labels: stringMap(raw.labels),
  };
  if (raw.driver !== undefined) out.driver = raw.driver;
  if (raw.ipam !== undefined) {
    out.ipam = {
      config: (raw.ipam.config ?? []).map((entry) => {
        const pool: NonNullable<NetworkConfig['ipam']>['config'][number] = {};
        if (entry.subnet !== undefined) pool.subnet = entry.subnet;
        if (entry.gateway !== undefined) pool.gateway = entry.gateway;
        if (entry.ip_range !== undefined) pool.ipRange = entry.ip_range;
        if (entry.aux_addresses !== undefined) pool.auxAddresses = entry.aux_addresses;
        return pool;
      }),
    };
    if (raw.ipam.driver !== undefined) out.ipam.driver = raw.ipam.driver;
    if (raw.ipam.options !== undefined) out.ipam.options = raw.ipam.options;
  }
  return out;
}

/** A top-level volume in canonical form, with its Docker name. */
export function normalizeVolume(project: string, key: string, raw: RawVolume): VolumeConfig {
  const ext = externalName(raw.external);
  const out: VolumeConfig = {
    key,
    name: ext.name ?? raw.name ?? (ext.external ? key : `${project}_${key}`),
    external: ext.external,
    driverOpts: stringMap(raw.driver_opts),
    labels: stringMap(raw.labels),
  };
  if (raw.driver !== undefined) out.driver = raw.driver;
  return out;
}

/** A top-level secret or config with its content source; `environment` is read right away. */
export function normalizeFileDefinition(
  where: { file: string; kind: 'secrets' | 'configs'; key: string },
  raw: RawFileDefinition,
  lookup: Lookup,
  warn: (message: string) => void,
): SecretOrConfigDefinition {
  const field = `${where.kind}.${where.key}`;
  const error = (message: string): ComposeError =>
    new ComposeError('ComposeFieldInvalid', `${where.file}: field "${field}": ${message}`, {
      place: { file: where.file, field },
    });
  if (raw.external !== undefined && raw.external !== false)
    throw error('external secrets and configs exist only in swarm mode');
  const sources = [raw.file, raw.environment, raw.content].filter((v) => v !== undefined).length;
  if (sources !== 1) throw error('needs exactly one of file, environment or content');
  if (raw.file !== undefined) return { key: where.key, source: 'file', file: raw.file };
  if (raw.environment !== undefined) {
    const content = lookup(raw.environment);
    if (content === undefined)
      warn(
        `${where.file}: ${field}: variable "${raw.environment}" is not set, using an empty value`,
      );
    return {
      key: where.key,
      source: 'environment',
      environment: raw.environment,
      content: content ?? '',
    };
  }
  return { key: where.key, source: 'content', content: raw.content ?? '' };
}

/**
 * `volumes_from` names a service unless prefixed with `container:` (compose-go's reading);
 * the normalized form always carries the prefix so the engine can order by it.
 */
function canonicalVolumesFrom(entry: string): string {
  return entry.startsWith('container:') || entry.startsWith('service:')
    ? entry
    : `service:${entry}`;
}
