import type { ObservedProject } from '../../engine/types.js';
import { describeError } from '../../errors.js';
import type { DeploymentRecord, StackRecord } from '../../state/types.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { formatTable, formatVersionRef, relativeTime } from '../format.js';

export interface StackStatus {
  stack: string;
  state: StackRecord['state'];
  suspended: boolean;
  running?: StackRecord['running'];
  good?: StackRecord['good'];
  health?: StackRecord['health'];
  /** Containers Docker reports running, out of all the project's containers; absent when Docker was not asked. */
  containers?: { running: number; total: number };
  badVersions: number;
  lastDeployment?: Pick<
    DeploymentRecord,
    'id' | 'version' | 'state' | 'result' | 'startedAt' | 'finishedAt' | 'message'
  >;
  conditions: StackRecord['conditions'];
}

/**
 * `berth status`: one row per stack berth knows. Exit 1 when a stack is BROKEN or unhealthy,
 * so scripts and monitoring can use it as a check.
 */
export async function statusCommand(ctx: CliContext): Promise<ExitCode> {
  const app = await ctx.openReader();
  const records = app.store.listStacks().sort((a, b) => a.name.localeCompare(b.name));
  let observed: Map<string, ObservedProject> | undefined;
  let dockerProblem: string | undefined;
  try {
    observed = await app.engine.observeAll();
  } catch (err) {
    dockerProblem = describeError(err);
    ctx.logger.warn({ err }, 'docker not reachable; status shows recorded state only');
  }

  const rows: StackStatus[] = records.map((record) => {
    const last = app.store.listDeployments(record.name, 1)[0];
    const project = observed?.get(record.name);
    const containers =
      project === undefined ? [] : Object.values(project.services).flatMap((s) => s.containers);
    return {
      stack: record.name,
      state: record.state,
      suspended: record.suspended,
      running: record.running,
      good: record.good,
      health: record.health,
      containers:
        observed === undefined
          ? undefined
          : {
              running: containers.filter((c) => c.state === 'running').length,
              total: containers.length,
            },
      badVersions: app.store.listBad(record.name).length,
      lastDeployment:
        last === undefined
          ? undefined
          : {
              id: last.id,
              version: last.version,
              state: last.state,
              result: last.result,
              startedAt: last.startedAt,
              finishedAt: last.finishedAt,
              message: last.message,
            },
      conditions: record.conditions,
    };
  });

  ctx.out.result({ stacks: rows, docker: dockerProblem === undefined ? 'ok' : dockerProblem }, () =>
    formatStatus(rows, dockerProblem),
  );
  const bad = rows.some((r) => r.state === 'BROKEN' || r.health === 'unhealthy');
  return bad ? EXIT.failed : EXIT.ok;
}

function formatStatus(rows: StackStatus[], dockerProblem: string | undefined): string {
  if (rows.length === 0) return 'no stacks deployed yet: run berth reconcile --once';
  const now = Date.now();
  const table = formatTable(
    ['STACK', 'STATE', 'RUNNING', 'GOOD', 'HEALTH', 'CONTAINERS', 'BAD', 'LAST DEPLOYMENT'],
    rows.map((r) => [
      r.stack,
      r.suspended ? `${r.state} (suspended)` : r.state,
      formatVersionRef(r.running),
      formatVersionRef(r.good),
      r.health,
      r.containers === undefined ? undefined : `${r.containers.running}/${r.containers.total}`,
      r.badVersions === 0 ? undefined : r.badVersions,
      r.lastDeployment === undefined
        ? undefined
        : `${r.lastDeployment.result ?? r.lastDeployment.state.toLowerCase()} ${
            relativeTime(r.lastDeployment.finishedAt ?? r.lastDeployment.startedAt, now) ?? ''
          }`.trim(),
    ]),
  );
  return dockerProblem === undefined
    ? table
    : `${table}\nwarning: docker not reachable (${dockerProblem}); containers not shown`;
}
