/**
 * Pure formatting helpers for human output: tables, short hashes, relative times.
 * No printing here; src/cli/output.ts is the only place that writes to the terminal.
 */
import { BerthError, ConfigError, describeError, type ErrorPlace } from '../errors.js';

export type Cell = string | number | undefined;

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function formatTable(headers: string[], rows: Cell[][]): string {
  const text = [headers, ...rows].map((row) =>
    row.map((cell) => (cell === undefined ? '-' : String(cell))),
  );
  const widths = headers.map((_, col) => Math.max(...text.map((row) => (row[col] ?? '').length)));
  return text
    .map((row) =>
      row
        .map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The first 12 hex digits, like git's and Docker's short IDs. */
export function shortHash(hash: string | undefined, length = 12): string | undefined {
  return hash === undefined || hash === '' ? undefined : hash.slice(0, length);
}

/** "3m ago", "2h ago", "5d ago"; absolute ISO date beyond a month. */
export function relativeTime(
  iso: string | undefined,
  now: number = Date.now(),
): string | undefined {
  if (iso === undefined) return undefined;
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const seconds = Math.round((now - at) / 1000);
  if (seconds < 0) return iso;
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ago`;
  const days = Math.floor(hours / 24);
  if (days < 31) return `${days}d ago`;
  return new Date(at).toISOString();
}

/** An ISO time as "2026-01-10 12:00:05" (UTC), shorter to read in tables. */
export function formatTime(iso: string | undefined): string | undefined {
  if (iso === undefined) return undefined;
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? iso : at.toISOString().slice(0, 19).replace('T', ' ');
}

/** "version @ commit" with both shortened, or undefined when there is no version. */
export function formatVersionRef(
  ref: { version: string; commit: string } | undefined,
): string | undefined {
  if (ref === undefined) return undefined;
  const commit = shortHash(ref.commit, 7);
  return commit === undefined ? shortHash(ref.version) : `${shortHash(ref.version)} @ ${commit}`;
}

/** "file compose.yaml, stack web, service api, field ports" — only the parts that are known. */
export function formatPlace(place: ErrorPlace): string {
  const parts: string[] = [];
  if (place.file !== undefined) parts.push(`file ${place.file}`);
  if (place.stack !== undefined) parts.push(`stack ${place.stack}`);
  if (place.service !== undefined) parts.push(`service ${place.service}`);
  if (place.field !== undefined) parts.push(`field ${place.field}`);
  return parts.join(', ');
}

/** One or more lines a person reads: the message, where, and every config problem. */
export function formatError(err: unknown): string {
  if (err instanceof ConfigError) {
    // The message repeats the problems on one line; a person reads them one per line.
    const count = `${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}`;
    const file = err.place.file === undefined ? '' : ` in ${err.place.file}`;
    return [
      `error: invalid configuration${file} (${count})`,
      ...err.problems.map((p) => `  - ${p}`),
    ].join('\n');
  }
  const lines = [`error: ${describeError(err)}`];
  if (err instanceof BerthError) {
    const place = formatPlace(err.place);
    if (place !== '') lines.push(`  at ${place}`);
  }
  return lines.join('\n');
}

export { errorToJson, type ErrorJson } from '../control/protocol.js';
