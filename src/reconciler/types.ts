import type { StackLoader } from '../stack/project.js';
import type { Clock } from '../clock.js';
import type { ContainerEngine, ObservedProject } from '../engine/types.js';
import type { BerthError } from '../errors.js';
import type { HookRunner } from '../hooks/types.js';
import type { Logger } from '../log.js';
import type { PlanEntry } from '../plan-entry.js';
import type { Policy } from '../policy/index.js';
import type { StackPlan } from '../plan/stack-plan.js';
import type { SourceRevision, StackSource } from '../source/types.js';
import type { Discovery, SettingsDefaults } from '../stack/types.js';
import type { StackFolders, StackRecord, StateStore, VersionRef } from '../state/types.js';
import type { StrategyTarget } from '../strategies/index.js';
import type { DeploymentHandle } from './record.js';

/** Who or what asked for an action, recorded with the deployment it starts. */
export interface Trigger {
  /** `schedule`, `startup`, `watch`, `webhook:github`, `api:<token name>`, `cli:<user>`, `heal`, ... */
  by: string;
  /** The pushed ref (`refs/heads/main`, `refs/tags/v1.2.0`), when a webhook carried one. */
  ref?: string;
  /** The pushed commit, when a webhook carried one. */
  commit?: string;
  /** The source the trigger is for (a schedule or a webhook of one source), when it is one. */
  source?: string;
}

/**
 * How one stack's reconcile ended: `done` (converged or nothing to do), `retry-later`
 * (a transient failure: try again), `terminal` (needs a change in git or a person).
 */
export type ReconcileOutcome = 'done' | 'retry-later' | 'terminal';

export type StackResult =
  | 'deployed'
  | 'unchanged'
  | 'rolled-back'
  | 'failed'
  | 'skipped-bad'
  | 'suspended'
  | 'resumed'
  | 'unmarked'
  | 'disabled'
  | 'invalid'
  | 'removed'
  | 'down'
  | 'kept'
  | 'repaired'
  | 'planned';

export interface StackOutcome {
  stack: string;
  outcome: ReconcileOutcome;
  result: StackResult;
  message: string;
  version?: string;
  deploymentId?: number;
  error?: BerthError;
  /** suspend, resume: false when the stack already was in the asked state. */
  changed?: boolean;
  /** unmark: how many bad marks were cleared. */
  cleared?: number;
}

/** What a repair restores: found by the healer from Docker's events, checked against Docker. */
export interface RepairContext {
  /** Containers stopped out of band that still exist: starting them restores them. */
  stopped: string[];
  /** Containers removed out of band (names): converging the running version recreates them. */
  removed: string[];
  /** Containers whose healthcheck failed at run time: restarting them is the repair. */
  unhealthy: string[];
  /** The drift in words, for the record and the health history. */
  reason: string;
}

/** What the pass that planned an `apply` knew: the revisions and the discovery it planned from. */
export interface PassContext {
  /** The `default` (else the first) synced source's revision; a stack's own: `revisionOf`. */
  revision: SourceRevision;
  /** The first sync error among the pass's sources. */
  sourceError?: BerthError;
  /** Each source synced in this pass (the selected ones), in the config's order. */
  sources: SourceResult[];
  /**
   * The sources each stack name of the discovery comes from: one, or several when the name
   * clashes (the stack is then broken). Covers every source's stacks, selected or not.
   */
  owners: Map<string, string[]>;
  /** Stacks with image updates carry the version computed with their images' digests. */
  discovery: Discovery;
  /** Image updates: each such stack's resolved digests (image reference → `sha256:…`). */
  images?: Map<string, Record<string, string>>;
}

/** One stack's work: what a dispatcher request asks of the reconciler. */
export type StackWork =
  | { kind: 'apply'; entry: StackPlan; pass: PassContext }
  | { kind: 'rollback'; to?: string }
  | { kind: 'down' }
  | { kind: 'repair'; repair: RepairContext }
  | { kind: 'suspend' }
  | { kind: 'resume' }
  | { kind: 'unmark'; version?: string };

export type WorkKind = StackWork['kind'];

export interface StackRequest {
  stack: string;
  trigger: Trigger;
  work: StackWork;
}

/**
 * A request made ready to queue: its deployment record opened (QUEUED) when it will deploy,
 * and the files it deploys copied where a later sync cannot change them.
 */
export interface PreparedRequest extends StackRequest {
  deployment?: DeploymentHandle;
  /** The version it deploys, from a private copy of its files (apply, rollback). */
  target?: StrategyTarget;
  /** The copied files do not load: the stack is recorded invalid, nothing is deployed. */
  invalid?: BerthError;
  /** Drops the private copy; safe to call twice. */
  release(): Promise<void>;
}

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: ProgressListener;
}

export type ProgressListener = (event: { stack?: string; step: string; detail?: string }) => void;

export interface ReconcileOptions {
  /** Print the plan and change nothing. */
  dryRun?: boolean;
  /** Only these stacks. */
  stacks?: string[];
  /**
   * Sync and plan only these sources' stacks (undefined: all). Stacks of the other sources are
   * left alone: not planned, not pruned, not reported.
   */
  sources?: string[];
  trigger?: Trigger;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
}

/** A stack entry of a pass's plan; `details` lists a strategy's own plan in --dry-run. */
export type PassPlanEntry = PlanEntry & { details?: PlanEntry[] };

/** How one source's sync went in a pass. */
export interface SourceResult {
  name: string;
  /** What the pass read the source's stacks from: the synced or, after a failure, the last fetched. */
  revision?: SourceRevision;
  /** The sync failed: with `revision`, its stacks stay as that revision; without, it had none. */
  error?: BerthError;
}

export interface PassResult {
  /** The `default` (else the first) source's revision; `sources` has each source's. */
  revision?: SourceRevision;
  /** The first sync error of the pass's sources (see `sources`); the pass is then not ok. */
  sourceError?: BerthError;
  /** One per source synced in this pass, in the config's order. */
  sources: SourceResult[];
  plan: PassPlanEntry[];
  stacks: StackOutcome[];
  /** true when every stack converged (nothing failed or was rolled back). */
  ok: boolean;
}

/**
 * The first half of a pass: the source synced, stacks discovered, Docker observed and the plan
 * computed. Its entries become one `apply` request per stack.
 */
export interface PlannedPass extends PassContext {
  plan: StackPlan[];
  observed: Map<string, ObservedProject>;
  records: Map<string, StackRecord>;
  runningVersions: Map<string, VersionRef | undefined>;
}

/** A source of stacks as the reconciler uses it: built from one `sources:` entry. */
export interface NamedSource {
  name: string;
  source: StackSource;
  /** Globs of stack folders, relative to the checkout root. */
  paths: string[];
  /** The top-level defaults with the source's own merged over them. */
  defaults: SettingsDefaults;
  /** Put before each stack name of the source (stack name = prefix + folder name). */
  prefix?: string;
}

/** What the reconciler needs, built in the composition root (src/main.ts) and handed in. */
export interface ReconcilerDeps {
  /** At least one, in the config's order. */
  sources: NamedSource[];
  engine: ContainerEngine;
  store: StateStore;
  folders: StackFolders;
  hooks: HookRunner;
  clock: Clock;
  logger: Logger;
  /** Where private copies of the files to deploy are made (inside the data dir). */
  stagingDir: string;
  /** The one compose loader: every check and every deploy reads a stack the same way. */
  loadStack: StackLoader;
  /**
   * `<dataDir>/decrypted`: the plaintext of the encrypted files stacks mount. A stack's files
   * there are removed when the version using them stops running. Unset: nothing is removed.
   */
  decryptedDir?: string;
  /** What the operator lets a stack ask Docker for; checked before a deploy is queued. */
  policy: Policy;
  /** Whether the operator lets berth take over the stack's hand-run Compose containers. */
  adopts: (stack: string) => boolean;
  settings: {
    /** Bring down stacks whose folder left their source (only when that source synced). */
    prune: boolean;
  };
}
