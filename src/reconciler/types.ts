import type { BerthError } from '../errors.js';
import type { PlanEntry } from '../plan/types.js';
import type { SourceRevision } from '../source/types.js';

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
  plan: PlanEntry[];
  stacks: StackOutcome[];
  /** true when every stack converged (nothing failed or was rolled back). */
  ok: boolean;
}
