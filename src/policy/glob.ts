import path from 'node:path';

/**
 * The two kinds of pattern a policy holds. Host path globs (bindMounts, devices) work on
 * whole path segments, the way an operator reads `/srv/**`: `*` and `?` stay inside one
 * segment, `**` spans any number of them (none included, so `/srv/**` also allows `/srv`),
 * and the pattern `**` alone allows any value. Name patterns (capabilities, securityOpt) are
 * plain text where `*` and `?` match anything.
 */

/** The pattern that allows every value, host paths and device names alike. */
export const ANY = '**';

/** True when `pattern` is a host path glob a policy accepts: `**`, or absolute without `.`/`..`. */
export function isHostGlob(pattern: string): boolean {
  if (pattern === ANY) return true;
  if (!pattern.startsWith('/')) return false;
  return !pattern.split('/').some((segment) => segment === '.' || segment === '..');
}

/** True when the pattern has no wildcard: it names exactly one path. */
export function isLiteral(pattern: string): boolean {
  return !/[*?]/.test(pattern);
}

/** A host path in the one form patterns are matched against: normalized, no trailing slash. */
export function normalizeHostPath(value: string): string {
  const normalized = path.posix.normalize(value);
  return normalized.length > 1 && normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
}

/** Whether a host path (or a device name) is matched by a host path glob. */
export function matchesHostGlob(pattern: string, value: string): boolean {
  if (pattern === ANY) return true;
  if (!value.startsWith('/')) return false;
  return hostGlobRegExp(pattern).test(toSegments(normalizeHostPath(value)));
}

/** Whether `value` lies at or below `folder` (both absolute). */
export function isInside(value: string, folder: string): boolean {
  const child = normalizeHostPath(value);
  const parent = normalizeHostPath(folder);
  if (parent === '/') return child.startsWith('/');
  return child === parent || child.startsWith(`${parent}/`);
}

/** Whether a name (a capability, a security option) is matched by a name pattern. */
export function matchesName(pattern: string, value: string): boolean {
  const body = [...pattern]
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : escapeRegExp(char)))
    .join('');
  return new RegExp(`^${body}$`, 's').test(value);
}

const compiled = new Map<string, RegExp>();

/**
 * Segments are matched as "/a/b" strings, with the root written as "", so `**` can stand for
 * zero segments: `/**` matches "" (the root) and `/srv/**` matches "/srv".
 */
function hostGlobRegExp(pattern: string): RegExp {
  let regexp = compiled.get(pattern);
  if (regexp === undefined) {
    const segments = normalizeHostPath(pattern).split('/').slice(1).filter(Boolean);
    const body = segments
      .map((segment) =>
        segment === ANY
          ? '(?:/[^/]+)*'
          : `/${[...segment]
              .map((char) => (char === '*' ? '[^/]*' : char === '?' ? '[^/]' : escapeRegExp(char)))
              .join('')}`,
      )
      .join('');
    regexp = new RegExp(`^${body}$`, 's');
    compiled.set(pattern, regexp);
  }
  return regexp;
}

function toSegments(hostPath: string): string {
  return hostPath === '/' ? '' : hostPath;
}

function escapeRegExp(char: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(char) ? `\\${char}` : char;
}
