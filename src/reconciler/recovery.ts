import type { ComposeProject } from '../compose/types.js';
import { LABEL, type ObservedContainer, type ObservedProject } from '../engine/types.js';
import { describeError } from '../errors.js';
import { failpoint } from '../failpoint.js';
import { shortVersion } from '../plan/stack-plan.js';
import { findStrategy } from '../strategies/index.js';
import type { RecoveryAction, RecoveryContext, RecoveryOutcome } from '../strategies/index.js';
import type { DeploymentRecord, JournalEntry, StackRecord, VersionRef } from '../state/types.js';
import { versionLabels } from '../engine/naming.js';
import { closeInterrupted } from './record.js';
import { settingsOfFiles } from './settings.js';
import { interrupted, setStatus } from './status.js';

/**
 * Seed 000, crash recovery: resolves the deployments a crash (or a kill) left unfinished.
 * Decisions rest on what is on disk and in Docker now (folders, container labels, the health
 * history), not on the last journal line alone: a step is journaled before it runs, so the
 * journal says where the process was, never whether the step finished.
 */

/**
 * What recovery needs: what a strategy's recovery gets, less the deployment's journal; with
 * several sources, each stack's defaults are its source's (`defaultsOf`).
 */
export type RecoveryDeps = Omit<RecoveryContext, 'journal'> & {
  defaultsOf?: (stack: string) => RecoveryContext['defaults'];
};

/** Where the version to go back to lives. */
export type RecoverySource = 'running' | 'good';

/** What the pure decision needs to know about one interrupted deployment. */
export interface RecoveryInput {
  /** The interrupted deployment's version. */
  version: string;
  /** The record of the stack as it was before the deployment (running and health). */
  record?: Pick<StackRecord, 'running' | 'health'>;
  /** version.txt of running_stacks/<stack> and good_stacks/<stack>. */
  runningFolder?: VersionRef;
  goodFolder?: VersionRef;
  /** The project's containers now. */
  containers: Pick<ObservedContainer, 'state' | 'health' | 'labels' | 'exitCode'>[];
  /** The health history holds a healthy record of this version written during the deployment. */
  provenHealthy: boolean;
}

export interface RecoveryDecision {
  /** The new version passed its health gate and still runs: keep it. */
  keepNew: boolean;
  /** Containers of the interrupted version exist and are not kept: remove them first. */
  removeNew: boolean;
  /** The version to bring back and where its files are; undefined leaves the stack down. */
  target?: { ref: VersionRef; from: RecoverySource };
  /** running_stacks holds the interrupted version and nothing replaces it: clear it. */
  clearRunning: boolean;
}

export type { RecoveryAction };

export interface RecoveredDeployment extends RecoveryOutcome {
  stack: string;
  deploymentId: number;
  version: string;
  /** The last step begun, from the journal; undefined when none had begun. */
  step?: string;
}

/** A container that counts as up: running and not failing, or a one-shot that exited 0. */
function containerUp(c: RecoveryInput['containers'][number]): boolean {
  return (
    (c.state === 'running' && c.health !== 'unhealthy' && c.health !== 'starting') ||
    (c.state === 'exited' && c.exitCode === 0)
  );
}

/**
 * Decides what to do with one interrupted deployment. The version to go back to is the
 * running_stacks copy when it is not the interrupted version and was known good (it is the
 * good_stacks version, or the record says it ran healthy before); otherwise good_stacks.
 */
export function decideRecovery(input: RecoveryInput): RecoveryDecision {
  const { version, runningFolder, goodFolder, record } = input;
  const versionOf = (c: RecoveryInput['containers'][number]): string | undefined =>
    c.labels[LABEL.stackVersion];
  const newContainers = input.containers.filter((c) => versionOf(c) === version);

  const newStillUp =
    input.provenHealthy &&
    runningFolder?.version === version &&
    input.containers.length > 0 &&
    newContainers.length === input.containers.length &&
    input.containers.every(containerUp);
  if (newStillUp) return { keepNew: true, removeNew: false, clearRunning: false };

  let target: RecoveryDecision['target'];
  if (
    runningFolder !== undefined &&
    runningFolder.version !== version &&
    (runningFolder.version === goodFolder?.version ||
      (record?.running?.version === runningFolder.version && record.health !== 'unhealthy'))
  ) {
    target = { ref: runningFolder, from: 'running' };
  } else if (goodFolder !== undefined) {
    target = { ref: goodFolder, from: 'good' };
  }

  return {
    keepNew: false,
    // When the good version is the interrupted one (a rollback was interrupted), applying it converges them.
    removeNew: newContainers.length > 0 && target?.ref.version !== version,
    target,
    clearRunning: target === undefined && runningFolder?.version === version,
  };
}

/** True when every service of the project has containers of `version` that are up. */
function runsHealthy(observed: ObservedProject, project: ComposeProject, version: string): boolean {
  const all = Object.values(observed.services).flatMap((s) => s.containers);
  if (all.some((c) => c.labels[LABEL.stackVersion] !== version)) return false;
  return Object.keys(project.services).every((name) => {
    const containers = observed.services[name]?.containers ?? [];
    return containers.length > 0 && containers.every(containerUp);
  });
}

function lastStep(journal: JournalEntry[]): JournalEntry | undefined {
  return journal.filter((entry) => !entry.step.startsWith('recover')).at(-1);
}

/**
 * Resolves every unfinished deployment (QUEUED, TRIGGERED, WAITING, RUNNING): removes the
 * containers of a half-started version, brings the stack back to its last good version when
 * it is not healthy on it, and records the deployment as FAILED/interrupted. The version is
 * not marked bad: it did not fail, so the next pass tries it again. Meant to run once at
 * process start, before the first pass; running it again is harmless.
 */
export async function recoverInterrupted(deps: RecoveryDeps): Promise<RecoveredDeployment[]> {
  const byStack = new Map<string, DeploymentRecord[]>();
  for (const deployment of deps.store.unfinishedDeployments()) {
    const list = byStack.get(deployment.stack) ?? [];
    list.push(deployment);
    byStack.set(deployment.stack, list);
  }
  const results: RecoveredDeployment[] = [];
  for (const [stack, deployments] of byStack) {
    // Only the newest can have touched Docker last; older ones are closed as superseded.
    const latest = deployments[deployments.length - 1];
    if (latest === undefined) continue;
    for (const older of deployments.slice(0, -1)) {
      closeInterrupted(
        deps,
        older.id,
        'interrupted: berth stopped before it finished; superseded by a later deployment',
      );
    }
    const defaults = deps.defaultsOf?.(stack) ?? deps.defaults;
    results.push(await recoverOne({ ...deps, defaults }, stack, latest));
  }
  return results;
}

async function recoverOne(
  deps: RecoveryDeps,
  stack: string,
  deployment: DeploymentRecord,
): Promise<RecoveredDeployment> {
  const { store, logger } = deps;
  const begun = lastStep(store.getJournal(deployment.id));
  const where =
    begun === undefined
      ? 'before its first step'
      : `at step ${begun.step}${begun.detail === '' ? '' : ` (${begun.detail})`}`;
  const journal = async (name: string, detail: string): Promise<void> => {
    store.journal(deployment.id, name, detail);
    await failpoint(stack, name);
  };
  logger.warn(
    { stack, deploymentId: deployment.id, version: deployment.version, step: begun?.step },
    'recovering a deployment interrupted by a restart',
  );

  let outcome: RecoveryOutcome;
  try {
    outcome = await resolve(deps, stack, deployment, journal);
  } catch (err) {
    logger.error({ stack, deploymentId: deployment.id, err }, 'recovery of the stack failed');
    outcome = {
      action: 'failed',
      healthy: false,
      message: `recovery failed: ${describeError(err)}`,
    };
  }

  const message = `interrupted ${where}: berth stopped while the deployment ran; ${outcome.message}`;
  closeInterrupted(deps, deployment.id, message);
  // Not stalled: the next pass retries the interrupted version.
  setStatus(store, stack, interrupted(message, outcome.healthy));
  logger.info(
    { stack, deploymentId: deployment.id, action: outcome.action, running: outcome.running },
    'interrupted deployment recovered',
  );
  return {
    stack,
    deploymentId: deployment.id,
    version: deployment.version,
    step: begun?.step,
    ...outcome,
  };
}

async function resolve(
  deps: RecoveryDeps,
  stack: string,
  deployment: DeploymentRecord,
  journal: (name: string, detail: string) => Promise<void>,
): Promise<RecoveryOutcome> {
  const { engine, store, folders, logger } = deps;
  const version = deployment.version;
  const short = shortVersion(version);
  const record = store.getStack(stack);
  const [runningFolder, goodFolder, observed] = await Promise.all([
    folders.readRunningVersion(stack),
    folders.readGoodVersion(stack),
    engine.observe(stack),
  ]);
  const containers = Object.values(observed.services).flatMap((s) => s.containers);
  // A method that leaves traces of its own (blue-green, canary) resolves them itself.
  const own = await findStrategy(deployment.method)?.recover?.(
    { ...deps, journal },
    { stack, deployment, containers },
  );
  if (own !== undefined) return own;
  const provenHealthy = store
    .healthHistory(stack, 20)
    .some((h) => h.version === version && h.health === 'healthy' && h.at >= deployment.startedAt);
  const decision = decideRecovery({
    version,
    record,
    runningFolder,
    goodFolder,
    containers,
    provenHealthy,
  });

  if (decision.keepNew) {
    const running: VersionRef = { version, commit: deployment.commit };
    await journal('recover-keep', `${short} passed its health gate and runs; kept`);
    store.upsertStack(stack, {
      state: 'AVAILABLE',
      running,
      good: goodFolder ?? record?.good,
      health: 'healthy',
      lastAppliedVersion: version,
    });
    return {
      action: 'kept-new',
      running,
      healthy: true,
      message: `${short} had passed its health gate and still runs; kept`,
    };
  }

  const done: string[] = [];
  if (decision.removeNew) {
    await journal('recover-remove-new', `remove the containers of ${short} (volumes kept)`);
    // The engine removes whole projects; the version brought back next is applied from scratch.
    await engine.down(stack, { volumes: false });
    done.push(`removed the containers of ${short}`);
  }

  const target = decision.target;
  if (target === undefined) {
    if (decision.clearRunning) {
      await journal('recover-clear-running', `no good version; clear ${short} from running_stacks`);
      await folders.clearRunning(stack);
    }
    store.upsertStack(stack, { state: 'BROKEN', running: undefined, health: 'unknown' });
    done.push('no good version to go back to; left down for the next pass');
    return { action: 'left-down', healthy: false, message: done.join('; ') };
  }

  const goodShort = shortVersion(target.ref.version);
  if (target.from === 'good') {
    await journal('recover-restore-good', `restore ${goodShort} from good_stacks`);
    await folders.restoreGood(stack);
  }
  const dir = folders.runningDir(stack);
  const project = await deps.loadProject(dir, stack);
  const settings = await settingsOfFiles(dir, deps.defaults, logger);

  const current = decision.removeNew ? undefined : await engine.observe(stack);
  if (current !== undefined && runsHealthy(current, project, target.ref.version)) {
    store.upsertStack(stack, {
      state: 'AVAILABLE',
      running: target.ref,
      good: goodFolder ?? record?.good,
      health: 'healthy',
    });
    done.push(`${goodShort} still runs healthy`);
    return {
      action: 'already-healthy',
      running: target.ref,
      healthy: true,
      message: done.join('; '),
    };
  }

  await journal('recover-apply', `deploy ${goodShort} again`);
  await engine.apply(project, {
    labels: versionLabels(target.ref.version),
    signal: deps.signal,
  });
  await journal('recover-wait-healthy', `wait up to ${settings.healthTimeoutMs}ms for health`);
  const report = await engine.waitHealthy(project, {
    timeoutMs: settings.healthTimeoutMs,
    stabilityMs: settings.stabilityMs,
    signal: deps.signal,
  });
  store.recordHealth({
    stack,
    version: target.ref.version,
    commit: target.ref.commit,
    health: report.healthy ? 'healthy' : 'unhealthy',
    detail: report.detail,
  });
  store.upsertStack(stack, {
    state: report.healthy ? 'AVAILABLE' : 'BROKEN',
    running: target.ref,
    good: (await folders.readGoodVersion(stack)) ?? record?.good,
    health: report.healthy ? 'healthy' : 'unhealthy',
  });
  done.push(
    report.healthy
      ? `brought ${goodShort} back, healthy`
      : `brought ${goodShort} back, but it is not healthy (${report.detail})`,
  );
  return {
    action: 'restored',
    running: target.ref,
    healthy: report.healthy,
    message: done.join('; '),
  };
}
