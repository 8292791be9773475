import type { Reason } from '../reasons.js';

/**
 * The state store: stacks, deployments (with their journal), health history and bad marks,
 * in SQLite; plus the running_stacks/ and good_stacks/ folders. Writes that must survive a
 * crash are transactions; folders are built in a temporary folder and renamed into place.
 */

/** Seed 001's stack states. */
export type StackState = 'CREATING' | 'STABLE' | 'AVAILABLE' | 'MIGRATING' | 'BROKEN';

/** Seed 001's deployment states. */
export type DeploymentState =
  'QUEUED' | 'TRIGGERED' | 'WAITING' | 'RUNNING' | 'DONE' | 'FAILED' | 'ROLLED_BACK';

export type ConditionType = 'Ready' | 'Reconciling' | 'Stalled';

/** Flux-style status condition. */
export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  /** From the catalogue (src/reasons.ts), e.g. ReconciliationSucceeded, VersionMarkedBad. */
  reason: Reason;
  message: string;
  lastTransitionTime: string;
}

export interface VersionRef {
  version: string;
  commit: string;
  /**
   * Image updates: the registry digests the version was computed from (image reference as
   * written → `sha256:…`), deployed pinned. Absent for a stack without image updates.
   */
  images?: Record<string, string>;
}

export interface StackRecord {
  name: string;
  state: StackState;
  suspended: boolean;
  running?: VersionRef;
  good?: VersionRef;
  lastAppliedVersion?: string;
  lastAttemptedVersion?: string;
  health?: 'healthy' | 'unhealthy' | 'unknown';
  conditions: Condition[];
  /**
   * Versions whose containers blue-green or canary left in place because their service did not
   * change: their version labels are not drift.
   */
  carriedVersions?: string[];
  /**
   * The source (a `sources:` name) the stack was last planned from; absent for a stack recorded
   * before berth had several sources, which counts as `default`'s.
   */
  source?: string;
  updatedAt: string;
}

export interface DeploymentRecord {
  id: number;
  stack: string;
  version: string;
  commit: string;
  previousVersion?: string;
  method: string;
  state: DeploymentState;
  /** What asked for it: reconcile, rollback, cli, webhook:<name>, api:<token name>. */
  trigger: string;
  startedAt: string;
  finishedAt?: string;
  /** succeeded, failed, rolled-back, skipped, interrupted. */
  result?: string;
  message?: string;
  /** The image digests the version pins (image updates), when it pins any. */
  images?: Record<string, string>;
}

/** One journal line of a deployment: written before the step runs. */
export interface JournalEntry {
  deploymentId: number;
  seq: number;
  step: string;
  detail: string;
  at: string;
}

export interface HealthRecord {
  stack: string;
  version: string;
  commit: string;
  health: 'healthy' | 'unhealthy';
  detail: string;
  at: string;
}

export interface BadVersion {
  stack: string;
  version: string;
  commit: string;
  reason: string;
  at: string;
  /** The image digests the bad version pins (image updates), when it pins any. */
  images?: Record<string, string>;
}

/** A migration job that succeeded for a version of a stack. */
export interface MigrationRun {
  stack: string;
  version: string;
  /** The job's name in the `migrations` setting. */
  name: string;
  exitCode: number;
  /** The end of its output (at most 64 KiB). */
  output: string;
  durationMs: number;
  finishedAt: string;
}

/**
 * berth.db. Only the data dir lock's holder opens it for writing; others open it read-only
 * (openStateStore's `readonly`), and any write on such a store throws StateReadOnly.
 */
export interface StateStore {
  getStack(name: string): StackRecord | undefined;
  listStacks(): StackRecord[];
  /** Creates or updates fields of a stack record in one transaction. */
  upsertStack(name: string, patch: Partial<Omit<StackRecord, 'name'>>): StackRecord;
  setCondition(name: string, condition: Omit<Condition, 'lastTransitionTime'>): void;

  startDeployment(
    input: Omit<DeploymentRecord, 'id' | 'startedAt' | 'state'> & { state?: DeploymentState },
  ): DeploymentRecord;
  updateDeployment(id: number, patch: Partial<Omit<DeploymentRecord, 'id' | 'stack'>>): void;
  /** Journal a step before running it. */
  journal(id: number, step: string, detail?: string): void;
  /** Appends to the deployment's log (hook output, messages). */
  appendLog(id: number, text: string): void;
  getLog(id: number): string;
  getJournal(id: number): JournalEntry[];
  getDeployment(id: number): DeploymentRecord | undefined;
  listDeployments(stack: string, limit?: number): DeploymentRecord[];
  /** Deployments left RUNNING (or earlier non-final states) by a crash. */
  unfinishedDeployments(): DeploymentRecord[];

  recordHealth(record: Omit<HealthRecord, 'at'>): void;
  /** Newest first; `healthHistory(stack, 1)[0]` is the latest record. */
  healthHistory(stack: string, limit?: number): HealthRecord[];

  markBad(input: Omit<BadVersion, 'at'>): void;
  isBad(stack: string, version: string): BadVersion | undefined;
  /** Clears one bad mark, or all of the stack's when version is omitted; returns how many. */
  unmark(stack: string, version?: string): number;
  listBad(stack?: string): BadVersion[];

  /** Records a migration job that succeeded, so a retry of the version skips it. */
  recordMigrationRun(run: Omit<MigrationRun, 'finishedAt'>): void;
  /** The job's successful run for the version, if it had one. */
  migrationRun(stack: string, version: string, name: string): MigrationRun | undefined;
  /** The stack's successful runs, newest first. */
  listMigrationRuns(stack: string): MigrationRun[];

  close(): void;
}

/** running_stacks/ and good_stacks/ under the data directory. */
export interface StackFolders {
  runningDir(stack: string): string;
  goodDir(stack: string): string;
  /** Replace running_stacks/<stack> with a copy of `from` plus version.txt, atomically. */
  putRunning(
    stack: string,
    from: string,
    ref: VersionRef,
    options?: { keepPrevious?: boolean },
  ): Promise<void>;
  /**
   * The folder putRunning's keepPrevious set aside (blue-green and canary: old containers still
   * mount it). restorePrevious puts it back as running_stacks/<stack>; false when there is none.
   */
  readPreviousVersion(stack: string): Promise<VersionRef | undefined>;
  restorePrevious(stack: string): Promise<boolean>;
  dropPrevious(stack: string): Promise<void>;
  /** Snapshot running_stacks/<stack> into good_stacks/<stack>, atomically. */
  snapshotGood(stack: string): Promise<void>;
  /** Replace running_stacks/<stack> with good_stacks/<stack>, atomically. */
  restoreGood(stack: string): Promise<void>;
  /**
   * The version in the folder's version.txt. Reads never change anything (another process may
   * be writing): when a swap was cut short between its two renames, they read the folder that
   * was moved aside, which is what the next write or repairAll() puts back.
   */
  readRunningVersion(stack: string): Promise<VersionRef | undefined>;
  readGoodVersion(stack: string): Promise<VersionRef | undefined>;
  clearRunning(stack: string): Promise<void>;
  /**
   * Repairs every stack's leftovers of a crash in running_stacks/ and good_stacks/: deletes
   * half-built copies, puts back a folder moved aside but not replaced. Only the data dir lock's
   * holder may call it (once at start, before crash recovery): in any other process it would
   * delete the writer's copies in progress.
   */
  repairAll(): Promise<void>;
  /** Move both folders of a pruned stack into archive/<stack>-<time>/. */
  archive(stack: string): Promise<string>;
}
