import { StackError } from '../errors.js';
import type { StackRecord } from '../state/types.js';
import { isRepairLimited, resumed, setStatus, suspended } from './status.js';
import type { ReconcilerDeps, StackOutcome } from './types.js';

/** What suspend, resume and unmark need: the state and who asked, when. */
export type AdminDeps = Pick<ReconcilerDeps, 'store' | 'logger'> & {
  clock?: ReconcilerDeps['clock'];
};

export interface SuspendResult {
  stack: string;
  suspended: boolean;
  /** False when the stack already was in the asked state. */
  changed: boolean;
  by: string;
  at: string;
}

export interface UnmarkResult {
  stack: string;
  /** The version cleared; undefined when all of the stack's marks were. */
  version?: string;
  cleared: number;
}

function knownStack(deps: AdminDeps, name: string): StackRecord {
  const record = deps.store.getStack(name);
  if (record === undefined) {
    throw new StackError('StackNotFound', `berth has no stack named ${name}`, {
      place: { stack: name },
    });
  }
  return record;
}

function nowIso(deps: AdminDeps): string {
  return new Date(deps.clock?.now() ?? Date.now()).toISOString();
}

/**
 * Stops reconciling a stack: passes skip it and the healer ignores its containers, so changes
 * made by hand stay. Who and when go into the conditions, which status and the API show.
 */
export function suspendStack(deps: AdminDeps, name: string, by: string): SuspendResult {
  const record = knownStack(deps, name);
  const at = nowIso(deps);
  if (record.suspended) return { stack: name, suspended: true, changed: false, by, at };
  deps.store.upsertStack(name, { suspended: true });
  setStatus(deps.store, name, suspended(`suspended by ${by} at ${at}`));
  deps.logger.info({ stack: name, trigger: by }, 'stack suspended');
  return { stack: name, suspended: true, changed: true, by, at };
}

/**
 * Reconciles a stack again from the next pass on. Also lifts the healer's repair limit: a
 * person looked at the stack.
 */
export function resumeStack(deps: AdminDeps, name: string, by: string): SuspendResult {
  const record = knownStack(deps, name);
  const at = nowIso(deps);
  const limited = isRepairLimited(record.conditions);
  if (!record.suspended && !limited)
    return { stack: name, suspended: false, changed: false, by, at };
  deps.store.upsertStack(name, { suspended: false });
  setStatus(
    deps.store,
    name,
    resumed(`resumed by ${by} at ${at}; the next pass reconciles it`, limited),
  );
  deps.logger.info({ stack: name, trigger: by }, 'stack resumed');
  return { stack: name, suspended: false, changed: true, by, at };
}

/** Clears one bad mark (a full version) or all of the stack's. */
export function unmarkStack(
  deps: AdminDeps,
  name: string,
  version: string | undefined,
  by: string,
): UnmarkResult {
  const cleared = deps.store.unmark(name, version);
  if (cleared > 0)
    deps.logger.info({ stack: name, version, trigger: by, cleared }, 'bad marks cleared');
  return { stack: name, ...(version === undefined ? {} : { version }), cleared };
}

/** The three as a stack's outcome, for the dispatcher. */
export function suspendOutcome(result: SuspendResult): StackOutcome {
  return {
    stack: result.stack,
    outcome: 'done',
    result: result.suspended ? 'suspended' : 'resumed',
    message: `${result.suspended ? 'suspended' : 'resumed'} by ${result.by} at ${result.at}`,
    changed: result.changed,
  };
}

export function unmarkOutcome(result: UnmarkResult): StackOutcome {
  return {
    stack: result.stack,
    outcome: 'done',
    result: 'unmarked',
    message: `cleared ${result.cleared} bad mark${result.cleared === 1 ? '' : 's'}`,
    ...(result.version === undefined ? {} : { version: result.version }),
    cleared: result.cleared,
  };
}
