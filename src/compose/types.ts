/**
 * The normalized compose project: what the loader produces and the engine consumes.
 * Everything is in one canonical form so the engine never re-parses compose syntax:
 * ports and volumes in long form, durations in milliseconds, sizes in bytes, command and
 * entrypoint as argv arrays, relative paths resolved to absolute ones.
 * Optional fields are left out (not set to undefined) when the compose file does not set them,
 * so the service's config hash only changes when the file does.
 */

export interface ComposeProject {
  /** Project name, normalized as Compose does (lowercase, [a-z0-9_-], starts with a letter or digit). */
  name: string;
  /** Absolute path of the stack folder (compose's project directory). */
  workingDir: string;
  /** Absolute paths of the compose files that were loaded, main file first. */
  configFiles: string[];
  /** Only the services enabled by the active profiles. */
  services: Record<string, ServiceConfig>;
  /** Networks the services use, keyed by their compose key; `default` added when needed. */
  networks: Record<string, NetworkConfig>;
  volumes: Record<string, VolumeConfig>;
  secrets: Record<string, SecretOrConfigDefinition>;
  configs: Record<string, SecretOrConfigDefinition>;
  /** Top-level `x-*` extension fields, untouched (berth reads `x-berth` from here). */
  extensions: Record<string, unknown>;
}

export interface LoadResult {
  project: ComposeProject;
  /** Non-fatal findings, such as an unset variable without default. */
  warnings: string[];
}

export type PullPolicy = 'always' | 'missing' | 'never' | 'build';

export interface BuildConfig {
  /** Absolute path of the build context. */
  context: string;
  /** Dockerfile path relative to the context. */
  dockerfile: string;
  args: Record<string, string>;
  target?: string;
  labels?: Record<string, string>;
  network?: string;
  extraHosts?: string[];
  shmSize?: number;
  noCache?: boolean;
  pull?: boolean;
}

export interface PortConfig {
  /** Container port. Ranges are expanded by the loader into one entry per port. */
  target: number;
  /** Host port; undefined means Docker picks an ephemeral one. */
  published?: number;
  hostIp?: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  mode?: 'ingress' | 'host';
}

export interface ServiceVolume {
  type: 'bind' | 'volume' | 'tmpfs';
  /** bind: absolute host path; volume: the project volume key (or undefined for anonymous). */
  source?: string;
  target: string;
  readOnly: boolean;
  bind?: { propagation?: string; createHostPath: boolean; selinux?: 'z' | 'Z' };
  volume?: { nocopy: boolean; subpath?: string; labels?: Record<string, string> };
  tmpfs?: { size?: number; mode?: number };
  consistency?: string;
}

export interface ServiceNetwork {
  aliases: string[];
  ipv4Address?: string;
  ipv6Address?: string;
  priority?: number;
  linkLocalIps?: string[];
  driverOpts?: Record<string, string>;
}

/** `disable: true` turns off a healthcheck the image defines. Durations in milliseconds. */
export type HealthcheckConfig =
  | { disable: true }
  | {
      disable: false;
      /** Docker's form: ['CMD', ...], ['CMD-SHELL', '...'] or ['NONE']. */
      test?: string[];
      intervalMs?: number;
      timeoutMs?: number;
      retries?: number;
      startPeriodMs?: number;
      startIntervalMs?: number;
    };

export type DependsOnCondition =
  'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface DependsOnConfig {
  condition: DependsOnCondition;
  /** false: a missing or disabled dependency is not an error (Compose `required: false`). */
  required: boolean;
  /** true: recreating the dependency restarts this service (Compose `restart: true`). */
  restart: boolean;
}

export interface RestartPolicy {
  name: 'no' | 'always' | 'on-failure' | 'unless-stopped';
  maximumRetryCount?: number;
}

export interface ResourceLimits {
  /** Fractional CPUs (0.5 = half a core). */
  cpus?: number;
  /** Bytes. */
  memory?: number;
  pids?: number;
}

/** A request for devices a driver provides (GPUs): `gpus` and deploy.resources.reservations.devices. */
export interface DeviceRequestConfig {
  driver?: string;
  /** Number of devices; -1 for all. Left out when deviceIds names them. */
  count?: number;
  deviceIds?: string[];
  capabilities: string[];
  options?: Record<string, string>;
}

export interface DeployConfig {
  replicas?: number;
  resources?: {
    limits?: ResourceLimits;
    reservations?: ResourceLimits & { devices?: DeviceRequestConfig[] };
  };
  restartPolicy?: {
    condition?: 'none' | 'on-failure' | 'any';
    maxAttempts?: number;
    delayMs?: number;
    windowMs?: number;
  };
  labels?: Record<string, string>;
}

export interface DeviceMapping {
  source: string;
  target: string;
  permissions: string;
}

export interface Ulimit {
  soft: number;
  hard: number;
}

/** Block IO limits; rates in bytes (or operations) per second. */
export interface BlkioConfig {
  weight?: number;
  weightDevice?: { path: string; weight: number }[];
  deviceReadBps?: { path: string; rate: number }[];
  deviceReadIops?: { path: string; rate: number }[];
  deviceWriteBps?: { path: string; rate: number }[];
  deviceWriteIops?: { path: string; rate: number }[];
}

export interface LoggingConfig {
  driver?: string;
  options: Record<string, string>;
}

/** A service's use of a secret or config: mounted as a file in the container. */
export interface FileReference {
  /** The top-level key in `secrets:` / `configs:`. */
  source: string;
  /** Absolute path in the container (secrets default to /run/secrets/<source>, configs to /<source>). */
  target: string;
  uid?: string;
  gid?: string;
  mode?: number;
}

export interface ServiceConfig {
  name: string;
  image?: string;
  build?: BuildConfig;
  pullPolicy: PullPolicy;
  command?: string[];
  entrypoint?: string[];
  /** env_file entries merged first, then `environment` (which wins). Values fully resolved. */
  environment: Record<string, string>;
  ports: PortConfig[];
  /** Exposed ports as "port/protocol", e.g. "3000/tcp". */
  expose: string[];
  volumes: ServiceVolume[];
  /** Network key -> attachment. Empty when `networkMode` is set. */
  networks: Record<string, ServiceNetwork>;
  networkMode?: string;
  healthcheck?: HealthcheckConfig;
  dependsOn: Record<string, DependsOnConfig>;
  restart?: RestartPolicy;
  deploy?: DeployConfig;
  /** Number of containers to run: deploy.replicas, else scale, else 1. */
  replicas: number;
  labels: Record<string, string>;
  containerName?: string;
  hostname?: string;
  domainname?: string;
  user?: string;
  workingDir?: string;
  /** "host:ip" entries. */
  extraHosts: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOpt: string[];
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  devices: DeviceMapping[];
  securityOpt: string[];
  /** Service-level `tmpfs:` entries, "path" or "path:options". */
  tmpfs: string[];
  shmSize?: number;
  ulimits: Record<string, Ulimit>;
  sysctls: Record<string, string>;
  logging?: LoggingConfig;
  init?: boolean;
  stopSignal?: string;
  stopGracePeriodMs?: number;
  memLimit?: number;
  memReservation?: number;
  cpus?: number;
  cpuShares?: number;
  readOnly: boolean;
  tty: boolean;
  stdinOpen: boolean;
  secrets: FileReference[];
  configs: FileReference[];
  pid?: string;
  ipc?: string;
  groupAdd: string[];
  /** "service:name[:ro|:rw]" or "container:name[:ro|:rw]". */
  volumesFrom: string[];
  /** "service" or "service:alias". */
  links: string[];
  profiles: string[];
  platform?: string;
  // The fields below were added after stacks were deployed with berth: each is left out when
  // the compose file does not set it, so existing services keep their config hash.
  runtime?: string;
  cgroup?: 'host' | 'private';
  cgroupParent?: string;
  cpuCount?: number;
  cpuPercent?: number;
  cpuPeriod?: number;
  cpuQuota?: number;
  /** Microseconds. */
  cpuRtPeriod?: number;
  /** Microseconds. */
  cpuRtRuntime?: number;
  cpuset?: string;
  memSwappiness?: number;
  /** Bytes of memory plus swap; -1 for unlimited swap. */
  memswapLimit?: number;
  oomKillDisable?: boolean;
  oomScoreAdj?: number;
  pidsLimit?: number;
  storageOpt?: Record<string, string>;
  usernsMode?: string;
  uts?: string;
  deviceCgroupRules?: string[];
  blkio?: BlkioConfig;
  macAddress?: string;
  /** "container" or "container:alias", containers outside the project. */
  externalLinks?: string[];
  isolation?: string;
  annotations?: Record<string, string>;
  gpus?: DeviceRequestConfig[];
}

export interface NetworkConfig {
  key: string;
  /** Docker name: `<project>_<key>` unless `name:` is set (or the external name). */
  name: string;
  external: boolean;
  driver?: string;
  driverOpts: Record<string, string>;
  ipam?: {
    driver?: string;
    config: {
      subnet?: string;
      gateway?: string;
      ipRange?: string;
      auxAddresses?: Record<string, string>;
    }[];
    options?: Record<string, string>;
  };
  internal: boolean;
  attachable: boolean;
  enableIpv6: boolean;
  labels: Record<string, string>;
}

export interface VolumeConfig {
  key: string;
  /** Docker name: `<project>_<key>` unless `name:` is set (or the external name). */
  name: string;
  external: boolean;
  driver?: string;
  driverOpts: Record<string, string>;
  labels: Record<string, string>;
}

/** A top-level secret or config, with its content source resolved. */
export type SecretOrConfigDefinition =
  | { key: string; source: 'file'; file: string }
  | { key: string; source: 'environment'; environment: string; content: string }
  | { key: string; source: 'content'; content: string };
