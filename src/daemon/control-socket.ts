import type { Server } from 'node:http';
import { chmod, rm } from 'node:fs/promises';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import type { Operations } from '../control/control-plane.js';
import {
  ControlRequests,
  errorToJson,
  outcomeToJson,
  passToJson,
  socketPath,
  type ControlLine,
  type ControlRoute,
} from '../control/protocol.js';
import { BerthError, ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ProgressListener } from '../reconciler/types.js';

/**
 * The control socket's HTTP app: each route runs one operation through the control plane and
 * streams its progress and its result (or error) as JSON lines.
 */
export function createControlSocketApp(ops: Operations, logger: Logger): Hono {
  const app = new Hono();
  app.get('/v1/ping', (c) => c.json({ pid: process.pid }));
  for (const route of Object.keys(ControlRequests) as ControlRoute[]) {
    app.post(`/v1/${route}`, async (c) => {
      const parsed = ControlRequests[route].safeParse(await c.req.json().catch(() => undefined));
      if (!parsed.success) {
        const error = new BerthError(
          'InvalidRequest',
          `invalid ${route} request: ${parsed.error.message}`,
        );
        return c.json({ error: errorToJson(error) } satisfies ControlLine, 400);
      }
      logger.info({ route, by: parsed.data.trigger.by }, 'control request');
      c.header('content-type', 'application/x-ndjson');
      return stream(c, async (out) => {
        const write = (line: ControlLine): void => void out.write(`${JSON.stringify(line)}\n`);
        try {
          write({ result: await run(ops, route, parsed.data, (progress) => write({ progress })) });
        } catch (err) {
          write({ error: errorToJson(err) });
        }
      });
    });
  }
  return app;
}

async function run(
  ops: Operations,
  route: ControlRoute,
  body: unknown,
  onProgress: ProgressListener,
): Promise<unknown> {
  switch (route) {
    case 'reconcile': {
      const req = ControlRequests.reconcile.parse(body);
      return passToJson(await ops.reconcile({ ...req, onProgress }));
    }
    case 'rollback': {
      const req = ControlRequests.rollback.parse(body);
      return outcomeToJson(await ops.rollback(req.stack, req.trigger, req.to));
    }
    case 'down': {
      const req = ControlRequests.down.parse(body);
      return outcomeToJson(await ops.down(req.stack, req.trigger));
    }
    case 'suspend':
    case 'resume': {
      const req = ControlRequests[route].parse(body);
      return ops[route](req.stack, req.trigger);
    }
    case 'unmark': {
      const req = ControlRequests.unmark.parse(body);
      return ops.unmark(req.stack, req.version, req.trigger);
    }
  }
}

/** sun_path holds 108 bytes on Linux, the terminating NUL included. */
const MAX_SOCKET_PATH = 107;

export interface ControlSocket {
  readonly path: string;
  /** Stops accepting; open requests get `graceMs` to answer (their operations end first). */
  close(graceMs?: number): Promise<void>;
}

/**
 * Serves the app on `<dataDir>/berth.sock`. Only the data dir's lock holder calls this, so a
 * socket file left by a killed daemon is its own to replace.
 */
export async function startControlSocket(dataDir: string, app: Hono): Promise<ControlSocket> {
  const file = socketPath(dataDir);
  if (Buffer.byteLength(file) > MAX_SOCKET_PATH) {
    throw new ConfigError(`the control socket path ${file} is too long`, [
      `dataDir: ${dataDir} is too long for a Unix socket inside it (at most ${MAX_SOCKET_PATH - 11} bytes)`,
    ]);
  }
  await rm(file, { force: true });
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(file, 0o600);
  return {
    path: file,
    close: (graceMs = 5_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
        void rm(file, { force: true }).catch(() => undefined);
      }),
  };
}
