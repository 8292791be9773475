import path from 'node:path';
import { asBerthError, type BerthError } from '../errors.js';
import { assertPolicy } from '../policy/index.js';
import { assertExclusiveVolumesDeclared } from '../stack/settings.js';
import type { VersionRef } from '../state/types.js';
import type { StrategyTarget } from '../strategies/index.js';
import { entryDeploys } from './pass.js';
import { openDeployment, type DeploymentFields } from './record.js';
import { findRollbackSource } from './rollback.js';
import { settingsOfFiles } from './settings.js';
import { defaultsOf, revisionOf } from './sources.js';
import { dropStaged, stageCopy, stagedPins } from './staging.js';
import type { PreparedRequest, ReconcilerDeps, StackRequest } from './types.js';

/**
 * Makes a request ready to queue, while what it was planned from still holds: the files it
 * deploys are copied aside (and must load, or the stack is recorded invalid and nothing is
 * queued to deploy), and a deployment that will touch the stack is opened as QUEUED.
 */
export async function prepareRequest(
  deps: ReconcilerDeps,
  request: StackRequest,
): Promise<PreparedRequest> {
  const staged: string[] = [];
  const prepared: PreparedRequest = {
    ...request,
    release: async () => {
      for (const dir of staged.splice(0)) await dropStaged(dir);
    },
  };
  try {
    const fields = await prepareWork(deps, prepared, staged);
    if (fields !== undefined) {
      prepared.deployment = openDeployment(deps, request.stack, request.trigger.by, fields);
    }
    return prepared;
  } catch (err) {
    await prepared.release();
    throw err;
  }
}

/** Fills the request's target; returns the fields of its deployment, if it opens one. */
async function prepareWork(
  deps: ReconcilerDeps,
  prepared: PreparedRequest,
  staged: string[],
): Promise<DeploymentFields | undefined> {
  const { stack, work } = prepared;
  switch (work.kind) {
    case 'apply': {
      const discovered = work.entry.discovered;
      if (!entryDeploys(work.entry) || discovered === undefined) return undefined;
      const commit = revisionOf(work.pass, stack).commit;
      const images = work.entry.images;
      const pins: VersionRef = { version: discovered.version, commit, images };
      const dir = await stageCopy(deps.stagingDir, stack, discovered.dir, { pins });
      staged.push(dir);
      try {
        // Checked on the copy that is deployed: a broken file costs nothing.
        const project = (await deps.loadStack(dir, stack)).project;
        assertExclusiveVolumesDeclared(project, discovered.settings, stack);
        assertPolicy(project, deps.policy, stack);
      } catch (err) {
        const error = asBerthError(err, 'ComposeInvalid');
        prepared.invalid = inCheckout(error, path.dirname(dir), path.dirname(discovered.dir));
        return undefined;
      }
      prepared.target = {
        ...targetBase(stack, discovered.version, commit),
        dir,
        settings: discovered.settings,
      };
      return fieldsOf(prepared.target, work.entry.currentVersion, images);
    }
    case 'rollback': {
      const source = await findRollbackSource(deps, stack, work.to);
      const dir = await stageCopy(deps.stagingDir, stack, source.dir, { dropVersionFile: true });
      staged.push(dir);
      const settings = await settingsOfFiles(dir, defaultsOf(deps, stack), deps.logger);
      // A version that once ran may still be one the operator's policy now refuses.
      assertPolicy((await deps.loadStack(dir, stack)).project, deps.policy, stack);
      prepared.target = {
        ...targetBase(stack, source.ref.version, source.ref.commit),
        dir,
        settings,
      };
      const previous = (await runningOf(deps, stack))?.version;
      return fieldsOf(prepared.target, previous, await stagedPins(dir, source.ref.version));
    }
    case 'down':
    case 'repair': {
      const running = await runningOf(deps, stack);
      if (running === undefined && work.kind === 'repair') return undefined;
      return {
        version: running?.version ?? '',
        commit: running?.commit ?? '',
        previousVersion: running?.version,
        method: work.kind,
      };
    }
    default:
      return undefined;
  }
}

/**
 * The error names the files of the private copy, which is gone once the request is refused;
 * the user knows them by their place in the repository. Both folders hold the stack under its
 * own name, so their parents swap.
 */
function inCheckout(err: BerthError, staged: string, checkout: string): BerthError {
  const swap = (text: string): string => text.split(staged).join(checkout);
  err.message = swap(err.message);
  if (err.place.file !== undefined) err.place.file = swap(err.place.file);
  return err;
}

function targetBase(
  stack: string,
  version: string,
  commit: string,
): Pick<StrategyTarget, 'stack' | 'projectName' | 'version' | 'commit'> {
  return { stack, projectName: stack, version, commit };
}

function fieldsOf(
  target: StrategyTarget,
  previous: string | undefined,
  images?: Record<string, string>,
): DeploymentFields {
  return {
    version: target.version,
    commit: target.commit,
    previousVersion: previous,
    method: target.settings.method,
    ...(images === undefined ? {} : { images }),
  };
}

/** What runs: running_stacks' version.txt, else the record. */
export async function runningOf(
  deps: ReconcilerDeps,
  stack: string,
): Promise<VersionRef | undefined> {
  return (await deps.folders.readRunningVersion(stack)) ?? deps.store.getStack(stack)?.running;
}
