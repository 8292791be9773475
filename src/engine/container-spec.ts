import type Docker from 'dockerode';
import semver from 'semver';
import type {
  ComposeProject,
  DeviceRequestConfig,
  FileReference,
  SecretOrConfigDefinition,
  ServiceConfig,
  ServiceNetwork,
  ServiceVolume,
} from '../compose/types.js';
import { ComposeError } from '../errors.js';

/**
 * Pure mapping from a normalized compose service to the Engine API's container create body.
 * No I/O here: the engine adapter feeds it names it already resolved, and acts on the result.
 * The mapping follows Docker Compose v2 (pkg/compose/create.go, getCreateConfigs) field by field.
 */
export interface ContainerSpecInput {
  project: ComposeProject;
  service: ServiceConfig;
  /** 1-based replica number. */
  number: number;
  /** The container name (`<project>-<service>-<n>` or the service's container_name). */
  containerName: string;
  /** Every label to put on the container (user labels, Compose labels, berth labels). */
  labels: Record<string, string>;
  /** Container name of another service's first container (for volumes_from, links, network_mode service:). */
  resolveServiceContainer: (service: string) => string;
  /** Image reference to run (the service's image, or the tag berth built). */
  image: string;
  /**
   * Engine API version of the daemon (e.g. '1.41'). Fields newer than it (volume subpath,
   * healthcheck start_interval) are refused instead of being silently dropped by the daemon.
   * Defaults to MIN_API_VERSION, the oldest engine berth supports.
   */
  apiVersion?: string;
  /**
   * false: the container answers on its networks only under its own name, not the service's
   * aliases (a blue-green candidate that has not proven healthy yet). Default true.
   */
  serving?: boolean;
  /** The name put first in the aliases when serving, if not `containerName` (a candidate's final name). */
  aliasName?: string;
}

/** A file copied into the container after create and before start (secrets and configs with content). */
export interface ContainerFile {
  path: string;
  content: string;
  uid?: string;
  gid?: string;
  mode: number;
}

export interface NetworkAttachment {
  /** Docker network name. */
  networkName: string;
  endpoint: Docker.EndpointSettings;
}

export interface ContainerSpec {
  create: Docker.ContainerCreateOptions;
  /** The first network is attached at create; the engine connects the rest before start. */
  networks: NetworkAttachment[];
  files: ContainerFile[];
}

/** The oldest Engine API berth supports (Docker 20.10). */
export const MIN_API_VERSION = '1.41';

/** Mode of injected secret and config files when the service does not set one (Compose v2's default). */
export const DEFAULT_FILE_MODE = 0o444;

/**
 * The Engine API's mount object. dockerode's typing makes optional option fields mandatory,
 * and filling them with empty values changes what the daemon does, so berth uses its own.
 */
export interface MountSpec {
  Type: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string; CreateMountpoint?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Subpath?: string; Labels?: Record<string, string> };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

/** Builds the create body, network attachments and files for one container of a service. */
export function buildContainerSpec(input: ContainerSpecInput): ContainerSpec {
  const { service } = input;
  const apiVersion = input.apiVersion ?? MIN_API_VERSION;
  const links = buildLinks(input);
  const { networkMode, networks } = buildNetworking(input, links);
  const { binds, mounts } = buildVolumes(input, apiVersion);
  const files = buildFiles(input);
  const healthcheck = buildHealthcheck(service, apiVersion);
  const exposed = buildExposedPorts(service);
  const portBindings = buildPortBindings(service);
  const restartPolicy = buildRestartPolicy(service);
  const first = networks[0];
  const macAddress = placeMacAddress(service, first, apiVersion);

  const hostConfig: Docker.HostConfig = {
    NetworkMode: networkMode,
    ...(binds.length > 0 ? { Binds: binds } : {}),
    ...(mounts.length > 0 ? { Mounts: mounts as unknown as Docker.MountConfig } : {}),
    ...(Object.keys(portBindings).length > 0 ? { PortBindings: portBindings } : {}),
    ...(restartPolicy === undefined ? {} : { RestartPolicy: restartPolicy }),
    ...(service.capAdd.length > 0 ? { CapAdd: service.capAdd } : {}),
    ...(service.capDrop.length > 0 ? { CapDrop: service.capDrop } : {}),
    ...(service.dns.length > 0 ? { Dns: service.dns } : {}),
    ...(service.dnsSearch.length > 0 ? { DnsSearch: service.dnsSearch } : {}),
    ...(service.dnsOpt.length > 0 ? { DnsOptions: service.dnsOpt } : {}),
    ...(service.extraHosts.length > 0 ? { ExtraHosts: service.extraHosts } : {}),
    ...(service.groupAdd.length > 0 ? { GroupAdd: service.groupAdd } : {}),
    ...(service.privileged ? { Privileged: true } : {}),
    ...(service.readOnly ? { ReadonlyRootfs: true } : {}),
    ...(service.init === undefined ? {} : { Init: service.init }),
    ...(service.shmSize === undefined ? {} : { ShmSize: service.shmSize }),
    ...(Object.keys(service.sysctls).length > 0 ? { Sysctls: service.sysctls } : {}),
    ...(service.tmpfs.length > 0 ? { Tmpfs: buildTmpfs(service.tmpfs) } : {}),
    ...(service.pid === undefined ? {} : { PidMode: resolveServiceMode(input, service.pid) }),
    ...(service.ipc === undefined ? {} : { IpcMode: resolveServiceMode(input, service.ipc) }),
    ...(service.volumesFrom.length > 0
      ? { VolumesFrom: service.volumesFrom.map((entry) => resolveVolumesFrom(input, entry)) }
      : {}),
    ...(links.length > 0 ? { Links: links } : {}),
    ...(service.logging === undefined
      ? {}
      : { LogConfig: { Type: service.logging.driver ?? '', Config: service.logging.options } }),
    ...buildSecurityOpts(service.securityOpt),
    ...buildResources(service),
    ...buildIsolation(service),
    ...buildAnnotations(service, apiVersion),
  };

  const create: Docker.ContainerCreateOptions = {
    name: input.containerName,
    // dockerode sends the whole options object as query string too; the daemon reads `platform` there.
    ...(service.platform === undefined ? {} : { platform: service.platform }),
    Image: input.image,
    Labels: input.labels,
    Env: Object.entries(service.environment).map(([k, v]) => `${k}=${v}`),
    ...(service.command === undefined ? {} : { Cmd: service.command }),
    ...(service.entrypoint === undefined ? {} : { Entrypoint: service.entrypoint }),
    ...(service.hostname === undefined ? {} : { Hostname: service.hostname }),
    ...(service.domainname === undefined ? {} : { Domainname: service.domainname }),
    ...(service.user === undefined ? {} : { User: service.user }),
    ...(service.workingDir === undefined ? {} : { WorkingDir: service.workingDir }),
    ...(macAddress === undefined ? {} : { MacAddress: macAddress }),
    ...(Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
    ...(healthcheck === undefined ? {} : { Healthcheck: healthcheck }),
    ...(service.stopSignal === undefined ? {} : { StopSignal: service.stopSignal }),
    ...(service.stopGracePeriodMs === undefined
      ? {}
      : { StopTimeout: Math.floor(service.stopGracePeriodMs / 1000) }),
    Tty: service.tty,
    OpenStdin: service.stdinOpen,
    // Detached like `up -d`: nothing attaches stdin, so StdinOnce stays off too.
    AttachStdin: false,
    StdinOnce: false,
    AttachStdout: true,
    AttachStderr: true,
    ...(service.networkMode === 'disabled' ? { NetworkDisabled: true } : {}),
    HostConfig: hostConfig,
    ...(first === undefined
      ? {}
      : { NetworkingConfig: { EndpointsConfig: { [first.networkName]: first.endpoint } } }),
  };
  return { create, networks, files };
}

/** True when `actual` is the same or a newer Engine API version than `wanted` ("1.41" style). */
export function apiVersionAtLeast(actual: string, wanted: string): boolean {
  const a = semver.coerce(actual);
  const w = semver.coerce(wanted);
  return a !== null && w !== null && semver.gte(a, w);
}

/** Network keys in Compose's order: highest priority first, then by key. */
export function networksByPriority(networks: Record<string, ServiceNetwork>): string[] {
  return Object.keys(networks).sort((a, b) => {
    const pa = networks[a]?.priority ?? 0;
    const pb = networks[b]?.priority ?? 0;
    if (pa !== pb) return pb - pa;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

function place(input: ContainerSpecInput, field: string): { service: string; field: string } {
  return { service: input.service.name, field };
}

function buildNetworking(
  input: ContainerSpecInput,
  links: string[],
): { networkMode: string; networks: NetworkAttachment[] } {
  const { project, service } = input;
  if (service.networkMode !== undefined) {
    return { networkMode: resolveServiceMode(input, service.networkMode), networks: [] };
  }
  let keys = networksByPriority(service.networks);
  // Compose attaches a service without `networks:` to the project's default network.
  if (keys.length === 0 && project.networks.default !== undefined) keys = ['default'];
  if (keys.length === 0) return { networkMode: 'none', networks: [] };
  const networks = keys.map((key): NetworkAttachment => {
    const network = project.networks[key];
    if (network === undefined) {
      throw new ComposeError(
        'UndeclaredNetwork',
        `service ${service.name} uses undeclared network ${key}`,
        { place: place(input, `networks.${key}`) },
      );
    }
    const attachment: ServiceNetwork = service.networks[key] ?? { aliases: [] };
    const ipam = {
      ...(attachment.ipv4Address === undefined ? {} : { IPv4Address: attachment.ipv4Address }),
      ...(attachment.ipv6Address === undefined ? {} : { IPv6Address: attachment.ipv6Address }),
      ...(attachment.linkLocalIps === undefined || attachment.linkLocalIps.length === 0
        ? {}
        : { LinkLocalIPs: attachment.linkLocalIps }),
    };
    return {
      networkName: network.name,
      endpoint: {
        // Compose v2 puts the container name first, then the service name and the user's aliases.
        Aliases:
          input.serving === false
            ? [input.containerName]
            : unique([input.aliasName ?? input.containerName, service.name, ...attachment.aliases]),
        ...(links.length > 0 ? { Links: links } : {}),
        ...(Object.keys(ipam).length > 0 ? { IPAMConfig: ipam } : {}),
        ...(attachment.driverOpts === undefined ? {} : { DriverOpts: attachment.driverOpts }),
      },
    };
  });
  const first = networks[0];
  return { networkMode: first === undefined ? 'none' : first.networkName, networks };
}

/** `service:x` modes (network_mode, pid, ipc) point at the first container of service x. */
function resolveServiceMode(input: ContainerSpecInput, mode: string): string {
  if (mode.startsWith('service:')) {
    return `container:${input.resolveServiceContainer(mode.slice('service:'.length))}`;
  }
  return mode;
}

function resolveVolumesFrom(input: ContainerSpecInput, entry: string): string {
  const parts = entry.split(':');
  let kind: string;
  let name: string;
  let access: string | undefined;
  if (parts[0] === 'service' || parts[0] === 'container') {
    kind = parts[0];
    name = parts[1] ?? '';
    access = parts[2];
  } else {
    // Legacy form without prefix: a service when the project has one by that name.
    name = parts[0] ?? '';
    access = parts[1];
    kind = input.project.services[name] === undefined ? 'container' : 'service';
  }
  const source = kind === 'service' ? input.resolveServiceContainer(name) : name;
  return access === undefined ? source : `${source}:${access}`;
}

/** Compose v2's three link names per linked container (getLinks mimics v1's _get_links). */
function buildLinks(input: ContainerSpecInput): string[] {
  const { project, service, number } = input;
  const links: string[] = [];
  for (const raw of service.links) {
    const colon = raw.indexOf(':');
    const linked = colon === -1 ? raw : raw.slice(0, colon);
    const alias = colon === -1 ? raw : raw.slice(colon + 1);
    const container = input.resolveServiceContainer(linked);
    links.push(
      `${container}:${alias}`,
      `${container}:${linked}-${number}`,
      `${container}:${project.name}-${linked}-${number}`,
    );
  }
  // Containers outside the project are linked as named, under the alias or their own name.
  for (const raw of service.externalLinks ?? []) {
    const [container = raw, alias = container] = raw.split(':');
    links.push(`${container}:${alias}`);
  }
  return links;
}

function buildExposedPorts(service: ServiceConfig): Record<string, object> {
  const exposed: Record<string, object> = {};
  for (const entry of service.expose) exposed[entry.includes('/') ? entry : `${entry}/tcp`] = {};
  for (const port of service.ports) exposed[`${port.target}/${port.protocol}`] = {};
  return exposed;
}

function buildPortBindings(
  service: ServiceConfig,
): Record<string, { HostIp: string; HostPort: string }[]> {
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const port of service.ports) {
    const key = `${port.target}/${port.protocol}`;
    const binding = {
      HostIp: port.hostIp ?? '',
      HostPort: port.published === undefined ? '' : String(port.published),
    };
    (bindings[key] ??= []).push(binding);
  }
  return bindings;
}

function buildHealthcheck(
  service: ServiceConfig,
  apiVersion: string,
): Docker.HealthConfig | undefined {
  const check = service.healthcheck;
  if (check === undefined) return undefined;
  if (check.disable) return { Test: ['NONE'] };
  if (check.startIntervalMs !== undefined && !apiVersionAtLeast(apiVersion, '1.44')) {
    throw new ComposeError(
      'UnsupportedByEngine',
      `healthcheck.start_interval of service ${service.name} needs Engine API 1.44 (Docker 25), the daemon speaks ${apiVersion}`,
      { place: { service: service.name, field: 'healthcheck.start_interval' } },
    );
  }
  const ns = (ms: number | undefined): number | undefined =>
    ms === undefined ? undefined : Math.round(ms * 1_000_000);
  const health: Docker.HealthConfig & { StartInterval?: number } = {};
  if (check.test !== undefined) health.Test = check.test;
  const interval = ns(check.intervalMs);
  if (interval !== undefined) health.Interval = interval;
  const timeout = ns(check.timeoutMs);
  if (timeout !== undefined) health.Timeout = timeout;
  if (check.retries !== undefined) health.Retries = check.retries;
  const startPeriod = ns(check.startPeriodMs);
  if (startPeriod !== undefined) health.StartPeriod = startPeriod;
  const startInterval = ns(check.startIntervalMs);
  if (startInterval !== undefined) health.StartInterval = startInterval;
  return health;
}

function buildRestartPolicy(
  service: ServiceConfig,
): { Name: string; MaximumRetryCount?: number } | undefined {
  const deployPolicy = service.deploy?.restartPolicy;
  if (deployPolicy !== undefined) {
    // deploy.restart_policy wins over restart:, as in Compose v2. Its conditions are swarm's
    // words, and a missing condition means `any` (the spec's default, and what v1 does).
    const condition = deployPolicy.condition ?? 'any';
    const name = condition === 'any' ? 'always' : condition === 'none' ? 'no' : 'on-failure';
    return { Name: name, MaximumRetryCount: deployPolicy.maxAttempts ?? 0 };
  }
  if (service.restart === undefined) return undefined;
  return {
    Name: service.restart.name,
    MaximumRetryCount: service.restart.maximumRetryCount ?? 0,
  };
}

function buildTmpfs(entries: string[]): Record<string, string> {
  const tmpfs: Record<string, string> = {};
  for (const entry of entries) {
    const colon = entry.indexOf(':');
    if (colon === -1) tmpfs[entry] = '';
    else tmpfs[entry.slice(0, colon)] = entry.slice(colon + 1);
  }
  return tmpfs;
}

function buildSecurityOpts(
  opts: string[],
): Pick<Docker.HostConfig, 'SecurityOpt' | 'MaskedPaths' | 'ReadonlyPaths'> {
  // `systempaths=unconfined` is a CLI/Compose option, not a daemon one: it clears the masked paths.
  const unconfined = opts.includes('systempaths=unconfined');
  const rest = opts.filter((opt) => opt !== 'systempaths=unconfined');
  return {
    ...(rest.length > 0 ? { SecurityOpt: rest } : {}),
    ...(unconfined ? { MaskedPaths: [], ReadonlyPaths: [] } : {}),
  };
}

function buildResources(service: ServiceConfig): Docker.HostConfig {
  const limits = service.deploy?.resources?.limits;
  const reservations = service.deploy?.resources?.reservations;
  // deploy.resources override the service-level fields, as setLimits/setReservations do in Compose v2.
  const memory = limits?.memory ?? service.memLimit;
  const cpus = limits?.cpus ?? service.cpus;
  const pids = limits?.pids ?? service.pidsLimit;
  const memReservation = reservations?.memory ?? service.memReservation;
  const ulimits = Object.entries(service.ulimits).map(([name, u]) => ({
    Name: name,
    Soft: u.soft,
    Hard: u.hard,
  }));
  const deviceRequests = [...(reservations?.devices ?? []), ...(service.gpus ?? [])];
  return {
    ...(memory === undefined ? {} : { Memory: memory }),
    ...(cpus === undefined ? {} : { NanoCpus: Math.round(cpus * 1e9) }),
    ...(pids === undefined ? {} : { PidsLimit: pids }),
    ...(memReservation === undefined ? {} : { MemoryReservation: memReservation }),
    ...(service.cpuShares === undefined ? {} : { CpuShares: service.cpuShares }),
    ...buildCpuAndMemory(service),
    ...buildBlkio(service),
    ...(deviceRequests.length > 0 ? { DeviceRequests: deviceRequests.map(deviceRequest) } : {}),
    ...(service.devices.length > 0
      ? {
          Devices: service.devices.map((d) => ({
            PathOnHost: d.source,
            PathInContainer: d.target,
            CgroupPermissions: d.permissions,
          })),
        }
      : {}),
    ...(ulimits.length > 0 ? { Ulimits: ulimits } : {}),
  };
}

/** The service-level fields Compose v2 maps one to one into HostConfig (getDeployResources, getCreateConfigs). */
function buildCpuAndMemory(service: ServiceConfig): Docker.HostConfig {
  const fields: [keyof Docker.HostConfig | 'CgroupnsMode', unknown][] = [
    ['Runtime', service.runtime],
    ['CgroupnsMode', service.cgroup],
    ['CgroupParent', service.cgroupParent],
    ['CpuCount', service.cpuCount],
    ['CpuPercent', service.cpuPercent],
    ['CpuPeriod', service.cpuPeriod],
    ['CpuQuota', service.cpuQuota],
    ['CpuRealtimePeriod', service.cpuRtPeriod],
    ['CpuRealtimeRuntime', service.cpuRtRuntime],
    ['CpusetCpus', service.cpuset],
    ['MemorySwappiness', service.memSwappiness],
    ['MemorySwap', service.memswapLimit],
    ['OomKillDisable', service.oomKillDisable],
    ['OomScoreAdj', service.oomScoreAdj],
    ['StorageOpt', service.storageOpt],
    ['UsernsMode', service.usernsMode],
    ['UTSMode', service.uts],
    ['DeviceCgroupRules', service.deviceCgroupRules],
  ];
  return Object.fromEntries(fields.filter(([, value]) => value !== undefined));
}

function buildBlkio(service: ServiceConfig): Docker.HostConfig {
  const blkio = service.blkio;
  if (blkio === undefined) return {};
  const throttle = (list: { path: string; rate: number }[] | undefined) =>
    list?.map((entry) => ({ Path: entry.path, Rate: entry.rate }));
  const fields: [keyof Docker.HostConfig, unknown][] = [
    ['BlkioWeight', blkio.weight],
    ['BlkioWeightDevice', blkio.weightDevice?.map((d) => ({ Path: d.path, Weight: d.weight }))],
    ['BlkioDeviceReadBps', throttle(blkio.deviceReadBps)],
    ['BlkioDeviceReadIOps', throttle(blkio.deviceReadIops)],
    ['BlkioDeviceWriteBps', throttle(blkio.deviceWriteBps)],
    ['BlkioDeviceWriteIOps', throttle(blkio.deviceWriteIops)],
  ];
  return Object.fromEntries(fields.filter(([, value]) => value !== undefined));
}

function deviceRequest(request: DeviceRequestConfig): Docker.DeviceRequest {
  return {
    Driver: request.driver ?? '',
    Count: request.count ?? 0,
    DeviceIDs: request.deviceIds ?? [],
    Capabilities: [request.capabilities],
    Options: request.options ?? {},
  };
}

function buildIsolation(service: ServiceConfig): Docker.HostConfig {
  return service.isolation === undefined ? {} : { Isolation: service.isolation };
}

/** Annotations reach the runtime from Engine API 1.43 (Docker 24); older daemons drop them silently. */
function buildAnnotations(service: ServiceConfig, apiVersion: string): Docker.HostConfig {
  if (service.annotations === undefined) return {};
  if (!apiVersionAtLeast(apiVersion, '1.43')) {
    throw new ComposeError(
      'UnsupportedByEngine',
      `annotations of service ${service.name} need Engine API 1.43 (Docker 24), the daemon speaks ${apiVersion}`,
      { place: { service: service.name, field: 'annotations' } },
    );
  }
  return { Annotations: service.annotations } as Docker.HostConfig;
}

/**
 * Engine API 1.44 moved the MAC address to the endpoint and warns about the container-wide
 * one; older daemons know only the container-wide field (Compose v2's prepareContainerMACAddress).
 */
function placeMacAddress(
  service: ServiceConfig,
  first: NetworkAttachment | undefined,
  apiVersion: string,
): string | undefined {
  if (service.macAddress === undefined) return undefined;
  if (first === undefined || !apiVersionAtLeast(apiVersion, '1.44')) return service.macAddress;
  first.endpoint.MacAddress = service.macAddress;
  return undefined;
}

function buildVolumes(
  input: ContainerSpecInput,
  apiVersion: string,
): { binds: string[]; mounts: MountSpec[] } {
  const { service } = input;
  const binds: string[] = [];
  const mounts: MountSpec[] = [];
  const targets = new Set<string>();
  for (const volume of service.volumes) {
    targets.add(volume.target);
    if (volume.type === 'bind' && !requiresMountApi(volume)) {
      binds.push(bindString(volume));
    } else {
      mounts.push(buildMount(input, volume, apiVersion));
    }
  }
  // Secrets and configs read from files are read-only bind mounts; a volume on the same target wins.
  for (const ref of service.secrets) {
    const definition = fileDefinition(input, 'secrets', ref);
    if (definition.source !== 'file' || targets.has(ref.target)) continue;
    targets.add(ref.target);
    // Compose v2 mounts secrets with create_host_path false, which needs the Mount API.
    mounts.push({ Type: 'bind', Source: definition.file, Target: ref.target, ReadOnly: true });
  }
  for (const ref of service.configs) {
    const definition = fileDefinition(input, 'configs', ref);
    if (definition.source !== 'file' || targets.has(ref.target)) continue;
    targets.add(ref.target);
    binds.push(`${definition.file}:${ref.target}:ro`);
  }
  return { binds, mounts };
}

/** Compose v2 uses the Binds API (which creates a missing host path) unless an option needs Mounts. */
function requiresMountApi(volume: ServiceVolume): boolean {
  if (volume.bind === undefined) return false;
  return !volume.bind.createHostPath || volume.bind.propagation !== undefined;
}

function bindString(volume: ServiceVolume): string {
  const options = [volume.readOnly ? 'ro' : 'rw'];
  if (volume.bind?.selinux !== undefined) options.push(volume.bind.selinux);
  return `${volume.source ?? ''}:${volume.target}:${options.join(',')}`;
}

function buildMount(
  input: ContainerSpecInput,
  volume: ServiceVolume,
  apiVersion: string,
): MountSpec {
  const mount: MountSpec = { Type: volume.type, Target: volume.target };
  if (volume.type === 'volume') {
    if (volume.source !== undefined) {
      mount.Source = input.project.volumes[volume.source]?.name ?? volume.source;
    }
    const subpath = volume.volume?.subpath;
    if (subpath !== undefined && !apiVersionAtLeast(apiVersion, '1.45')) {
      throw new ComposeError(
        'UnsupportedByEngine',
        `volume subpath on ${volume.target} of service ${input.service.name} needs Engine API 1.45 (Docker 26), the daemon speaks ${apiVersion}`,
        { place: place(input, 'volumes.volume.subpath') },
      );
    }
    const labels = volume.volume?.labels;
    if (volume.volume !== undefined && (volume.volume.nocopy || subpath !== undefined || labels)) {
      mount.VolumeOptions = {
        ...(volume.volume.nocopy ? { NoCopy: true } : {}),
        ...(subpath === undefined ? {} : { Subpath: subpath }),
        ...(labels === undefined ? {} : { Labels: labels }),
      };
    }
  } else if (volume.type === 'bind') {
    mount.Source = volume.source ?? '';
    if (volume.bind !== undefined) {
      const options = {
        ...(volume.bind.propagation === undefined ? {} : { Propagation: volume.bind.propagation }),
        // Only the Mount API on Engine 1.42+ knows CreateMountpoint; sent only when asked for.
        ...(volume.bind.createHostPath ? { CreateMountpoint: true } : {}),
      };
      if (Object.keys(options).length > 0) mount.BindOptions = options;
    }
  } else if (volume.tmpfs !== undefined) {
    const options = {
      ...(volume.tmpfs.size === undefined ? {} : { SizeBytes: volume.tmpfs.size }),
      ...(volume.tmpfs.mode === undefined ? {} : { Mode: volume.tmpfs.mode }),
    };
    if (Object.keys(options).length > 0) mount.TmpfsOptions = options;
  }
  if (volume.readOnly) mount.ReadOnly = true;
  if (volume.consistency !== undefined) mount.Consistency = volume.consistency;
  return mount;
}

function fileDefinition(
  input: ContainerSpecInput,
  kind: 'secrets' | 'configs',
  ref: FileReference,
): SecretOrConfigDefinition {
  const definition = input.project[kind][ref.source];
  if (definition === undefined) {
    throw new ComposeError(
      kind === 'secrets' ? 'UndeclaredSecret' : 'UndeclaredConfig',
      `service ${input.service.name} uses undeclared ${kind === 'secrets' ? 'secret' : 'config'} ${ref.source}`,
      { place: place(input, `${kind}.${ref.source}`) },
    );
  }
  return definition;
}

/** Secrets and configs given as content or environment are copied in, as Compose v2 does. */
function buildFiles(input: ContainerSpecInput): ContainerFile[] {
  const { service } = input;
  const files: ContainerFile[] = [];
  const kinds = [
    ['secrets', service.secrets],
    ['configs', service.configs],
  ] as const;
  for (const [kind, refs] of kinds) {
    for (const ref of refs) {
      const definition = fileDefinition(input, kind, ref);
      if (definition.source === 'file') continue;
      if (service.readOnly) {
        throw new ComposeError(
          'ReadOnlyFileInjection',
          `cannot copy ${kind === 'secrets' ? 'secret' : 'config'} ${ref.source} into read-only service ${service.name}: only file sources can be used with read_only`,
          { place: place(input, `${kind}.${ref.source}`) },
        );
      }
      files.push({
        path: ref.target,
        content: definition.content,
        ...(ref.uid === undefined ? {} : { uid: ref.uid }),
        ...(ref.gid === undefined ? {} : { gid: ref.gid }),
        mode: ref.mode ?? DEFAULT_FILE_MODE,
      });
    }
  }
  return files;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
