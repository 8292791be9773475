import type { ComposeProject } from '../compose/types.js';
import type { PlanEntry } from '../plan-entry.js';

/** Labels Compose v2 writes, so Compose, Traefik and Portainer recognise berth's stacks. */
export const LABEL = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  containerNumber: 'com.docker.compose.container-number',
  oneoff: 'com.docker.compose.oneoff',
  configHash: 'com.docker.compose.config-hash',
  workingDir: 'com.docker.compose.project.working_dir',
  configFiles: 'com.docker.compose.project.config_files',
  dependsOn: 'com.docker.compose.depends_on',
  version: 'com.docker.compose.version',
  image: 'com.docker.compose.image',
  network: 'com.docker.compose.network',
  volume: 'com.docker.compose.volume',
  /** berth's own labels. */
  managed: 'dev.berth.managed',
  stackVersion: 'dev.berth.stack-version',
  generation: 'dev.berth.generation',
  /** The deployment that started a container beside the old ones (blue-green, canary); not hashed. */
  rollout: 'dev.berth.rollout',
  /** A one-off job's name (a migration); such containers are one-offs, outside the services. */
  job: 'dev.berth.job',
} as const;

export type ContainerState =
  'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export type ContainerHealth = 'healthy' | 'unhealthy' | 'starting' | 'none';

/** The health a container's healthcheck moves it to (Docker's `health_status: <health>`). */
export type HealthTransition = Exclude<ContainerHealth, 'none'>;

export interface ObservedContainer {
  id: string;
  name: string;
  service: string;
  number: number;
  state: ContainerState;
  health: ContainerHealth;
  /** Value of the config-hash label. */
  configHash?: string;
  image: string;
  /** Image ID the container runs (sha256:...). */
  imageId: string;
  labels: Record<string, string>;
  /** Present when the listing had it or the container was inspected. */
  exitCode?: number;
  restartCount?: number;
  startedAt?: string;
}

export interface ObservedService {
  name: string;
  containers: ObservedContainer[];
}

export interface ObservedProject {
  name: string;
  services: Record<string, ObservedService>;
  /** Labels of the project's containers that say which stack version berth deployed. */
  stackVersion?: string;
  workingDir?: string;
}

export interface ApplyProgress {
  step: 'pull' | 'build' | 'network' | 'volume' | 'create' | 'start' | 'wait' | 'stop' | 'remove';
  subject: string;
  detail?: string;
}

export interface ApplyOptions {
  /** Only converge these services (and nothing else); default: all. */
  services?: string[];
  /** Remove containers of services that left the file. Default true. */
  removeOrphans?: boolean;
  /** Extra labels put on every container (berth's stack version, for example). Part of the hash. */
  labels?: Record<string, string>;
  /** Recreate even when the hash matches. */
  forceRecreate?: boolean;
  /** How long depends_on waits may take. Default 120 s. */
  dependencyTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: ApplyProgress) => void;
}

export interface ApplyResult {
  /** What was done, one entry per container (create, recreate, unchanged, remove). */
  plan: PlanEntry[];
}

export interface DownOptions {
  /** Also remove the project's named volumes (never external ones). */
  volumes?: boolean;
  /** Override each service's stop_grace_period. */
  timeoutMs?: number;
}

export interface HealthOptions {
  /** Only these services; default all services of the project. */
  services?: string[];
  /**
   * Only these containers (blue-green candidates beside old ones): each service counts just its
   * listed containers. Overrides `services`.
   */
  containerIds?: string[];
  timeoutMs: number;
  /** How long a container without healthcheck must run without restarting. Default 10 s. */
  stabilityMs?: number;
  signal?: AbortSignal;
}

export type ServiceHealthStatus = 'healthy' | 'unhealthy' | 'starting' | 'completed' | 'missing';

export interface ServiceHealth {
  service: string;
  status: ServiceHealthStatus;
  /** One line per container: why it is or is not healthy. */
  detail: string;
  containers: ObservedContainer[];
}

export interface HealthReport {
  healthy: boolean;
  /** Why the wait ended: all healthy, a service turned unhealthy, or the timeout passed. */
  outcome: 'healthy' | 'unhealthy' | 'timeout';
  services: ServiceHealth[];
  /** A one-line summary for logs and health history. */
  detail: string;
  elapsedMs: number;
}

/** What `plan` reports per container: the entry `apply` would execute, without executing it. */
export interface ContainerPlanItem extends PlanEntry {
  service: string;
  /** The replica number (Compose's container-number label). */
  number: number;
  /** The existing container the entry is about (recreate, remove, unchanged). */
  containerId?: string;
  /** unchanged entries only: the container is not running and apply would start it. */
  start?: boolean;
  /** unchanged entries only: apply would restart it (a `restart: true` dependency is recreated). */
  restart?: boolean;
}

export interface PlanOptions {
  services?: string[];
  removeOrphans?: boolean;
  /** The labels apply would be called with (berth's stack version): part of the hash. */
  labels?: Record<string, string>;
  forceRecreate?: boolean;
}

/** One event about a berth-managed container, as `watchEvents` delivers it. */
export interface ManagedContainerEvent {
  project: string;
  service: string;
  containerId: string;
  containerName: string;
  /** die, stop, kill, oom, destroy, start, create, restart, pause, unpause, health_status */
  action: string;
  /** Exit code of a `die` event. */
  exitCode?: number;
  /** What a `health_status` event changed the container's health to. */
  health?: HealthTransition;
  /** Epoch milliseconds, from Docker's timeNano. */
  at: number;
}

export interface WatchEventsOptions {
  /** Called each time the stream is (re)opened; `reconnect` is false for the first. */
  onConnect?: (info: { reconnect: boolean }) => void;
  /** Called when the stream fails or ends, before waiting `delayMs` to reconnect. */
  onDisconnect?: (info: { error?: unknown; delayMs: number }) => void;
  /** Reconnect backoff bounds. Defaults 250 ms and 10 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface EventSubscription {
  close(): void;
}

/** A container to start beside a service's running ones (blue-green, canary, stop-first). */
export interface CandidateRequest {
  service: string;
  /** The replica number it takes over (Compose's container-number label). */
  number: number;
  /** Its name while it runs; renamed to the canonical name once the old container is gone. */
  name: string;
  /** true: joins the service's aliases at once (nothing runs beside it); false: hidden until promoted. */
  serving: boolean;
  /** berth's labels (stack version, managed): part of the config hash, as `apply` puts them. */
  labels: Record<string, string>;
  /** The deployment that starts it, written to the rollout label (outside the hash). */
  rolloutId: string;
}

export interface ProbeResult {
  ok: boolean;
  /** The probe's output or why it could not run. */
  detail: string;
}

/**
 * The container-level steps blue-green and canary compose a rollout from. Each acts on named
 * containers only, never on a whole project, so old and new can be handled apart.
 */
export interface RolloutEngine {
  /** Images (pulled or built), networks and volumes the project needs; no container is touched. */
  prepare(
    project: ComposeProject,
    options?: { services?: string[]; signal?: AbortSignal },
  ): Promise<void>;
  /** Creates and starts one container for a service; returns it as observed after start. */
  startCandidate(project: ComposeProject, request: CandidateRequest): Promise<ObservedContainer>;
  /**
   * Puts a container into (true) or out of (false) its service's aliases on every network it is
   * on. Docker cannot edit aliases in place: the endpoint is disconnected and connected again,
   * which keeps its address, so connections already open survive. A no-op when already so.
   */
  setServing(project: ComposeProject, containerId: string, serving: boolean): Promise<void>;
  /** Stops (stop signal, stop_grace_period) and removes containers; gone ones are skipped. */
  removeContainers(projectName: string, containerIds: string[]): Promise<void>;
  /** Stops containers with their stop signal and grace period, keeping them. */
  stopContainers(projectName: string, containerIds: string[]): Promise<void>;
  renameContainer(containerId: string, name: string): Promise<void>;
  /** Requests `url` from inside the container (its network namespace) with wget or curl. */
  probe(containerId: string, url: string, timeoutMs: number): Promise<ProbeResult>;
  /** Inspects containers (state, health, restart count); missing ones are left out. */
  inspectContainers(containerIds: string[]): Promise<ObservedContainer[]>;
}

/** A one-off job (a migration) to run in a container of a service of the project. */
export interface JobRequest {
  /** Unique within the stack: names the container and its `dev.berth.job` label. */
  name: string;
  service: string;
  /** Replaces the service's command; default: the service's own. */
  command?: string[];
  /** The job is killed when it runs longer. */
  timeoutMs: number;
  /** berth's labels (stack version, managed), as the version's containers carry them. */
  labels: Record<string, string>;
  /** Aborting kills the job. */
  signal?: AbortSignal;
}

export interface JobResult {
  /** The container's exit code (137 after a kill). */
  exitCode: number;
  /** The end of its output (stdout and stderr interleaved), at most 64 KiB. */
  output: string;
  durationMs: number;
  /** Killed at its timeout. */
  timedOut: boolean;
}

/** The container berth itself runs in, found on the daemon berth talks to. */
export interface SelfContainer {
  id: string;
  name: string;
  /** Its Compose project label (berth started with `docker compose up`), if any. */
  project?: string;
}

/**
 * The only gateway to Docker. Implemented with dockerode in `docker-engine.ts`;
 * every other module works against this interface.
 *
 * It lists, changes and removes only containers, networks and volumes carrying berth's managed
 * label, and those of projects the operator lets berth adopt; a project's other objects (a
 * hand-run Compose project of the same name) are left alone and reported by
 * `foreignContainers`.
 */
export interface ContainerEngine extends RolloutEngine {
  /** Converge the Docker host to the project, the way `docker compose up -d` does. */
  apply(project: ComposeProject, options?: ApplyOptions): Promise<ApplyResult>;
  /** The project's containers as Docker reports them (one listing). */
  observe(projectName: string): Promise<ObservedProject>;
  /**
   * Names of containers labelled with the Compose project that berth did not create (one
   * listing), whether or not berth adopts the project.
   */
  foreignContainers(projectName: string): Promise<string[]>;
  /** All projects whose containers carry `filterLabel` (default: berth's managed label), one listing in all. */
  observeAll(filterLabel?: string): Promise<Map<string, ObservedProject>>;
  /** Stop the project's containers without removing them. */
  stop(projectName: string, options?: { timeoutMs?: number }): Promise<void>;
  /** Start the project's existing containers again (only `containerIds` when given). */
  start(projectName: string, options?: { containerIds?: string[] }): Promise<void>;
  /**
   * Restarts containers in place (the healer's remedy for an unhealthy one), each with its own
   * stop signal and stop timeout; gone ones are skipped.
   */
  restartContainers(projectName: string, containerIds: string[]): Promise<void>;
  /**
   * Runs a one-off job in a container of one of the project's services (its image, environment,
   * volumes, user and working_dir; on its networks without the service's aliases), waits for it
   * to exit or be killed at its timeout, and removes it. The project's images, networks and
   * volumes must exist (`prepare`). observe and drift repair never see the container (it is a
   * Compose one-off); `down` removes one a crash left behind.
   */
  runJob(project: ComposeProject, request: JobRequest): Promise<JobResult>;
  /** Remove containers and the project's networks (and named volumes with `volumes`). */
  down(projectName: string, options?: DownOptions): Promise<void>;
  /** Wait until the project is healthy, unhealthy, or the timeout passes, following Docker's events. */
  waitHealthy(project: ComposeProject, options: HealthOptions): Promise<HealthReport>;
  /** What `apply` would do with the project, from one listing; changes nothing (never pulls or builds). */
  plan(project: ComposeProject, options?: PlanOptions): Promise<ContainerPlanItem[]>;
  /**
   * Follows Docker's events for every berth-managed container in one subscription, reopening
   * it with bounded backoff when it drops. Resolves once the first subscription is open.
   */
  watchEvents(
    listener: (event: ManagedContainerEvent) => void,
    options?: WatchEventsOptions,
  ): Promise<EventSubscription>;
  /**
   * berth's own container when berth runs in one on this daemon, else undefined (also on a
   * host, or in a container the daemon does not know). Found once, then remembered.
   */
  self(): Promise<SelfContainer | undefined>;
  /**
   * Refuses (PathNotOnMount) a project with a file berth would hand to Docker as a bind source
   * that the Docker host cannot see: in berth's container, on no mount. Changes nothing; apply
   * and the rollout steps refuse the same project the same way before they change anything.
   */
  checkHostPaths(project: ComposeProject): Promise<void>;
  /**
   * The registry's manifest digest (`sha256:…`) of a tagged reference, asked with the
   * registry's credentials; undefined when the reference pins a digest, the image is only known
   * locally (built or loaded, never pulled from or pushed to its repository) or the registry
   * lacks the tag. A refusal is RegistryAuthFailed, naming `stack` when given.
   */
  resolveDigest(ref: string, options?: { stack?: string }): Promise<string | undefined>;
  /** Docker API calls made so far (for benchmarks and the no-op guarantee). */
  callCount(): number;
  close(): Promise<void>;
}
