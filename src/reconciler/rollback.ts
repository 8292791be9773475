import { BerthError } from '../errors.js';
import { shortVersion } from '../plan/stack-plan.js';
import type { VersionRef } from '../state/types.js';
import type { ReconcilerDeps } from './types.js';

/** The version a rollback brings back and the folder its files are kept in. */
export interface RollbackSource {
  ref: VersionRef;
  dir: string;
}

/**
 * Finds what `berth rollback` deploys: the good version, or `to` (a version or commit prefix
 * from the stack's deployment history). berth keeps only the good and the running version's
 * files; an older version must come back through git.
 */
export async function findRollbackSource(
  deps: ReconcilerDeps,
  stack: string,
  to: string | undefined,
): Promise<RollbackSource> {
  const wanted =
    to === undefined ? await goodVersion(deps, stack) : versionInHistory(deps, stack, to);
  const good = await deps.folders.readGoodVersion(stack);
  if (good?.version === wanted.version) return { ref: wanted, dir: deps.folders.goodDir(stack) };
  const running = await deps.folders.readRunningVersion(stack);
  if (running?.version === wanted.version) {
    return { ref: wanted, dir: deps.folders.runningDir(stack) };
  }
  throw new BerthError(
    'VersionFilesUnavailable',
    `the files of version ${shortVersion(wanted.version)} (commit ${wanted.commit}) of stack ${stack} are not available: berth keeps only the good and the running version; revert the stack folder in git to deploy it again`,
    { place: { stack } },
  );
}

async function goodVersion(deps: ReconcilerDeps, stack: string): Promise<VersionRef> {
  const good = await deps.folders.readGoodVersion(stack);
  if (good === undefined) {
    throw new BerthError('NoGoodVersion', `stack ${stack} has no good version in good_stacks`, {
      place: { stack },
    });
  }
  return good;
}

function versionInHistory(deps: ReconcilerDeps, stack: string, to: string): VersionRef {
  const match = deps.store
    .listDeployments(stack)
    .find((d) => d.version !== '' && (d.version.startsWith(to) || d.commit.startsWith(to)));
  if (match === undefined) {
    throw new BerthError(
      'VersionNotFound',
      `version ${to} is not in the deployment history of stack ${stack}`,
      { place: { stack } },
    );
  }
  return { version: match.version, commit: match.commit };
}

/**
 * A rollback rejects the version it rolls away from: marked bad with the trigger in the reason,
 * so later passes keep the rolled-back version until `berth unmark` or a new commit.
 */
export function markRejected(
  deps: ReconcilerDeps,
  stack: string,
  running: VersionRef | undefined,
  wanted: VersionRef,
  by: string,
): VersionRef | undefined {
  if (running === undefined || running.version === wanted.version || running.version === '') {
    return undefined;
  }
  if (deps.store.isBad(stack, running.version) === undefined) {
    deps.store.markBad({
      stack,
      version: running.version,
      commit: running.commit,
      reason: `rolled back by ${by} to ${shortVersion(wanted.version)}`,
    });
  }
  deps.logger.info({ stack, version: running.version, by }, 'rolled-back version marked bad');
  return running;
}
