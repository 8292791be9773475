import { asBerthError, describeError } from '../errors.js';
import { releaseDecryptedFiles } from './deploy.js';
import type { DeploymentHandle } from './record.js';
import { broughtDown, pruned, setStatus } from './status.js';
import type { ReconcilerDeps, StackOutcome } from './types.js';

/**
 * `berth down`: removes the stack's containers and networks (volumes kept) and suspends it,
 * since drift detection would otherwise bring it straight back on the next pass.
 */
export async function downStack(
  deps: ReconcilerDeps,
  stack: string,
  deployment: DeploymentHandle | undefined,
): Promise<StackOutcome> {
  deployment?.running();
  let failure: unknown;
  try {
    if (deployment !== undefined) {
      deps.store.journal(deployment.id, 'down', 'remove the containers (volumes kept)');
    }
    await deps.engine.down(stack, { volumes: false });
  } catch (err) {
    failure = err;
  } finally {
    const message =
      failure === undefined
        ? 'brought down; suspended so the next pass leaves it down'
        : `down failed: ${describeError(failure)}`;
    deployment?.finish(
      failure === undefined
        ? { state: 'DONE', result: 'succeeded', message }
        : { state: 'FAILED', result: 'failed', message },
    );
    if (failure === undefined) {
      deps.store.upsertStack(stack, { suspended: true, health: 'unknown' });
      setStatus(deps.store, stack, broughtDown(message));
    }
  }
  if (failure !== undefined) throw asBerthError(failure, 'DownFailed');
  await releaseDecryptedFiles(deps, stack, undefined);
  deps.logger.info({ stack, trigger: deployment?.trigger }, 'stack brought down');
  return {
    stack,
    outcome: 'done',
    result: 'down',
    message: 'brought down (volumes kept); suspended',
    ...(deployment === undefined ? {} : { deploymentId: deployment.id }),
  };
}

/** A stack whose folder left the repository, with `prune: true`: removed, files archived. */
export async function pruneStack(
  deps: ReconcilerDeps,
  stack: string,
  by: string,
): Promise<StackOutcome> {
  deps.logger.warn({ stack, trigger: by }, 'stack folder left the repository; pruning');
  try {
    await deps.engine.down(stack, { volumes: false });
    await releaseDecryptedFiles(deps, stack, undefined);
    const archived = await deps.folders.archive(stack);
    deps.store.upsertStack(stack, { running: undefined, health: 'unknown' });
    setStatus(
      deps.store,
      stack,
      pruned(`folder left the repository; removed, files archived in ${archived}`),
    );
    return {
      stack,
      outcome: 'done',
      result: 'removed',
      message: `folder left the repository; removed (files archived in ${archived})`,
    };
  } catch (err) {
    deps.logger.error({ stack, err }, 'pruning the stack failed');
    return {
      stack,
      outcome: 'retry-later',
      result: 'failed',
      message: `pruning failed: ${describeError(err)}`,
      error: asBerthError(err, 'PruneFailed'),
    };
  }
}
