import type { ComposeProject } from '../../compose/types.js';
import { versionLabels } from '../../engine/naming.js';
import type { JobResult } from '../../engine/types.js';
import { BerthError } from '../../errors.js';
import { shortVersion } from '../../plan/stack-plan.js';
import { assertMigrationServicesDeclared } from '../../stack/settings.js';
import type { MigrationJob } from '../../stack/types.js';
import type { StrategyContext } from '../types.js';
import { step } from './step.js';

/** The journal step of a job: `migrate:<name>`. */
export function migrationStep(job: Pick<MigrationJob, 'name'>): string {
  return `migrate:${job.name}`;
}

/**
 * Runs the stack's migration jobs in order, each as a one-off container of the new version
 * (the project must be prepared: images, networks and volumes exist). A job that succeeded for
 * this version before (a deployment a crash cut short, retried) is skipped. Throws BerthError
 * MigrationFailed or MigrationTimedOut on the first job that fails; the jobs after it do not run.
 */
export async function runMigrations(ctx: StrategyContext, project: ComposeProject): Promise<void> {
  const jobs = ctx.target.settings.migrations ?? [];
  if (jobs.length === 0) return;
  assertMigrationServicesDeclared(project, ctx.target.settings, ctx.target.stack);
  for (const job of jobs) await runOne(ctx, project, job);
}

async function runOne(
  ctx: StrategyContext,
  project: ComposeProject,
  job: MigrationJob,
): Promise<void> {
  const { stack, version } = ctx.target;
  const name = migrationStep(job);
  const done = ctx.store.migrationRun(stack, version, job.name);
  if (done !== undefined) {
    const why = `already succeeded for ${shortVersion(version)} at ${done.finishedAt}; not run again`;
    ctx.store.journal(ctx.deploymentId, name, why);
    ctx.store.appendLog(ctx.deploymentId, `migration ${job.name}: ${why}`);
    return;
  }
  const command = job.command === undefined ? 'its own command' : JSON.stringify(job.command);
  const result = await step(
    ctx,
    name,
    `run ${job.name} in a one-off ${job.service} container (${command}, timeout ${job.timeoutMs}ms)`,
    () =>
      ctx.engine.runJob(project, {
        name: job.name,
        service: job.service,
        ...(job.command === undefined ? {} : { command: job.command }),
        timeoutMs: job.timeoutMs,
        labels: versionLabels(version),
        ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
      }),
  );
  ctx.store.appendLog(ctx.deploymentId, report(job, result));
  ctx.logger.info(
    {
      stack,
      job: job.name,
      exitCode: result.exitCode,
      timedOut: result.timedOut,
      durationMs: result.durationMs,
    },
    'migration job finished',
  );
  const failure = failureOf(job, result, stack);
  if (failure !== undefined) throw failure;
  ctx.store.recordMigrationRun({
    stack,
    version,
    name: job.name,
    exitCode: result.exitCode,
    output: result.output,
    durationMs: result.durationMs,
  });
}

/** The deployment log's account of a run: its outcome, then its output. */
function report(job: MigrationJob, result: JobResult): string {
  const outcome = result.timedOut
    ? `killed after its timeout of ${job.timeoutMs}ms`
    : `exited ${result.exitCode}`;
  const output = result.output.trimEnd();
  const body = output === '' ? '(no output)' : output;
  return `migration ${job.name} (${job.service}) ${outcome} in ${result.durationMs}ms; output:\n${body}`;
}

function failureOf(job: MigrationJob, result: JobResult, stack: string): BerthError | undefined {
  const place = { stack, service: job.service };
  const tail = lastLine(result.output);
  const said = tail === '' ? '' : ` (last output: ${tail})`;
  if (result.timedOut)
    return new BerthError(
      'MigrationTimedOut',
      `migration ${job.name} ran past its timeout of ${job.timeoutMs}ms and was killed${said}`,
      { place },
    );
  if (result.exitCode !== 0)
    return new BerthError(
      'MigrationFailed',
      `migration ${job.name} exited ${result.exitCode}${said}`,
      { place },
    );
  return undefined;
}

/** The output's last non-empty line, shortened, for one-line messages. */
function lastLine(output: string): string {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  const last = (lines.at(-1) ?? '').trim();
  return last.length > 200 ? `${last.slice(0, 200)}…` : last;
}
