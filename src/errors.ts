import type { Reason } from './reasons.js';

/**
 * berth's typed errors. Every error carries a PascalCase `reason` a program can switch on,
 * the place it is about (file, stack, service, field) and the underlying `cause`.
 * Only the CLI turns them into exit codes and messages.
 */
export interface ErrorPlace {
  file?: string;
  stack?: string;
  service?: string;
  field?: string;
}

export class BerthError extends Error {
  readonly reason: Reason;
  readonly place: ErrorPlace;

  constructor(
    reason: Reason,
    message: string,
    options: { cause?: unknown; place?: ErrorPlace } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.reason = reason;
    this.place = options.place ?? {};
  }
}

/** Invalid berth configuration (config file, env overrides). Exit code 2. */
export class ConfigError extends BerthError {
  readonly problems: string[];
  constructor(
    message: string,
    problems: string[],
    options: { cause?: unknown; file?: string } = {},
  ) {
    super('ConfigInvalid', message, { cause: options.cause, place: { file: options.file } });
    this.problems = problems;
  }
}

/** A compose file berth cannot load: names the file, the service and the field. */
export class ComposeError extends BerthError {
  constructor(
    reason: Reason,
    message: string,
    options: { cause?: unknown; place?: ErrorPlace } = {},
  ) {
    super(reason, message, options);
  }
}

/** Invalid deploy settings of a stack. */
export class SettingsError extends BerthError {}

/** The Docker engine refused or failed an operation. `transient` errors are worth a retry. */
export class EngineError extends BerthError {
  readonly transient: boolean;
  constructor(
    reason: Reason,
    message: string,
    options: { cause?: unknown; place?: ErrorPlace; transient?: boolean } = {},
  ) {
    super(reason, message, options);
    this.transient = options.transient ?? false;
  }
}

/** Git or local source failures (fetch, auth, missing ref). */
export class SourceError extends BerthError {
  readonly transient: boolean;
  constructor(
    reason: Reason,
    message: string,
    options: { cause?: unknown; place?: ErrorPlace; transient?: boolean } = {},
  ) {
    super(reason, message, options);
    this.transient = options.transient ?? true;
  }
}

/** Stack discovery and versioning problems (bad name, duplicate, escaping symlink). */
export class StackError extends BerthError {}

/** State database or data directory failures. */
export class StateError extends BerthError {}

/** A hook script failed, timed out or could not start. */
export class HookError extends BerthError {}

/** A command line or request that names something that does not exist or combines options wrongly. */
export class UsageError extends BerthError {
  constructor(message: string, options: { stack?: string } = {}) {
    super('UsageInvalid', message, { place: { stack: options.stack } });
  }
}

/** Formats an error and its cause chain on one line, for logs and CLI output. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(typeof current === 'string' ? current : JSON.stringify(current));
      break;
    }
  }
  return parts.join(': ');
}

/** A Docker hiccup or an unreachable remote: says nothing about the version; worth a retry. */
export function isTransient(err: unknown): boolean {
  return (err instanceof EngineError || err instanceof SourceError) && err.transient;
}

/** Wraps anything thrown into a BerthError for results and records; BerthErrors pass unchanged. */
export function asBerthError(err: unknown, reason: Reason): BerthError {
  if (err instanceof BerthError) return err;
  return new BerthError(reason, describeError(err), { cause: err });
}
