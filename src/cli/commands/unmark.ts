import type { CliContext } from '../context.js';
import { EXIT, UsageError, type ExitCode } from '../exit-codes.js';
import { shortHash } from '../format.js';

/**
 * `berth unmark STACK [VERSION]`: clear one bad mark (VERSION may be a unique prefix, as
 * status and history print them) or all of the stack's.
 */
export async function unmarkCommand(
  ctx: CliContext,
  stack: string,
  version: string | undefined,
): Promise<ExitCode> {
  const app = await ctx.openApp();
  const marks = app.store.listBad(stack);
  let target: string | undefined;
  if (version !== undefined) {
    const matches = marks.filter((m) => m.version.startsWith(version));
    if (matches.length === 0) {
      const known = marks.map((m) => shortHash(m.version)).join(', ');
      throw new UsageError(
        `stack ${stack} has no bad mark for version ${version}${known === '' ? '' : ` (marked: ${known})`}`,
        { stack },
      );
    }
    if (matches.length > 1) {
      throw new UsageError(
        `version ${version} matches ${matches.length} bad marks of ${stack}; give more digits`,
        {
          stack,
        },
      );
    }
    target = matches[0]!.version;
  }
  const cleared = app.store.unmark(stack, target);
  ctx.out.result({ stack, version: target, cleared }, () =>
    cleared === 0
      ? `${stack}: no versions marked bad`
      : `${stack}: cleared ${cleared} bad mark${cleared === 1 ? '' : 's'}${
          target === undefined ? '' : ` (${shortHash(target)})`
        }; the next pass may deploy ${cleared === 1 ? 'it' : 'them'} again`,
  );
  return EXIT.ok;
}
