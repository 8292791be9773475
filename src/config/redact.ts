/** Keys whose values are secrets, wherever they appear (tokenFile is a path, not a secret). */
const SECRET_KEY = /^(?:token|password|secret)$|(?:Token|Password|Secret)$/;

export const REDACTED = '[redacted]';

/** An age private key (`secrets.age.keys`), redacted wherever it turns up. */
const AGE_SECRET_KEY = /AGE-SECRET-KEY-1/i;

/**
 * A deep copy of a config (or any part of it) safe to print or log: secret values are
 * replaced and credentials in URLs (`https://user:pass@host`) are blanked.
 */
export function redactConfig<T>(config: T): T {
  return redact(config) as T;
}

function redact(value: unknown): unknown {
  if (typeof value === 'string' && AGE_SECRET_KEY.test(value)) return REDACTED;
  if (typeof value === 'string')
    return value.replace(/^([a-z][\w+.-]*:\/\/)[^/@]*@/i, `$1${REDACTED}@`);
  if (Array.isArray(value)) return value.map(redact);
  if (typeof value !== 'object' || value === null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    copy[key] = SECRET_KEY.test(key) && inner !== undefined ? REDACTED : redact(inner);
  }
  return copy;
}
