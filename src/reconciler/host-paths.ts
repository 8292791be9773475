import { relocateProject } from '../engine/host-paths.js';
import { BerthError } from '../errors.js';
import type { StrategyTarget } from '../strategies/index.js';
import { refuse } from './ownership.js';
import type { DeploymentHandle } from './record.js';
import type { ReconcilerDeps, StackOutcome } from './types.js';

/**
 * The guard for berth in a container: a stack whose files berth would hand to Docker from a
 * place the Docker host cannot see (the data dir on no mount) is refused before the strategy
 * runs, since `simple` stops and removes the running containers before it applies. The files
 * are checked where the strategy will mount them from, running_stacks/<stack>.
 */
export async function refuseHiddenPaths(
  deps: ReconcilerDeps,
  target: StrategyTarget,
  deployment: DeploymentHandle,
): Promise<StackOutcome | undefined> {
  // On a host (the usual case) there is nothing to translate: no load, no check.
  if ((await deps.engine.self()) === undefined) return undefined;
  let project;
  try {
    project = (await deps.loadStack(target.dir, target.projectName)).project;
  } catch {
    return undefined; // the strategy loads it again and reports why it does not load
  }
  const running = relocateProject(project, target.dir, deps.folders.runningDir(target.stack));
  try {
    await deps.engine.checkHostPaths(running);
    return undefined;
  } catch (err) {
    if (!(err instanceof BerthError) || err.reason !== 'PathNotOnMount') throw err;
    deps.logger.warn({ stack: target.stack, err }, 'stack refused: files not on a mount');
    return refuse(deps, target.stack, target.version, deployment, err);
  }
}
