import { loadConfig } from '../../config/index.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';

/** Why the daemon stopped: the signal's name. */
function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/**
 * `berth daemon`: holds the data dir and reconciles on a schedule and on demand until SIGTERM
 * or SIGINT, then shuts down gracefully and exits 0. A second daemon (or any berth process
 * already holding the data dir) makes it exit 2 naming the holder. Logs JSON to stderr at the
 * config's level (info by default).
 */
export async function daemonCommand(
  ctx: CliContext,
  options: { waitMs?: number },
): Promise<ExitCode> {
  const config = await ctx.loadConfig();
  const level = ctx.options.logLevel ?? ctx.env.BERTH_LOG_LEVEL ?? config.log.level;
  // The CLI's logger stays quiet for tables; a daemon has only its log to talk through.
  const logger = ctx.logger.child({}, { level });
  const { createDaemon } = await import('../../daemon/daemon.js');
  const signal = waitForSignal();
  const daemon = createDaemon({
    config,
    logger,
    reloadConfig: () => loadConfig({ file: config.file ?? ctx.options.config, env: ctx.env }),
    ...(options.waitMs === undefined ? {} : { lockWaitMs: options.waitMs }),
  });
  await daemon.start();
  const received = await signal;
  logger.info({ signal: received }, 'shutdown requested');
  await daemon.stop();
  return EXIT.ok;
}
