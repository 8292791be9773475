import path from 'node:path';
import type { BerthConfig } from '../../config/index.js';
import type { Logger } from '../../log.js';
import { createServerApp } from '../../server/app.js';
import type { ServerControl } from '../../server/control.js';
import type { Metrics } from '../../server/metrics.js';
import { createDeliveryLog } from '../../server/replay.js';
import { resolveServerSecrets, type ResolvedServerConfig } from '../../server/schema.js';
import { startServer, type RunningServer } from '../../server/serve.js';

/** The HTTP listener (webhooks, API, metrics, /healthz) as a trigger the daemon starts and swaps. */
export interface HttpTrigger {
  /** Reads the config's `…File` secrets; throws a ConfigError when one cannot be read. */
  resolve(config: BerthConfig): Promise<ResolvedServerConfig | undefined>;
  /** Listens with `resolved`; an unchanged config keeps the listener as it is. */
  apply(resolved: ResolvedServerConfig | undefined): Promise<void>;
  address(): { host: string; port: number } | undefined;
  close(): Promise<void>;
}

export function createHttpTrigger(options: {
  control: ServerControl;
  metrics: Metrics;
  logger: Logger;
}): HttpTrigger {
  let server: RunningServer | undefined;
  let key = '';
  // Outlives the listener, so a config reload does not let old deliveries be replayed.
  const deliveryLog = createDeliveryLog();

  async function close(): Promise<void> {
    const current = server;
    server = undefined;
    key = '';
    await current?.close();
  }

  return {
    async resolve(config) {
      if (config.server === undefined) return undefined;
      const baseDir = config.file === undefined ? undefined : path.dirname(config.file);
      return resolveServerSecrets(config.server, { baseDir, file: config.file });
    },
    async apply(resolved) {
      const next = JSON.stringify(resolved ?? null);
      if (next === key && (server !== undefined) === (resolved !== undefined)) return;
      await close();
      key = next;
      if (resolved === undefined) return;
      const app = createServerApp({ ...options, config: resolved, deliveryLog });
      server = await startServer(app, resolved.listen);
      options.logger.info({ host: server.host, port: server.port }, 'listening');
    },
    address: () => (server === undefined ? undefined : { host: server.host, port: server.port }),
    close,
  };
}
