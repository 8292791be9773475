import type { Clock } from '../clock.js';
import type { ComposeProject } from '../compose/types.js';
import type { ContainerEngine, HealthReport, ObservedContainer } from '../engine/types.js';
import type { BerthError } from '../errors.js';
import type { HookRunner } from '../hooks/types.js';
import type { Logger } from '../log.js';
import type { PlanEntry } from '../plan-entry.js';
import type { Reason } from '../reasons.js';
import type { DeploySettings, SettingsDefaults } from '../stack/types.js';
import type {
  DeploymentRecord,
  DeploymentState,
  StackFolders,
  StackState,
  StateStore,
  VersionRef,
} from '../state/types.js';

/** Loads a compose project from a folder (the compose loader, handed in). */
export type ProjectLoader = (dir: string, projectName: string) => Promise<ComposeProject>;

/** The version a strategy deploys: its files and its settings. */
export interface StrategyTarget {
  stack: string;
  /** Compose project name on the Docker side. */
  projectName: string;
  version: string;
  commit: string;
  /** Folder holding the files to deploy (a checkout folder, or a private copy of good_stacks). */
  dir: string;
  settings: DeploySettings;
}

export interface StrategyContext {
  target: StrategyTarget;
  deploymentId: number;
  /** The version running before this deployment, if any. */
  previous?: VersionRef;
  /** The stack had containers before this deployment (so stopping and restarting means something). */
  hadContainers: boolean;
  /** The running stack was healthy before this deployment. */
  previousHealthy: boolean;
  /**
   * The running version was healthy and is not being rejected: copy it into good_stacks before
   * replacing it. The reconciler decides; a version marked bad never becomes the good one.
   */
  snapshotPrevious: boolean;
  engine: ContainerEngine;
  store: StateStore;
  folders: StackFolders;
  hooks: HookRunner;
  clock: Clock;
  logger: Logger;
  loadProject: ProjectLoader;
  signal?: AbortSignal;
  onStep?: (step: string, detail?: string) => void;
}

export type DeploymentOutcome = 'succeeded' | 'failed' | 'rolled-back';

export interface DeploymentResult {
  result: DeploymentOutcome;
  /** Final deployment state: DONE, FAILED or ROLLED_BACK. */
  state: Extract<DeploymentState, 'DONE' | 'FAILED' | 'ROLLED_BACK'>;
  /** Stack state afterwards (seed 001). */
  stackState: StackState;
  /** Reason for the stack's conditions. */
  reason: Reason;
  message: string;
  /** What runs now; undefined when nothing does. */
  running?: VersionRef;
  /** The stack's good version afterwards, when it changed. */
  good?: VersionRef;
  health: 'healthy' | 'unhealthy' | 'unknown';
  /**
   * Versions of containers left in place because their service did not change (blue-green,
   * canary); recorded so their labels do not count as drift. Empty when every container is new.
   */
  carriedVersions?: string[];
  /** The target version was marked bad. */
  markedBad: boolean;
  /** A transient failure (Docker hiccup): worth retrying on the next pass. */
  transient: boolean;
  report?: HealthReport;
  error?: BerthError;
}

/** What `--dry-run` hands a strategy: the version's project, read-only access to Docker. */
export interface PlanContext {
  engine: ContainerEngine;
  /** The version's compose project (its name is the stack's project name). */
  project: ComposeProject;
  settings: DeploySettings;
  version: string;
}

/** What crash recovery hands a strategy. */
export interface RecoveryContext {
  engine: ContainerEngine;
  store: StateStore;
  folders: StackFolders;
  clock: Clock;
  logger: Logger;
  loadProject: ProjectLoader;
  /** Settings defaults: the recovered version's own deploy settings are merged over them. */
  defaults: SettingsDefaults;
  signal?: AbortSignal;
  /** Journals a recovery step of the interrupted deployment before it runs. */
  journal: (step: string, detail: string) => Promise<void>;
}

/** A deployment a crash left unfinished, and the project's containers now. */
export interface InterruptedDeployment {
  stack: string;
  deployment: DeploymentRecord;
  containers: ObservedContainer[];
}

export type RecoveryAction = 'kept-new' | 'already-healthy' | 'restored' | 'left-down' | 'failed';

/** How recovery left the stack. */
export interface RecoveryOutcome {
  action: RecoveryAction;
  /** What runs after recovery. */
  running?: VersionRef;
  healthy: boolean;
  message: string;
}

export interface Strategy<Method extends string = string> {
  readonly method: Method;
  run(ctx: StrategyContext): Promise<DeploymentResult>;
  /** Per-service details of what `run` would do, for `--dry-run`; none when absent. */
  plan?(ctx: PlanContext): Promise<PlanEntry[]>;
  /**
   * Resolves an interrupted deployment of this method when it left traces only this method
   * understands; undefined hands it to the generic recovery.
   */
  recover?(
    ctx: RecoveryContext,
    interrupted: InterruptedDeployment,
  ): Promise<RecoveryOutcome | undefined>;
}
