import type { ObservedProject } from '../engine/types.js';
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
  return refuse(deps, stack, version, deployment, error);
}

/**
 * Records a deployment refused before it changed anything: the deployment FAILED, the stack
 * stalled with the error's reason (a new stack BROKEN), and a terminal outcome, so the same
 * version is not tried again until its files change or a person asks.
 */
export function refuse(
  deps: ReconcilerDeps,
  stack: string,
  version: string,
  deployment: DeploymentHandle,
  error: BerthError,
): StackOutcome {
  deployment.finish({ state: 'FAILED', result: 'failed', message: error.message });
  const existing = deps.store.getStack(stack);
  deps.store.upsertStack(stack, {
    ...(existing === undefined ? { state: 'BROKEN' as const } : {}),
    lastAttemptedVersion: version,
  });
  setStatus(deps.store, stack, failed(error.reason, error.message, { stalled: true }));
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

/** The refusal of berth's own Compose project, with what to do instead. */
export function selfDeployRefused(stack: string): BerthError {
  return new BerthError(
    'SelfDeployRefused',
    `stack ${stack} is the Compose project berth itself runs in; berth does not ` +
      `redeploy itself (it would stop its own container mid-deploy). Update berth from its own ` +
      `folder: docker compose pull && docker compose up -d`,
    { place: { stack } },
  );
}

/**
 * The guard against deploying berth's own Compose project: replacing its containers would stop
 * berth in the middle of the deployment. Refused when berth's container carries the project's
 * label, or is one of the containers the project showed, whatever policy.adopt says.
 */
export async function refuseSelf(
  deps: ReconcilerDeps,
  target: { stack: string; projectName: string; version: string },
  observed: ObservedProject | undefined,
  deployment: DeploymentHandle,
): Promise<StackOutcome | undefined> {
  const self = await deps.engine.self();
  if (self === undefined) return undefined;
  const ids = Object.values(observed?.services ?? {}).flatMap((s) => s.containers.map((c) => c.id));
  if (self.project !== target.projectName && !ids.includes(self.id)) return undefined;
  const error = selfDeployRefused(target.stack);
  deps.logger.warn({ stack: target.stack, container: self.id }, 'stack refused: berth itself');
  return refuse(deps, target.stack, target.version, deployment, error);
}
