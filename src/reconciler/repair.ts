import { versionLabels } from '../engine/naming.js';
import type { HealthReport } from '../engine/types.js';
import { asBerthError, describeError, isTransient } from '../errors.js';
import type { VersionRef } from '../state/types.js';
import { projectLoader } from './deploy.js';
import { runningOf } from './prepare.js';
import type { DeploymentHandle } from './record.js';
import { settingsOfFiles } from './settings.js';
import { defaultsOf } from './sources.js';
import type { ReconcilerDeps, RepairContext, RunOptions, StackOutcome } from './types.js';

/**
 * Restores the running version after containers changed out of band, without a redeploy:
 * stopped containers are started, unhealthy ones restarted, removed ones recreated by
 * converging the running version (which touches nothing else), then the stack must be healthy.
 * The healer counts each repair against the stack's budget.
 */
export async function repairStack(
  deps: ReconcilerDeps,
  stack: string,
  context: RepairContext,
  deployment: DeploymentHandle | undefined,
  options: RunOptions = {},
): Promise<StackOutcome> {
  const running = await runningOf(deps, stack);
  if (running === undefined || deployment === undefined) {
    return { stack, outcome: 'done', result: 'unchanged', message: 'nothing deployed to repair' };
  }
  deployment.running();
  let report: HealthReport | undefined;
  let failure: unknown;
  try {
    report = await restore(deps, stack, running, context, deployment, options);
  } catch (err) {
    failure = err;
  } finally {
    const healthy = report?.healthy === true;
    const message = healthy
      ? `repaired: ${context.reason}`
      : `repair failed: ${failure === undefined ? `not healthy after repair (${report?.detail ?? 'no report'})` : describeError(failure)}`;
    deployment.finish(
      healthy
        ? { state: 'DONE', result: 'succeeded', message }
        : { state: 'FAILED', result: 'failed', message },
    );
    deps.store.recordHealth({
      stack,
      version: running.version,
      commit: running.commit,
      health: healthy ? 'healthy' : 'unhealthy',
      detail: message,
    });
    deps.store.upsertStack(stack, { health: healthy ? 'healthy' : 'unhealthy' });
  }
  const healed = report?.healthy === true;
  return {
    stack,
    outcome: healed ? 'done' : isTransient(failure) ? 'retry-later' : 'terminal',
    result: healed ? 'repaired' : 'failed',
    message: healed
      ? `repaired: ${context.reason}`
      : `repair failed: ${report?.detail ?? describeError(failure)}`,
    version: running.version,
    deploymentId: deployment.id,
    ...(failure === undefined ? {} : { error: asBerthError(failure, 'DeployFailed') }),
  };
}

async function restore(
  deps: ReconcilerDeps,
  stack: string,
  running: VersionRef,
  context: RepairContext,
  deployment: DeploymentHandle,
  options: RunOptions,
): Promise<HealthReport> {
  const { engine, store, folders } = deps;
  const step = (name: string, detail: string): void => {
    store.journal(deployment.id, name, detail);
    options.onProgress?.({ stack, step: name, detail });
  };
  if (context.stopped.length > 0) {
    step('repair-start', `start ${context.stopped.length} stopped container(s)`);
    await engine.start(stack, { containerIds: context.stopped });
  }
  if (context.unhealthy.length > 0) {
    step('repair-restart', `restart ${context.unhealthy.length} unhealthy container(s)`);
    await engine.restartContainers(stack, context.unhealthy);
  }
  const dir = folders.runningDir(stack);
  const project = await projectLoader(deps)(dir, stack);
  const settings = await settingsOfFiles(dir, defaultsOf(deps, stack), deps.logger);
  step('repair-apply', `converge ${running.version.slice(0, 12)} (recreates removed containers)`);
  await engine.apply(project, { labels: versionLabels(running.version), signal: options.signal });
  step('repair-wait-healthy', `wait up to ${settings.healthTimeoutMs}ms for health`);
  return engine.waitHealthy(project, {
    timeoutMs: settings.healthTimeoutMs,
    stabilityMs: settings.stabilityMs,
    signal: options.signal,
  });
}
