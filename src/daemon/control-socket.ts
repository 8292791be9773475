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
  type ControlRequest,
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
  for (const name of Object.keys(ControlRequests) as ControlRoute[]) {
    app.post(`/v1/${name}`, async (c) => {
      const request = route(name, await c.req.json().catch(() => undefined));
      if (typeof request === 'string') {
        const error = new BerthError('InvalidRequest', `invalid ${name} request: ${request}`);
        return c.json({ error: errorToJson(error) } satisfies ControlLine, 400);
      }
      logger.info({ route: name, by: request.by }, 'control request');
      c.header('content-type', 'application/x-ndjson');
      return stream(c, async (out) => {
        const write = (line: ControlLine): void => void out.write(`${JSON.stringify(line)}\n`);
        try {
          write({ result: await request.run(ops, (progress) => write({ progress })) });
        } catch (err) {
          write({ error: errorToJson(err) });
        }
      });
    });
  }
  return app;
}

type Handler<R extends ControlRoute> = (
  ops: Operations,
  request: ControlRequest<R>,
  onProgress: ProgressListener,
) => Promise<unknown>;

/** What each route runs, and the JSON it answers with. */
const HANDLERS: { [R in ControlRoute]: Handler<R> } = {
  reconcile: async (ops, req, onProgress) =>
    passToJson(await ops.reconcile({ ...req, onProgress })),
  rollback: async (ops, req) => outcomeToJson(await ops.rollback(req.stack, req.trigger, req.to)),
  down: async (ops, req) => outcomeToJson(await ops.down(req.stack, req.trigger)),
  suspend: (ops, req) => ops.suspend(req.stack, req.trigger),
  resume: (ops, req) => ops.resume(req.stack, req.trigger),
  unmark: (ops, req) => ops.unmark(req.stack, req.version, req.trigger),
};

interface Routed {
  by: string;
  run(ops: Operations, onProgress: ProgressListener): Promise<unknown>;
}

/** The body checked once against its route's schema; the problem, when it does not fit. */
function route<R extends ControlRoute>(name: R, body: unknown): Routed | string {
  const parsed = ControlRequests[name].safeParse(body);
  if (!parsed.success) return parsed.error.message;
  const request = parsed.data as ControlRequest<R>;
  return {
    by: request.trigger.by,
    run: (ops, onProgress) => HANDLERS[name](ops, request, onProgress),
  };
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
