import type { ObservedProject } from '../../engine/types.js';
import { describeError } from '../../errors.js';
import { DEFAULT_SOURCE } from '../../source/index.js';
import type { DeploymentRecord, StackRecord } from '../../state/types.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { formatTable, formatVersionRef, relativeTime, type Cell } from '../format.js';

export interface StackStatus {
  stack: string;
  /** The source the stack comes from (`default` for the single `source:`). */
  source: string;
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
      source: record.source ?? DEFAULT_SOURCE,
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

  // One source named `default` (the single `source:`): the table stays as it was.
  const bySource = app.config.sources.length > 1 || rows.some((r) => r.source !== DEFAULT_SOURCE);
  ctx.out.result({ stacks: rows, docker: dockerProblem === undefined ? 'ok' : dockerProblem }, () =>
    formatStatus(rows, dockerProblem, bySource),
  );
  const bad = rows.some((r) => r.state === 'BROKEN' || r.health === 'unhealthy');
  return bad ? EXIT.failed : EXIT.ok;
}

/**
 * The image digests the versions pin (image updates), one row each; none when no version
 * pins any, so the output of stacks without image updates is as it was.
 */
export function formatImages(
  title: string,
  header: string,
  versions: { label: string; images?: Record<string, string> }[],
): string[] {
  const rows = versions.flatMap(({ label, images }) =>
    Object.entries(images ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([image, digest]): Cell[] => [label, image, shortDigest(digest)]),
  );
  if (rows.length === 0) return [];
  return ['', title, formatTable([header, 'IMAGE', 'DIGEST'], rows)];
}

/** `sha256:` and the first 12 hex digits, as Docker shortens digests. */
function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return colon === -1 ? digest.slice(0, 12) : digest.slice(0, colon + 13);
}

function formatStatus(
  rows: StackStatus[],
  dockerProblem: string | undefined,
  bySource: boolean,
): string {
  if (rows.length === 0) return 'no stacks deployed yet: run berth reconcile --once';
  const now = Date.now();
  // The source goes right after the stack's name.
  const withSource = <T>(cells: T[], value: T): T[] =>
    bySource ? [...cells.slice(0, 1), value, ...cells.slice(1)] : cells;
  const table = formatTable(
    withSource(
      ['STACK', 'STATE', 'RUNNING', 'GOOD', 'HEALTH', 'CONTAINERS', 'BAD', 'LAST DEPLOYMENT'],
      'SOURCE',
    ),
    rows.map((r) => withSource(statusCells(r, now), r.source)),
  );
  const images = formatImages(
    'images of the running versions',
    'STACK',
    rows.map((r) => ({ label: r.stack, images: r.running?.images })),
  );
  const warning =
    dockerProblem === undefined
      ? []
      : [`warning: docker not reachable (${dockerProblem}); containers not shown`];
  return [table, ...images, ...warning].join('\n');
}

function statusCells(r: StackStatus, now: number): Cell[] {
  const last = r.lastDeployment;
  return [
    r.stack,
    r.suspended ? `${r.state} (suspended)` : r.state,
    formatVersionRef(r.running),
    formatVersionRef(r.good),
    r.health,
    r.containers === undefined ? undefined : `${r.containers.running}/${r.containers.total}`,
    r.badVersions === 0 ? undefined : r.badVersions,
    last === undefined
      ? undefined
      : `${last.result ?? last.state.toLowerCase()} ${
          relativeTime(last.finishedAt ?? last.startedAt, now) ?? ''
        }`.trim(),
  ];
}
