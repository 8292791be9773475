import { CommanderError } from 'commander';
import { BerthError, ConfigError } from '../errors.js';

/**
 * berth's exit codes: 0 converged, 1 a stack failed or was rolled back (or an operation on
 * Docker, git or the state failed), 2 the command line or the configuration is wrong.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A command line that names something that does not exist or combines options wrongly. */
export class UsageError extends BerthError {
  constructor(message: string, options: { stack?: string } = {}) {
    super('UsageInvalid', message, { place: { stack: options.stack } });
  }
}

/** The one place that turns errors into exit codes. */
export function exitCodeFor(err: unknown): ExitCode {
  // Commander exits 0 for help asked for, and non-zero for usage errors and for the help
  // it shows when no command was given.
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (err instanceof ConfigError || err instanceof UsageError) return EXIT.usage;
  return EXIT.failed;
}
