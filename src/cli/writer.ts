import type { Operations } from '../control/control-plane.js';
import type { App } from '../main.js';
import { DataDirLockedError, tryLockDataDir, type DataDirLock } from '../state/lock.js';
import type { CliContext } from './context.js';
import { pingDaemon, remoteOperations } from './remote.js';

/** How long a mutating command waits for the data dir when `--wait` is not given. */
export const DEFAULT_WAIT_MS = 10_000;
const POLL_MS = 100;

export interface Writer {
  ops: Operations;
  /** `local`: this process holds the data dir; `daemon`: the request goes over its socket. */
  via: 'local' | 'daemon';
  close(): Promise<void>;
}

/**
 * Where a mutating command runs. One process writes a data dir at a time: with a daemon
 * holding it, the command goes to the daemon over its control socket; with no holder, this
 * process takes the lock and runs the command itself; with another command holding it, this one
 * waits up to `waitMs` and then fails (exit 2) naming the holder.
 */
export async function openWriter(
  ctx: CliContext,
  command: string,
  waitMs: number,
): Promise<Writer> {
  const config = await ctx.loadConfig();
  const deadline = Date.now() + waitMs;
  for (;;) {
    const attempt = tryLockDataDir(config.dataDir, { role: 'cli', command });
    if (attempt.ok) return local(ctx, attempt.lock);
    if (attempt.holder?.role === 'daemon' && (await pingDaemon(config.dataDir))) {
      ctx.logger.debug(
        { pid: attempt.holder.pid },
        'data dir held by a daemon; sending the command to it',
      );
      return {
        ops: remoteOperations(config.dataDir),
        via: 'daemon',
        close: () => Promise.resolve(),
      };
    }
    if (Date.now() >= deadline)
      throw new DataDirLockedError(config.dataDir, attempt.holder, waitMs);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function local(ctx: CliContext, lock: DataDirLock): Promise<Writer> {
  let app: App;
  try {
    const { createApp } = await import('../main.js');
    app = await createApp(await ctx.loadConfig(), { logger: ctx.logger, lock });
  } catch (err) {
    lock.release();
    throw err;
  }
  return {
    ops: app.control,
    via: 'local',
    async close() {
      try {
        await app.close();
      } finally {
        lock.release();
      }
    },
  };
}

/** Runs `fn` with the data dir's writer, closed afterwards whatever happens. */
export async function withWriter<T>(
  ctx: CliContext,
  command: string,
  waitMs: number | undefined,
  fn: (writer: Writer) => Promise<T>,
): Promise<T> {
  const writer = await openWriter(ctx, command, waitMs ?? DEFAULT_WAIT_MS);
  try {
    return await fn(writer);
  } finally {
    await writer.close();
  }
}
