import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ObservedProject } from '../engine/types.js';
import { asBerthError, describeError, isTransient, type BerthError } from '../errors.js';
import { shortVersion } from '../plan/stack-plan.js';
import { releaseDecrypted } from '../stack/decrypted.js';
import { pinImages, type ImagePins } from '../stack/image-version.js';
import { VERSION_FILE, parseVersionFile } from '../state/folders.js';
import type { StackState, StackRecord, VersionRef } from '../state/types.js';
import { getStrategy } from '../strategies/index.js';
import type { DeploymentResult, ProjectLoader, StrategyTarget } from '../strategies/index.js';
import type { Reason } from '../reasons.js';
import type { DeploymentEnd, DeploymentHandle } from './record.js';
import { failed, invalid, progressing, setStatus, succeeded } from './status.js';
import { refuseHiddenPaths } from './host-paths.js';
import { refuseForeignProject, refuseSelf } from './ownership.js';
import type { ReconcilerDeps, RunOptions, StackOutcome } from './types.js';

/** One deployment of a version: what it deploys and what ran before it. */
export interface DeployInput extends RunOptions {
  target: StrategyTarget;
  deployment: DeploymentHandle;
  /** The project as Docker showed it before the deployment. */
  observed: ObservedProject | undefined;
  /** The version running before, if any. */
  previous: VersionRef | undefined;
  /**
   * A rollback rejects the running version: it must not become the good version, however
   * healthy it looks.
   */
  rejectsPrevious: boolean;
}

/**
 * The compose loader of everything that hands a project to Docker (every strategy, rollback,
 * recovery, repair): its warnings logged once per deployment, the plaintext of the encrypted
 * files it mounts written where the project points, before any container is made, and the
 * images the folder's version pins (image updates) replaced by `<repo>@<digest>`, so a deploy
 * pulls exactly the image its version was computed from and a rollback gets its own back.
 */
export function projectLoader(deps: Pick<ReconcilerDeps, 'logger' | 'loadStack'>): ProjectLoader {
  return async (dir, projectName) => {
    const result = await deps.loadStack(dir, projectName);
    for (const warning of result.warnings) {
      deps.logger.warn({ stack: projectName, warning }, 'compose warning');
    }
    await result.decrypted?.materialize();
    const pins = await pinsOf(dir);
    return pins === undefined ? result.project : pinImages(result.project, pins);
  };
}

/** The image digests the folder's version.txt pins; none for a folder without one. */
async function pinsOf(dir: string): Promise<ImagePins | undefined> {
  try {
    return parseVersionFile(await readFile(path.join(dir, VERSION_FILE), 'utf8'))?.images;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Once a deployment has ended with a version running (the new one, or the one it went back
 * to), the decrypted files no longer mounted by it go; without a running version, all of them.
 * A version that does not load any more keeps them all: better a stale file than a container
 * that cannot restart.
 */
export async function releaseDecryptedFiles(
  deps: Pick<ReconcilerDeps, 'logger' | 'loadStack' | 'folders' | 'decryptedDir' | 'engine'>,
  stack: string,
  running: VersionRef | undefined,
): Promise<void> {
  const root = deps.decryptedDir;
  if (root === undefined) return;
  try {
    // Nothing said to run, yet containers are left: they may be started again.
    if (running === undefined && hasContainers(await deps.engine.observe(stack))) return;
    const keep =
      running === undefined
        ? undefined
        : (await deps.loadStack(deps.folders.runningDir(stack), stack)).project;
    await releaseDecrypted(root, stack, keep);
  } catch (err) {
    deps.logger.warn({ stack, err }, 'decrypted files of a replaced version not removed');
  }
}

/** Healthy before the deployment: every service has a running container and none is failing. */
export function wasHealthy(
  observed: ObservedProject | undefined,
  health: StackRecord['health'],
): boolean {
  if (observed === undefined || health === 'unhealthy') return false;
  const services = Object.values(observed.services);
  if (services.length === 0) return false;
  return services.every(
    (service) =>
      service.containers.length > 0 &&
      service.containers.every(
        (c) =>
          (c.state === 'running' && c.health !== 'unhealthy' && c.health !== 'starting') ||
          (c.state === 'exited' && c.exitCode === 0),
      ),
  );
}

function hasContainers(observed: ObservedProject | undefined): boolean {
  return Object.values(observed?.services ?? {}).some((s) => s.containers.length > 0);
}

/**
 * The one way a version reaches Docker: strategy, health gate (inside the strategy), and the
 * record written once in a `finally`, whatever happened. Returns the stack's outcome.
 */
export async function deploy(deps: ReconcilerDeps, input: DeployInput): Promise<StackOutcome> {
  const { store, logger } = deps;
  const { target, deployment } = input;
  const stack = target.stack;
  let strategy;
  try {
    strategy = getStrategy(target.settings.method);
  } catch (err) {
    const error = asBerthError(err, 'MethodUnavailable');
    deployment.finish({ state: 'FAILED', result: 'failed', message: error.message });
    return recordInvalid(deps, stack, target.version, error);
  }
  const refused =
    (await refuseSelf(deps, target, input.observed, deployment)) ??
    (await refuseForeignProject(deps, stack, target.version, deployment)) ??
    (await refuseHiddenPaths(deps, target, deployment));
  if (refused !== undefined) return refused;
  const record = store.getStack(stack);
  const healthy = input.previous !== undefined && wasHealthy(input.observed, record?.health);
  const rejected = input.rejectsPrevious || isBadPrevious(deps, stack, input.previous);
  store.upsertStack(stack, {
    state: input.previous === undefined ? 'CREATING' : 'MIGRATING',
    lastAttemptedVersion: target.version,
  });
  setStatus(store, stack, progressing(`deploying ${shortVersion(target.version)}`));
  deployment.running({
    version: target.version,
    commit: target.commit,
    previousVersion: input.previous?.version,
    method: strategy.method,
  });
  logger.info(
    {
      stack,
      version: target.version,
      previous: input.previous?.version,
      trigger: deployment.trigger,
    },
    'deploying stack',
  );
  input.onProgress?.({ stack, step: 'deploy', detail: target.version });

  let result: DeploymentResult | undefined;
  let thrown: BerthError | undefined;
  try {
    result = await strategy.run({
      target,
      deploymentId: deployment.id,
      previous: input.previous,
      hadContainers: hasContainers(input.observed),
      previousHealthy: healthy,
      snapshotPrevious: healthy && !rejected,
      engine: deps.engine,
      store,
      folders: deps.folders,
      hooks: deps.hooks,
      clock: deps.clock,
      logger,
      loadProject: projectLoader(deps),
      signal: input.signal,
      onStep: (step, detail) => input.onProgress?.({ stack, step, detail }),
    });
  } catch (err) {
    thrown = asBerthError(err, 'DeployFailed');
    logger.error({ stack, err }, 'deployment failed');
  } finally {
    recordDeployment(deps, deployment, target, record, result, thrown);
  }
  // Only when the strategy said what runs: after a throw, what runs is not known.
  if (result !== undefined) await releaseDecryptedFiles(deps, stack, result.running);
  return outcomeOf(deps, stack, target.version, deployment.id, result, thrown);
}

/** A previous version that is marked bad never becomes the good version. */
function isBadPrevious(
  deps: ReconcilerDeps,
  stack: string,
  previous: VersionRef | undefined,
): boolean {
  return previous !== undefined && deps.store.isBad(stack, previous.version) !== undefined;
}

function outcomeOf(
  deps: ReconcilerDeps,
  stack: string,
  version: string,
  deploymentId: number,
  result: DeploymentResult | undefined,
  thrown: BerthError | undefined,
): StackOutcome {
  const base = { stack, version, deploymentId };
  if (result === undefined) {
    return {
      ...base,
      outcome: isTransient(thrown) ? 'retry-later' : 'terminal',
      result: 'failed',
      message: thrown?.message ?? 'deployment failed',
      error: thrown,
    };
  }
  const level = result.result === 'succeeded' ? 'info' : 'warn';
  deps.logger[level](
    { stack, version, result: result.result, message: result.message },
    'deployment finished',
  );
  return {
    ...base,
    outcome: result.result === 'succeeded' ? 'done' : result.transient ? 'retry-later' : 'terminal',
    result: result.result === 'succeeded' ? 'deployed' : result.result,
    message: result.message,
    error: result.error,
  };
}

function endOf(
  result: DeploymentResult | undefined,
  thrown: BerthError | undefined,
): DeploymentEnd {
  if (result === undefined) {
    return { state: 'FAILED', result: 'failed', message: thrown?.message ?? 'deployment failed' };
  }
  switch (result.result) {
    case 'succeeded':
      return { state: 'DONE', result: 'succeeded', message: result.message };
    case 'rolled-back':
      return { state: 'ROLLED_BACK', result: 'rolled-back', message: result.message };
    default:
      return { state: 'FAILED', result: 'failed', message: result.message };
  }
}

/**
 * The deployment's one final write, with the stack record and its conditions. A completed
 * deployment leaves the stack STABLE; the dispatcher makes it AVAILABLE once nothing more is
 * queued for it (seed 001).
 */
function recordDeployment(
  deps: ReconcilerDeps,
  deployment: DeploymentHandle,
  target: StrategyTarget,
  before: StackRecord | undefined,
  result: DeploymentResult | undefined,
  thrown: BerthError | undefined,
): void {
  const { store, logger } = deps;
  const stack = target.stack;
  try {
    const end = endOf(result, thrown);
    deployment.finish(end);
    if (result === undefined) {
      store.upsertStack(stack, { state: 'BROKEN', health: 'unknown' });
      setStatus(
        store,
        stack,
        failed(reasonOf(thrown, 'DeployFailed'), end.message, { stalled: false }),
      );
      return;
    }
    const ok = result.result === 'succeeded';
    const state: StackState =
      ok || result.stackState === 'AVAILABLE' ? 'STABLE' : result.stackState;
    store.upsertStack(stack, {
      state,
      running: result.running,
      good: result.good ?? before?.good,
      health: result.health,
      ...(ok
        ? { lastAppliedVersion: target.version, carriedVersions: result.carriedVersions ?? [] }
        : {}),
    });
    const stalled = !ok && !result.transient;
    setStatus(
      store,
      stack,
      ok
        ? succeeded(result.message)
        : failed(result.reason, result.message, {
            stalled,
            ...(result.markedBad ? { stalledReason: 'VersionMarkedBad' as const } : {}),
          }),
    );
  } catch (err) {
    logger.error({ stack, err }, 'recording the deployment failed');
  }
}

function reasonOf(err: BerthError | undefined, fallback: Reason): Reason {
  return err?.reason ?? fallback;
}

/** Formats a load error so the message names the file and the field. */
export function describeLoadError(err: unknown): string {
  const text = describeError(err);
  if (!(err instanceof Error) || !('place' in err)) return text;
  const { file, service, field } = (err as BerthError).place;
  const where = [
    file !== undefined && !text.includes(file) ? `file ${file}` : undefined,
    service !== undefined && !text.includes(service) ? `service ${service}` : undefined,
    field !== undefined && !text.includes(field) ? `field ${field}` : undefined,
  ].filter((part) => part !== undefined);
  return where.length === 0 ? text : `${text} (${where.join(', ')})`;
}

/** Records a stack that cannot be deployed as it is; the others go on. */
export function recordInvalid(
  deps: ReconcilerDeps,
  stack: string,
  version: string | undefined,
  error: BerthError,
): StackOutcome {
  const message = `invalid: ${describeLoadError(error)}`;
  deps.logger.warn({ stack, version, err: error }, 'stack is invalid');
  const existing = deps.store.getStack(stack);
  deps.store.upsertStack(stack, {
    ...(existing === undefined ? { state: 'BROKEN' as const } : {}),
    ...(version === undefined ? {} : { lastAttemptedVersion: version }),
  });
  setStatus(deps.store, stack, invalid(message));
  return { stack, outcome: 'terminal', result: 'invalid', message, version, error };
}
