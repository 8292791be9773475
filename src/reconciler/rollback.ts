import { BerthError } from '../errors.js';
import { shortVersion } from '../plan/stack-plan.js';
import type { DeploymentRecord, VersionRef } from '../state/types.js';
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
  deps: Pick<ReconcilerDeps, 'store' | 'folders'>,
  stack: string,
  to: string | undefined,
): Promise<RollbackSource> {
  const wanted =
    to === undefined
      ? await goodVersion(deps, stack)
      : versionByPrefix(deps.store.listDeployments(stack, ROLLBACK_HISTORY_LIMIT), stack, to);
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

async function goodVersion(
  deps: Pick<ReconcilerDeps, 'folders'>,
  stack: string,
): Promise<VersionRef> {
  const good = await deps.folders.readGoodVersion(stack);
  if (good === undefined) {
    throw new BerthError('NoGoodVersion', `stack ${stack} has no good version in good_stacks`, {
      place: { stack },
    });
  }
  return good;
}

/** The shortest `--to` accepted: git's own shortest abbreviation. */
export const MIN_VERSION_PREFIX = 7;

/** How far back `--to` looks in a stack's deployment history. */
export const ROLLBACK_HISTORY_LIMIT = 1000;

/**
 * The version `to` names: a prefix of at least MIN_VERSION_PREFIX hex digits of a version or a
 * commit in `history` (newest first). A prefix matching more than one version is refused with
 * the candidates, never settled by taking the first.
 */
export function versionByPrefix(
  history: readonly DeploymentRecord[],
  stack: string,
  to: string,
): VersionRef {
  const prefix = to.trim().toLowerCase();
  if (!new RegExp(`^[0-9a-f]{${MIN_VERSION_PREFIX},}$`).test(prefix)) {
    throw new BerthError(
      'VersionPrefixInvalid',
      `version ${JSON.stringify(to)} of stack ${stack}: give at least ${MIN_VERSION_PREFIX} hex digits of a version or commit`,
      { place: { stack, field: 'to' } },
    );
  }
  const candidates = new Map<string, DeploymentRecord>();
  for (const d of history) {
    if (d.version === '' || candidates.has(d.version)) continue;
    if (d.version.startsWith(prefix) || d.commit.startsWith(prefix)) candidates.set(d.version, d);
  }
  const found = [...candidates.values()];
  const only = found[0];
  if (only === undefined) {
    throw new BerthError(
      'VersionNotFound',
      `version ${to} is not in the deployment history of stack ${stack}`,
      { place: { stack } },
    );
  }
  if (found.length > 1) {
    throw new BerthError(
      'VersionAmbiguous',
      `version ${to} matches ${found.length} versions of stack ${stack}: ${found.map(describeCandidate).join('; ')}; give more digits`,
      { place: { stack, field: 'to' } },
    );
  }
  return { version: only.version, commit: only.commit };
}

/** "3f2a9c1d0b7e (commit 1a2b3c4d5e6f, 2024-05-01T10:00:00.000Z)", from its newest deployment. */
function describeCandidate(d: DeploymentRecord): string {
  const commit = d.commit === '' ? '' : `commit ${d.commit.slice(0, 12)}, `;
  return `${shortVersion(d.version)} (${commit}${d.startedAt})`;
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
