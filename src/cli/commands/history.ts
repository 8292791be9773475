import { DEFAULT_SOURCE } from '../../source/index.js';
import type { DeploymentRecord, JournalEntry } from '../../state/types.js';
import type { CliContext } from '../context.js';
import { EXIT, UsageError, type ExitCode } from '../exit-codes.js';
import { formatTable, formatTime, shortHash } from '../format.js';
import { formatImages } from './status.js';

export interface HistoryCommandOptions {
  verbose?: boolean;
  limit?: number;
}

interface DeploymentView extends DeploymentRecord {
  journal?: JournalEntry[];
  log?: string;
}

/** `berth history STACK`: deployments (journal and log with --verbose), health history, bad marks. */
export async function historyCommand(
  ctx: CliContext,
  stack: string,
  options: HistoryCommandOptions,
): Promise<ExitCode> {
  const app = await ctx.openReader();
  const limit = options.limit ?? 20;
  const record = app.store.getStack(stack);
  const deployments: DeploymentView[] = app.store.listDeployments(stack, limit);
  if (record === undefined && deployments.length === 0) {
    throw new UsageError(`berth knows no stack named ${stack}`, { stack });
  }
  if (options.verbose === true) {
    for (const d of deployments) {
      d.journal = app.store.getJournal(d.id);
      d.log = app.store.getLog(d.id);
    }
  }
  const health = app.store.healthHistory(stack, limit);
  const bad = app.store.listBad(stack);

  // A stack recorded before there were several sources came from the single `source:`.
  const source = record === undefined ? undefined : (record.source ?? DEFAULT_SOURCE);
  const view = { stack, ...(source === undefined ? {} : { source }) };
  ctx.out.result({ ...view, deployments, health, badVersions: bad }, () => {
    const from = source === undefined || source === DEFAULT_SOURCE ? '' : ` (source ${source})`;
    const parts: string[] = [`deployments of ${stack}${from}`];
    if (deployments.length === 0) parts.push('  none');
    else if (options.verbose === true) parts.push(...deployments.map(formatVerbose));
    else {
      parts.push(
        formatTable(
          ['ID', 'STARTED', 'METHOD', 'TRIGGER', 'VERSION', 'STATE', 'RESULT', 'MESSAGE'],
          deployments.map((d) => [
            d.id,
            formatTime(d.startedAt),
            d.method,
            d.trigger,
            transition(d),
            d.state,
            d.result,
            d.message,
          ]),
        ),
      );
      parts.push(
        ...formatImages(
          'images pinned by the deployed versions',
          'VERSION',
          versionsOf(deployments),
        ),
      );
    }
    parts.push('', 'health');
    if (health.length === 0) parts.push('  none');
    else {
      parts.push(
        formatTable(
          ['AT', 'VERSION', 'COMMIT', 'HEALTH', 'DETAIL'],
          health.map((h) => [
            formatTime(h.at),
            shortHash(h.version),
            shortHash(h.commit, 7),
            h.health,
            h.detail,
          ]),
        ),
      );
    }
    if (bad.length > 0) {
      parts.push('', 'versions marked bad (berth unmark STACK [VERSION] clears them)');
      parts.push(
        formatTable(
          ['VERSION', 'COMMIT', 'AT', 'REASON'],
          bad.map((b) => [
            shortHash(b.version),
            shortHash(b.commit, 7),
            formatTime(b.at),
            b.reason,
          ]),
        ),
      );
    }
    return parts.join('\n');
  });
  return EXIT.ok;
}

/** Each version once, newest first: the image pins belong to the version, not the deployment. */
function versionsOf(
  deployments: DeploymentRecord[],
): { label: string; images?: Record<string, string> }[] {
  const seen = new Set<string>();
  return deployments.flatMap((d) => {
    if (d.images === undefined || seen.has(d.version)) return [];
    seen.add(d.version);
    return [{ label: shortHash(d.version) ?? '-', images: d.images }];
  });
}

function transition(d: DeploymentRecord): string {
  const to = shortHash(d.version) ?? '-';
  return d.previousVersion === undefined ? to : `${shortHash(d.previousVersion)}→${to}`;
}

function formatVerbose(d: DeploymentView): string {
  const lines = [
    `#${d.id} ${formatTime(d.startedAt) ?? ''} ${d.method} (${d.trigger}) ${transition(d)} @ ${shortHash(d.commit, 7) ?? '-'}: ${
      d.result ?? d.state
    }${d.message === undefined ? '' : ` — ${d.message}`}`,
  ];
  for (const [image, digest] of Object.entries(d.images ?? {}).sort(([a], [b]) =>
    a.localeCompare(b),
  ))
    lines.push(`  image ${image}@${digest}`);
  if (d.journal !== undefined && d.journal.length > 0) {
    lines.push('  journal:');
    lines.push(
      formatTable(
        ['SEQ', 'AT', 'STEP', 'DETAIL'],
        d.journal.map((j) => [j.seq, formatTime(j.at), j.step, j.detail]),
      )
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n'),
    );
  }
  if (d.log !== undefined && d.log.trim() !== '') {
    lines.push('  log:');
    lines.push(
      ...d.log
        .trimEnd()
        .split('\n')
        .map((l) => `    | ${l}`),
    );
  }
  return lines.join('\n');
}
