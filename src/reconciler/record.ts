import type { Clock } from '../clock.js';
import type { DeploymentRecord, DeploymentState, StateStore } from '../state/types.js';

/**
 * The owner of deployment records: every write of a deployment row goes through here, from
 * QUEUED to its end. Seed 001's states: QUEUED when asked for, WAITING while the stack's
 * previous deployment still runs, TRIGGERED when its turn comes, RUNNING once the strategy
 * starts, then DONE, FAILED or ROLLED_BACK, written once by `finish`.
 */

/** What a deployment is about; the version may only be known once it runs (a rollback). */
export interface DeploymentFields {
  version: string;
  commit: string;
  previousVersion?: string;
  method: string;
  /** The image digests the version pins (image updates), shown by `berth history`. */
  images?: Record<string, string>;
}

export type DeploymentEnd =
  | { state: 'DONE'; result: 'succeeded'; message: string }
  | { state: 'ROLLED_BACK'; result: 'rolled-back'; message: string }
  | { state: 'FAILED'; result: 'failed' | 'interrupted'; message: string }
  | { state: 'DONE'; result: 'skipped'; message: string };

export interface DeploymentHandle {
  readonly id: number;
  readonly stack: string;
  readonly trigger: string;
  /** Queued behind the stack's running deployment. */
  waiting(): void;
  /** Its turn came: the job starts. */
  triggered(): void;
  /** The work starts; fields resolved at run time (a rollback's target) replace the queued ones. */
  running(fields?: DeploymentFields): void;
  /** The one final write. Later calls are ignored, so a `finally` may always call it. */
  finish(end: DeploymentEnd): void;
  readonly finished: boolean;
}

export interface RecordDeps {
  store: StateStore;
  clock: Clock;
}

function now(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}

/** Opens a deployment record in state QUEUED. */
export function openDeployment(
  deps: RecordDeps,
  stack: string,
  trigger: string,
  fields: DeploymentFields,
): DeploymentHandle {
  const { store, clock } = deps;
  const row = store.startDeployment({ stack, trigger, ...fields, state: 'QUEUED' });
  let state: DeploymentState = 'QUEUED';
  let finished = false;
  const move = (next: DeploymentState, patch: Partial<DeploymentRecord> = {}): void => {
    if (finished) return;
    state = next;
    store.updateDeployment(row.id, { ...patch, state });
  };
  return {
    id: row.id,
    stack,
    trigger,
    waiting: () => move('WAITING'),
    triggered: () => move('TRIGGERED'),
    running: (resolved) => move('RUNNING', resolved),
    finish(end) {
      if (finished) return;
      finished = true;
      store.updateDeployment(row.id, { ...end, finishedAt: now(clock) });
    },
    get finished() {
      return finished;
    },
  };
}

/**
 * Closes a deployment a crash or a shutdown left unfinished. The version is not marked bad:
 * it did not fail, so the next pass tries it again.
 */
export function closeInterrupted(deps: RecordDeps, id: number, message: string): void {
  deps.store.updateDeployment(id, {
    state: 'FAILED',
    result: 'interrupted',
    finishedAt: now(deps.clock),
    message,
  });
}

/** At shutdown: whatever did not reach an end is recorded as interrupted, never left RUNNING. */
export function closeAllUnfinished(deps: RecordDeps): number {
  const open = deps.store.unfinishedDeployments();
  for (const deployment of open) {
    closeInterrupted(deps, deployment.id, 'interrupted: berth stopped while the deployment ran');
  }
  return open.length;
}
