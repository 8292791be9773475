import { loadConfig, type BerthConfig } from '../config/index.js';
import { createLogger, type Logger } from '../log.js';
import type { App } from '../main.js';
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

/** What a command gets: output, a logger, and lazy access to the config and the app. */
export interface CliContext {
  out: Output;
  logger: Logger;
  options: CommonOptions;
  env: NodeJS.ProcessEnv;
  loadConfig(): Promise<BerthConfig>;
  /** Builds the app once; closed when the command ends. */
  openApp(): Promise<App>;
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
  let app: App | undefined;

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
    async openApp() {
      if (app !== undefined) return app;
      // Loaded on first use: commands that fail on their arguments or config never pay for it.
      const { createApp } = await import('../main.js');
      app = createApp(await load(), { logger });
      return app;
    },
    async close() {
      out.endProgress();
      await app?.close();
    },
  };
}
