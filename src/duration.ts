import { z } from 'zod';

/**
 * Durations as Compose and berth's config write them: Go's syntax ("1m30s", "500ms", "2h")
 * or a bare number of seconds. Returned in milliseconds.
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;

/** Parses a duration, or returns undefined when the text is not one. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number')
    return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  let total = 0;
  PART.lastIndex = 0;
  let consumed = 0;
  for (let match = PART.exec(text); match !== null; match = PART.exec(text)) {
    total += Number(match[1]) * (UNIT_MS[match[2] ?? 's'] ?? 0);
    consumed = PART.lastIndex;
  }
  return consumed === text.length ? Math.round(total * 1000) / 1000 : undefined;
}

/** Formats milliseconds the short way people write them: 1500 -> "1.5s", 120000 -> "2m". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  if (minutes < 60) return seconds === 0 ? `${minutes}m` : `${minutes}m${seconds}s`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? `${hours}h` : `${hours}h${rest}m`;
}

/** Node keeps timer delays in a signed 32-bit int: a longer delay fires after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The longest duration a user may set; a round figure below MAX_TIMER_MS (~24.8 days). */
export const MAX_DURATION_MS = 576 * 3_600_000;

export const DURATION_TOO_LONG = 'must be at most 576h (24 days)';

/** A delay Node's timers keep: negative and NaN become 0, anything too long MAX_TIMER_MS. */
export function timerDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(ms, MAX_TIMER_MS);
}

/** Parses a duration a user set; an error message when it is not one or is too long. */
export function parseBoundedDuration(value: string | number): { ms: number } | { error: string } {
  const ms = parseDuration(value);
  if (ms === undefined) {
    return {
      error: `expected a duration like 30s, 2m or 1h30m (or a number of seconds), got ${JSON.stringify(value)}`,
    };
  }
  return ms > MAX_DURATION_MS ? { error: DURATION_TOO_LONG } : { ms };
}

/**
 * Every duration a user sets (config, deploy settings), parsed to milliseconds and bounded, so
 * no timer built from one can overflow.
 */
export const BoundedDuration = z.unknown().transform((value, ctx): number => {
  const parsed =
    typeof value === 'string' || typeof value === 'number'
      ? parseBoundedDuration(value)
      : { error: `expected a duration like 30s, 2m or 1h30m, got ${JSON.stringify(value)}` };
  if ('error' in parsed) {
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  }
  return parsed.ms;
});
