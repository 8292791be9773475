import type { BerthError } from '../errors.js';
import type { PlanEntry } from '../plan/types.js';
import type { StackPlan } from '../plan/stack-plan.js';
import type { ObservedProject } from '../engine/types.js';
import type { Discovery } from '../stack/types.js';
import type { StackRecord, VersionRef } from '../state/types.js';
import type { Clock } from '../clock.js';
import type { ContainerEngine } from '../engine/types.js';
import type { HookRunner } from '../hooks/types.js';
import type { Logger } from '../log.js';
import type { SourceRevision, StackSource } from '../source/types.js';
import type { SettingsDefaults } from '../stack/types.js';
import type { StackFolders, StateStore } from '../state/types.js';

/**
 * How one stack's reconcile ended: `done` (converged or nothing to do), `retry-later`
 * (a transient failure: try again next pass), `terminal` (needs a change in git or a human).
 */
export type ReconcileOutcome = 'done' | 'retry-later' | 'terminal';

export type StackResult =
  | 'deployed'
  | 'unchanged'
  | 'rolled-back'
  | 'failed'
  | 'skipped-bad'
  | 'suspended'
  | 'disabled'
  | 'invalid'
  | 'removed'
  | 'kept'
  | 'planned';

export interface StackOutcome {
  stack: string;
  outcome: ReconcileOutcome;
  result: StackResult;
  message: string;
  version?: string;
  deploymentId?: number;
  error?: BerthError;
}

export interface ReconcileOptions {
  /** Print the plan and change nothing. */
  dryRun?: boolean;
  /** Only these stacks. */
  stacks?: string[];
  /** Who asked: reconcile, cli, webhook:<name>, api:<token>. */
  trigger?: string;
  signal?: AbortSignal;
  onProgress?: (event: { stack?: string; step: string; detail?: string }) => void;
}

export interface PassResult {
  revision?: SourceRevision;
  /** Set when the source could not be synced; the last fetched revision stays deployed. */
  sourceError?: BerthError;
  /** Stack entries; `details` lists a blue-green or canary stack's services in --dry-run. */
  plan: (PlanEntry & { details?: PlanEntry[] })[];
  stacks: StackOutcome[];
  /** true when every stack converged (nothing failed or was rolled back). */
  ok: boolean;
}

/** What a reconciler needs, built in the composition root (src/main.ts) and handed in. */
export interface ReconcilerDeps {
  source: StackSource;
  engine: ContainerEngine;
  store: StateStore;
  folders: StackFolders;
  hooks: HookRunner;
  clock: Clock;
  logger: Logger;
  settings: {
    /** Globs of stack folders, relative to the checkout root. */
    paths: string[];
    defaults: SettingsDefaults;
    /** Bring down stacks whose folder left the repository. */
    prune: boolean;
  };
}

/**
 * The first half of a pass: the source synced, stacks discovered, Docker observed and the plan
 * computed. `reconcileStack` applies its entries one by one; the daemon queues them per stack.
 */
export interface PlannedPass {
  revision: SourceRevision;
  sourceError?: BerthError;
  plan: StackPlan[];
  trigger: string;
  discovery: Discovery;
  observed: Map<string, ObservedProject>;
  records: Map<string, StackRecord>;
  runningVersions: Map<string, VersionRef | undefined>;
}

export interface ReconcileStackOptions {
  signal?: AbortSignal;
  onProgress?: ReconcileOptions['onProgress'];
  /** Who asked, when not the pass's trigger. */
  trigger?: string;
  /**
   * Observe the stack again before acting: the entry may have waited in a queue while the
   * stack changed. A deploy entry whose version is already running healthy becomes unchanged.
   */
  replan?: boolean;
  /** Deploy from this folder instead of the checkout (a private copy the checkout cannot move). */
  dir?: string;
  /** A deployment record created when the job was queued; the deploy updates it to RUNNING. */
  deploymentId?: number;
}

export interface Reconciler {
  /** One full pass: sync the source, discover, plan, apply changed stacks, record. */
  reconcileOnce(options?: ReconcileOptions): Promise<PassResult>;
  /** Sync, discover, observe and plan; changes nothing on Docker or in the state. */
  planPass(options?: ReconcileOptions): Promise<PlannedPass>;
  /** Applies one entry of a planned pass under the stack's lock: deploy, prune, or record a skip. */
  reconcileStack(
    entry: StackPlan,
    pass: PlannedPass,
    options?: ReconcileStackOptions,
  ): Promise<StackOutcome>;
  /** Deploy the good version (or a named earlier version found in history) again. */
  rollback(stack: string, options?: { to?: string; trigger?: string }): Promise<StackOutcome>;
  /** Bring a stack down (volumes kept) and record it. */
  down(stack: string, options?: { trigger?: string }): Promise<void>;
}
