import { BerthError, asBerthError, describeError } from '../errors.js';
import type { SkipKind, StackPlan } from '../plan/stack-plan.js';
import { resumeStack, suspendOutcome, suspendStack, unmarkOutcome, unmarkStack } from './admin.js';
import { deploy, recordInvalid } from './deploy.js';
import { downStack, pruneStack } from './down.js';
import { entryActs, type PassPlanner } from './pass.js';
import { runningOf } from './prepare.js';
import { repairStack } from './repair.js';
import { ownerOf, revisionOf, sourceErrorOf } from './sources.js';
import { markRejected } from './rollback.js';
import { markedBad, setStatus, skippedSuspended, sourceUnavailable, succeeded } from './status.js';
import type {
  PassContext,
  PreparedRequest,
  ReconcilerDeps,
  RunOptions,
  StackOutcome,
  StackResult,
} from './types.js';

const SKIP_RESULT: Record<SkipKind, StackResult> = {
  suspended: 'suspended',
  disabled: 'disabled',
  invalid: 'invalid',
  bad: 'skipped-bad',
  kept: 'kept',
};

/**
 * Runs one stack's request: the one reconcile shape, guards → plan → strategy (with its health
 * gate) → record. A deployment the request opened and that never started is closed as skipped;
 * the request's private files are always released.
 */
export async function runRequest(
  deps: ReconcilerDeps,
  planner: PassPlanner,
  request: PreparedRequest,
  options: RunOptions = {},
): Promise<StackOutcome> {
  let outcome: StackOutcome | undefined;
  let failure: unknown;
  try {
    outcome = await runWork(deps, planner, request, options);
    return outcome;
  } catch (err) {
    failure = err;
    // An operation asked for by name reports its error; a pass's stack never stops the others.
    if (request.work.kind !== 'apply') throw err;
    deps.logger.error({ stack: request.stack, err }, 'reconciling the stack failed');
    outcome = {
      stack: request.stack,
      outcome: 'retry-later',
      result: 'failed',
      message: describeError(err),
      error: asBerthError(err, 'ReconcileFailed'),
    };
    return outcome;
  } finally {
    closeUnstarted(request, outcome, failure);
    await request.release();
  }
}

/** A deployment the request opened but never started is closed: failed, or nothing to do. */
function closeUnstarted(
  request: PreparedRequest,
  outcome: StackOutcome | undefined,
  failure: unknown,
): void {
  const deployment = request.deployment;
  if (deployment === undefined || deployment.finished) return;
  if (failure !== undefined) {
    deployment.finish({ state: 'FAILED', result: 'failed', message: describeError(failure) });
    return;
  }
  deployment.finish({
    state: 'DONE',
    result: 'skipped',
    message: `nothing to do: ${outcome?.message ?? 'not run'}`,
  });
}

async function runWork(
  deps: ReconcilerDeps,
  planner: PassPlanner,
  request: PreparedRequest,
  options: RunOptions,
): Promise<StackOutcome> {
  const { stack, work, trigger } = request;
  switch (work.kind) {
    case 'apply': {
      const outcome = await applyEntry(deps, planner, request, work.entry, work.pass, options);
      recordSource(deps, stack, ownerOf(work.pass, stack));
      return outcome;
    }
    case 'rollback':
      return rollBack(deps, request, options);
    case 'down':
      return downStack(deps, stack, request.deployment);
    case 'repair':
      return repairStack(deps, stack, work.repair, request.deployment, options);
    case 'suspend':
      return suspendOutcome(suspendStack(deps, stack, trigger.by));
    case 'resume':
      return suspendOutcome(resumeStack(deps, stack, trigger.by));
    case 'unmark':
      return unmarkOutcome(unmarkStack(deps, stack, work.version, trigger.by));
  }
}

/** A pass's plan entry for the stack, checked again against Docker now if it would act. */
async function applyEntry(
  deps: ReconcilerDeps,
  planner: PassPlanner,
  request: PreparedRequest,
  planned: StackPlan,
  pass: PassContext,
  options: RunOptions,
): Promise<StackOutcome> {
  const stack = request.stack;
  if (request.invalid !== undefined)
    return recordInvalid(deps, stack, planned.version, request.invalid);
  // A request may have waited while the stack changed: look again before acting.
  const fresh = entryActs(planned) ? await planner.replan(planned, pass) : undefined;
  const entry = fresh?.entry ?? planned;
  const base = { stack, version: entry.version };
  switch (entry.action) {
    case 'skip':
      return recordSkip(deps, entry);
    case 'unchanged': {
      const sourceError = sourceErrorOf(pass, stack);
      if (sourceError !== undefined && deps.store.getStack(stack) !== undefined) {
        const kept = revisionOf(pass, stack).commit;
        const why = `source unavailable, kept ${kept}: ${sourceError.message}`;
        setStatus(deps.store, stack, sourceUnavailable(why));
      } else if (invalidBefore(deps, stack)) {
        // What made it invalid (a name clash, a broken change) is gone and what runs is wanted.
        setStatus(deps.store, stack, succeeded(entry.reason));
      }
      return { ...base, outcome: 'done', result: 'unchanged', message: entry.reason };
    }
    case 'remove':
      return pruneStack(deps, stack, request.trigger.by);
    default:
      break;
  }
  if (request.target === undefined || request.deployment === undefined) {
    return recordInvalid(
      deps,
      stack,
      entry.version,
      new BerthError('ValidationFailed', entry.reason),
    );
  }
  const running = await runningOf(deps, stack);
  return deploy(deps, {
    ...options,
    target: request.target,
    deployment: request.deployment,
    observed: fresh?.observed ?? (await deps.engine.observe(stack)),
    previous: running,
    rejectsPrevious: false,
  });
}

/**
 * The stack's record names the source it was planned from, so prune and status know it; a
 * stack with no record yet gets one only from what the request itself recorded.
 */
function recordSource(deps: ReconcilerDeps, stack: string, source: string | undefined): void {
  if (source === undefined) return;
  const record = deps.store.getStack(stack);
  if (record !== undefined && record.source !== source) deps.store.upsertStack(stack, { source });
}

/** A plan entry that leaves the stack alone: only its conditions say why. */
function recordSkip(deps: ReconcilerDeps, entry: StackPlan): StackOutcome {
  const { stack } = entry;
  const base = { stack, version: entry.version, message: entry.reason };
  const result = SKIP_RESULT[entry.skip ?? 'invalid'];
  switch (entry.skip) {
    case 'invalid': {
      const error = entry.broken?.error ?? new BerthError('ValidationFailed', entry.reason);
      return recordInvalid(deps, stack, entry.version, error);
    }
    case 'bad':
      deps.logger.warn({ stack, version: entry.version }, 'version marked bad; not deploying');
      setStatus(deps.store, stack, markedBad(entry.reason));
      return { ...base, outcome: 'terminal', result };
    case 'kept':
      deps.logger.warn({ stack }, 'stack folder left the repository; kept running');
      return { ...base, outcome: 'done', result };
    case 'suspended':
      setStatus(deps.store, stack, skippedSuspended());
      return { ...base, outcome: 'done', result };
    default:
      return { ...base, outcome: 'done', result };
  }
}

/**
 * `berth rollback`: deploys the good (or a named) version from its kept files, and marks the
 * version it rolls away from bad, so the next pass does not bring it straight back.
 */
async function rollBack(
  deps: ReconcilerDeps,
  request: PreparedRequest,
  options: RunOptions,
): Promise<StackOutcome> {
  const { stack, target, deployment } = request;
  if (target === undefined || deployment === undefined) {
    throw new BerthError('NoGoodVersion', `stack ${stack} has nothing to roll back to`, {
      place: { stack },
    });
  }
  const running = await runningOf(deps, stack);
  const wanted = { version: target.version, commit: target.commit };
  const rejected = markRejected(deps, stack, running, wanted, request.trigger.by);
  return deploy(deps, {
    ...options,
    target,
    deployment,
    observed: await deps.engine.observe(stack),
    previous: running,
    rejectsPrevious: rejected !== undefined,
  });
}

/** The stack's status still says it failed validation (see recordInvalid). */
function invalidBefore(deps: ReconcilerDeps, stack: string): boolean {
  const stalled = deps.store.getStack(stack)?.conditions.find((c) => c.type === 'Stalled');
  return stalled?.status === 'True' && stalled.reason === 'ValidationFailed';
}
