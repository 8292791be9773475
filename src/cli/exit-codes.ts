import { CommanderError } from 'commander';
import { BerthError, ConfigError, UsageError } from '../errors.js';

export { UsageError };

/**
 * berth's exit codes: 0 converged, 1 a stack failed or was rolled back (or an operation on
 * Docker, git or the state failed), 2 the command line or the configuration is wrong, or the
 * data dir is held by another berth process.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Reasons that mean "asked wrongly" rather than "failed": exit 2. */
const USAGE_REASONS: ReadonlySet<string> = new Set([
  'UsageInvalid',
  'StackNotFound',
  'VersionAmbiguous',
  'VersionPrefixInvalid',
  'DataDirLocked',
]);

/** The one place that turns errors into exit codes. */
export function exitCodeFor(err: unknown): ExitCode {
  // Commander exits 0 for help asked for, and non-zero for usage errors and for the help
  // it shows when no command was given.
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (err instanceof ConfigError || err instanceof UsageError) return EXIT.usage;
  if (err instanceof BerthError && USAGE_REASONS.has(err.reason)) return EXIT.usage;
  return EXIT.failed;
}
