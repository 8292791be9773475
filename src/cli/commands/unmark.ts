import type { CliContext } from '../context.js';
import { EXIT, UsageError, type ExitCode } from '../exit-codes.js';
import { shortHash } from '../format.js';
import { withWriter } from '../writer.js';

/**
 * `berth unmark STACK [VERSION]`: clear one bad mark (VERSION may be a unique prefix, as
 * status and history print them) or all of the stack's.
 */
export async function unmarkCommand(
  ctx: CliContext,
  stack: string,
  version: string | undefined,
  options: { waitMs?: number },
): Promise<ExitCode> {
  const reader = await ctx.openReader();
  const target =
    version === undefined ? undefined : resolveMark(reader.store.listBad(stack), stack, version);
  const result = await withWriter(ctx, `unmark ${stack}`, options.waitMs, (w) =>
    w.ops.unmark(stack, target, ctx.trigger()),
  );
  const { cleared } = result;
  ctx.out.result({ stack, version: target, cleared }, () =>
    cleared === 0
      ? `${stack}: no versions marked bad`
      : `${stack}: cleared ${cleared} bad mark${cleared === 1 ? '' : 's'}${
          target === undefined ? '' : ` (${shortHash(target)})`
        }; the next pass may deploy ${cleared === 1 ? 'it' : 'them'} again`,
  );
  return EXIT.ok;
}

/** The full version of the one mark `prefix` names. */
function resolveMark(marks: { version: string }[], stack: string, prefix: string): string {
  const matches = marks.filter((m) => m.version.startsWith(prefix));
  if (matches.length === 0) {
    const known = marks.map((m) => shortHash(m.version)).join(', ');
    throw new UsageError(
      `stack ${stack} has no bad mark for version ${prefix}${known === '' ? '' : ` (marked: ${known})`}`,
      { stack },
    );
  }
  if (matches.length > 1) {
    throw new UsageError(
      `version ${prefix} matches ${matches.length} bad marks of ${stack}; give more digits`,
      { stack },
    );
  }
  return matches[0]!.version;
}
