import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Env } from 'hono/types';
import { ConfigError, BerthError } from '../errors.js';
import { parseListen, type ListenAddress } from './schema.js';

export interface RunningServer {
  host: string;
  /** The bound port: the real one when `listen` asked for port 0. */
  port: number;
  /** Stops accepting, drops idle keep-alive connections and waits for the rest to finish. */
  close(): Promise<void>;
}

/** Serves the app on `listen` (`host:port` or parsed); resolves once the socket is bound. */
export async function startServer<E extends Env>(
  app: Hono<E>,
  listen: string | ListenAddress,
): Promise<RunningServer> {
  const address = typeof listen === 'string' ? parseListen(listen) : listen;
  if (address === undefined) {
    throw new ConfigError(`invalid listen address ${listen as string}`, [
      'server.listen: expected host:port',
    ]);
  }
  return new Promise<RunningServer>((resolvePromise, reject) => {
    // Only HTTP/1 is created here, so the node:http Server type holds.
    const server = serve(
      { fetch: app.fetch, hostname: address.host, port: address.port },
      (info: AddressInfo) => {
        server.off('error', onStartError);
        resolvePromise({
          host: address.host,
          port: info.port,
          close: () => closeServer(server),
        });
      },
    ) as Server;
    function onStartError(err: Error): void {
      reject(
        new BerthError('ListenFailed', `cannot listen on ${address?.host}:${address?.port}`, {
          cause: err,
        }),
      );
    }
    server.once('error', onStartError);
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolvePromise, reject) => {
    server.close((err) => (err === undefined ? resolvePromise() : reject(err)));
    server.closeIdleConnections();
  });
}
