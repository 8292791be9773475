import { BerthError } from '../errors.js';
import type { DeploymentHandle } from './record.js';
import { failed, setStatus } from './status.js';
import type { ReconcilerDeps, StackOutcome } from './types.js';

/** How many foreign container names a message lists before "and N more". */
const NAMED = 3;

function listed(names: string[]): string {
  const shown = names.slice(0, NAMED).join(', ');
  return names.length > NAMED ? `${shown} and ${names.length - NAMED} more` : shown;
}

/** The refusal, worded for `berth status` and the CLI: who holds the name and the two ways on. */
export function projectNotOwned(stack: string, foreign: string[]): BerthError {
  return new BerthError(
    'ProjectNotOwned',
    `Compose project ${stack} is held by containers berth did not create (${listed(foreign)}); ` +
      `berth leaves them alone and does not deploy stack ${stack}. Remove them ` +
      `(docker compose -p ${stack} down), or let berth replace them with the stack by adding ` +
      `${stack} to policy.adopt in berth's config`,
    { place: { stack } },
  );
}

/**
 * The guard before a deployment changes anything: containers labelled with the stack's
 * Compose project that berth did not create (a hand-run `docker compose -p <stack> up`) are
 * not taken over because a stack folder has their name. Unless the operator lets berth adopt
 * them, the deployment is refused and recorded; returns the refusal, or undefined to go on.
 */
export async function refuseForeignProject(
  deps: ReconcilerDeps,
  stack: string,
  version: string,
  deployment: DeploymentHandle,
): Promise<StackOutcome | undefined> {
  const foreign = await deps.engine.foreignContainers(stack);
  if (foreign.length === 0) return undefined;
  if (deps.adopts(stack)) {
    deps.logger.warn({ stack, containers: foreign }, 'adopting hand-run compose containers');
    deps.store.appendLog(deployment.id, `adopting the hand-run containers ${foreign.join(', ')}`);
    return undefined;
  }
  const error = projectNotOwned(stack, foreign);
  deps.logger.warn({ stack, containers: foreign }, 'stack refused: project not owned');
  deployment.finish({ state: 'FAILED', result: 'failed', message: error.message });
  const existing = deps.store.getStack(stack);
  deps.store.upsertStack(stack, {
    ...(existing === undefined ? { state: 'BROKEN' as const } : {}),
    lastAttemptedVersion: version,
  });
  setStatus(deps.store, stack, failed('ProjectNotOwned', error.message, { stalled: true }));
  return {
    stack,
    outcome: 'terminal',
    result: 'failed',
    message: error.message,
    version,
    deploymentId: deployment.id,
    error,
  };
}
