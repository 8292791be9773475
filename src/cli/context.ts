import { loadConfig, type BerthConfig } from '../config/index.js';
import { createLogger, type Logger } from '../log.js';
import type { Reader } from '../main.js';
import type { Trigger } from '../reconciler/types.js';
import { createOutput, type Output } from './output.js';

/** Options every command takes. */
export interface CommonOptions {
  config?: string;
  json?: boolean;
  logLevel?: string;
}

export interface CliIo {
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
  env?: NodeJS.ProcessEnv;
}

/** What a command gets: output, a logger, and lazy access to the config and the state. */
export interface CliContext {
  out: Output;
  logger: Logger;
  options: CommonOptions;
  env: NodeJS.ProcessEnv;
  loadConfig(): Promise<BerthConfig>;
  /** The state read-only, Docker and the checkout as they are; closed when the command ends. */
  openReader(): Promise<Reader>;
  /** Who asked, as deployments and conditions record it: the CLI and the local user. */
  trigger(): Trigger;
  close(): Promise<void>;
}

/**
 * The CLI logs at `warn` unless asked otherwise: its output is the tables, and a pass's
 * info records would bury them. `--log-level` or BERTH_LOG_LEVEL turn them on.
 */
export const CLI_LOG_LEVEL = 'warn';

export function createCliContext(options: CommonOptions, io: CliIo = {}): CliContext {
  const env = io.env ?? process.env;
  const out = createOutput({ json: options.json === true, stdout: io.stdout, stderr: io.stderr });
  const logger = createLogger({
    level: options.logLevel ?? env.BERTH_LOG_LEVEL ?? CLI_LOG_LEVEL,
    destination: io.stderr,
  });
  let config: Promise<BerthConfig> | undefined;
  let reader: Reader | undefined;

  function load(): Promise<BerthConfig> {
    config ??= loadConfig({ file: options.config, env });
    return config;
  }

  return {
    out,
    logger,
    options,
    env,
    loadConfig: load,
    async openReader() {
      if (reader !== undefined) return reader;
      // Loaded on first use: commands that fail on their arguments or config never pay for it.
      const { openReader } = await import('../main.js');
      reader = openReader(await load(), { logger });
      return reader;
    },
    trigger() {
      const user = env.USER ?? env.LOGNAME;
      return { by: user === undefined || user === '' ? 'cli' : `cli:${user}` };
    },
    async close() {
      out.endProgress();
      await reader?.close();
    },
  };
}
