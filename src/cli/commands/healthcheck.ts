import { socketPath } from '../../control/protocol.js';
import { describeError } from '../../errors.js';
import { explainConfigError } from '../config-hint.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { probeDaemon } from '../remote.js';

/** Docker runs a HEALTHCHECK every 30 s by default; an answer takes milliseconds. */
export const HEALTHCHECK_TIMEOUT_MS = 3_000;

/**
 * `berth healthcheck`: exit 0 when the daemon of the configured data dir answers on its control
 * socket, else 1 with one line saying why. Made for a container's HEALTHCHECK: it takes no lock,
 * writes nothing and never talks to Docker, and it never exits 2, which Docker reserves.
 */
export async function healthcheckCommand(ctx: CliContext): Promise<ExitCode> {
  let dataDir: string;
  try {
    dataDir = (await ctx.loadConfig()).dataDir;
  } catch (err) {
    return unhealthy(ctx, undefined, describeError(explainConfigError(err, lookup(ctx))));
  }
  const probe = await probeDaemon(dataDir, HEALTHCHECK_TIMEOUT_MS);
  if (!probe.ok) return unhealthy(ctx, dataDir, probe.problem);
  ctx.out.result({ ok: true, dataDir, socket: socketPath(dataDir) }, () => '');
  return EXIT.ok;
}

function unhealthy(ctx: CliContext, dataDir: string | undefined, problem: string): ExitCode {
  ctx.out.note(`berth healthcheck: ${problem}`);
  if (ctx.out.json) ctx.out.result({ ok: false, dataDir, problem }, () => '');
  return EXIT.failed;
}

function lookup(ctx: CliContext): { config?: string; env: NodeJS.ProcessEnv } {
  return { config: ctx.options.config, env: ctx.env };
}
