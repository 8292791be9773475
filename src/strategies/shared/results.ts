import { asBerthError, type BerthError } from '../../errors.js';
import type { StackState } from '../../state/types.js';
import type { DeploymentResult, StrategyContext } from '../types.js';

/** What a result must state; markedBad and transient default to false. */
export type ResultFields = Omit<DeploymentResult, 'result' | 'state' | 'markedBad' | 'transient'> &
  Partial<Pick<DeploymentResult, 'markedBad' | 'transient'>>;

function build(
  result: DeploymentResult['result'],
  state: DeploymentResult['state'],
  fields: ResultFields,
): DeploymentResult {
  return {
    ...fields,
    result,
    state,
    markedBad: fields.markedBad ?? false,
    transient: fields.transient ?? false,
  };
}

/** The version runs (and passed its gate, unless the method has none). */
export function succeeded(fields: Omit<ResultFields, 'stackState' | 'reason'>): DeploymentResult {
  return build('succeeded', 'DONE', {
    stackState: 'AVAILABLE',
    reason: 'ReconciliationSucceeded',
    ...fields,
  });
}

export function failed(fields: ResultFields): DeploymentResult {
  return build('failed', 'FAILED', fields);
}

/** The version failed and what ran before runs again. */
export function rolledBack(fields: ResultFields): DeploymentResult {
  return build('rolled-back', 'ROLLED_BACK', fields);
}

/** The pre-deploy hook failed: nothing was replaced, the previous version (if any) runs. */
export function preDeployFailed(
  ctx: StrategyContext,
  how: string,
  stackState: StackState,
): DeploymentResult {
  return failed({
    stackState,
    reason: 'PreDeployHookFailed',
    message: `${how}; ${ctx.hadContainers ? 'the previous version keeps running' : 'nothing deployed'}`,
    running: ctx.previous,
    health: 'unknown',
  });
}

/** Appends a note (a failed post-deploy hook) to a result's message. */
export function withNote(message: string, note: string | undefined): string {
  return note === undefined ? message : `${message}; ${note}`;
}

/** The error a result carries for what was thrown, if anything was. */
export function errorOf(cause: unknown): BerthError | undefined {
  return cause === undefined ? undefined : asBerthError(cause, 'DeployFailed');
}
