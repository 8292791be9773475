import type { Clock } from '../clock.js';
import type { ComposeProject } from '../compose/types.js';
import type { ContainerEngine, HealthReport } from '../engine/types.js';
import type { BerthError } from '../errors.js';
import type { HookRunner } from '../hooks/types.js';
import type { Logger } from '../log.js';
import type { DeploySettings } from '../stack/types.js';
import type {
  DeploymentState,
  StackFolders,
  StackState,
  StateStore,
  VersionRef,
} from '../state/types.js';

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
  /** The running stack was healthy before: its files become the good version. */
  previousHealthy: boolean;
  engine: ContainerEngine;
  store: StateStore;
  folders: StackFolders;
  hooks: HookRunner;
  clock: Clock;
  logger: Logger;
  /** Loads a compose project from a folder (the compose loader, handed in). */
  loadProject: (dir: string, projectName: string) => Promise<ComposeProject>;
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
  /** PascalCase reason for the stack's conditions. */
  reason: string;
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

export interface Strategy {
  readonly method: string;
  run(ctx: StrategyContext): Promise<DeploymentResult>;
}
