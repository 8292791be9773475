import type { BerthConfig, SourceEntry } from '../config/load.js';
import { DEFAULT_SCHEDULE } from '../config/schema.js';
import type { SourceSyncStatus } from '../control/effects.js';
import type { SourceView } from '../server/control.js';
import { trackedRefOf } from '../source/index.js';
import type { StackRecord } from '../state/types.js';

/** The source a stack recorded before berth had several sources belongs to. */
const LEGACY_SOURCE = 'default';

/** When a source syncs: its own schedule, else the top-level one, else the daemon's default. */
export function scheduleOf(entry: SourceEntry, config: BerthConfig): string {
  return entry.schedule ?? config.schedule ?? DEFAULT_SCHEDULE;
}

/**
 * The sources by schedule: one cron per distinct expression, so sources that share one sync in
 * one pass (one look at Docker) instead of one pass each.
 */
export function sourcesBySchedule(config: BerthConfig): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const entry of config.sources) {
    const schedule = scheduleOf(entry, config);
    groups.set(schedule, [...(groups.get(schedule) ?? []), entry.name]);
  }
  return groups;
}

/** A URL without its user part (`https://user:token@host/x` → `https://host/x`). */
export function withoutCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

/** A git source's URL without credentials, or a local source's folder. */
function locationOf(entry: SourceEntry): string | undefined {
  const settings = entry.source;
  if (settings.kind === 'git') return withoutCredentials(settings.git.url);
  return settings.kind === 'local' ? settings.path : undefined;
}

/** Each configured source with its last sync and how many recorded stacks it holds. */
export function sourceViews(
  config: BerthConfig,
  status: readonly SourceSyncStatus[],
  stacks: readonly StackRecord[],
): SourceView[] {
  const counts = new Map<string, number>();
  for (const record of stacks) {
    const source = record.source ?? LEGACY_SOURCE;
    counts.set(source, (counts.get(source) ?? 0) + 1);
  }
  const synced = new Map(status.map((s) => [s.name, s]));
  return config.sources.map((entry) => {
    const last = synced.get(entry.name);
    const url = locationOf(entry);
    return {
      name: entry.name,
      kind: entry.source.kind,
      ...(url === undefined ? {} : { url }),
      schedule: scheduleOf(entry, config),
      tracked: trackedRefOf(entry.source),
      ...(last === undefined ? {} : { lastSync: lastSyncOf(last) }),
      stacks: counts.get(entry.name) ?? 0,
    };
  });
}

function lastSyncOf(status: SourceSyncStatus): NonNullable<SourceView['lastSync']> {
  const { name: _name, ...rest } = status;
  return rest;
}
