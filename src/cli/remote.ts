import { request } from 'node:http';
import path from 'node:path';
import type { Operations } from '../control/control-plane.js';
import {
  ControlLine,
  ResultShapes,
  errorFromJson,
  outcomeFromJson,
  passFromJson,
  socketPath,
  type ControlRequest,
  type ControlRoute,
} from '../control/protocol.js';
import { BerthError } from '../errors.js';
import type { PassResult, ProgressListener, StackOutcome } from '../reconciler/types.js';

/** Sends one request over the control socket; resolves with its result line. */
function call<R extends ControlRoute>(
  file: string,
  route: R,
  body: ControlRequest<R>,
  onProgress?: ProgressListener,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: file,
        path: `/v1/${route}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let buffer = '';
        let settled = false;
        const settle = (line: ControlLine): void => {
          if ('progress' in line) onProgress?.(line.progress);
          else if ('error' in line) {
            settled = true;
            reject(errorFromJson(line.error));
          } else {
            settled = true;
            resolve(ResultShapes[route].parse(line.result));
          }
        };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const text = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            if (text.trim() !== '') settle(ControlLine.parse(JSON.parse(text)));
          }
        });
        res.on('end', () => {
          if (buffer.trim() !== '') settle(ControlLine.parse(JSON.parse(buffer)));
          if (!settled) {
            reject(
              new BerthError(
                'ControlUnavailable',
                `the daemon closed the control socket before answering ${route}`,
              ),
            );
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', (err) =>
      reject(
        new BerthError('ControlUnavailable', `cannot reach the daemon at ${file}`, { cause: err }),
      ),
    );
    req.end(JSON.stringify(body));
  });
}

/** Whether a daemon answers on the data dir's control socket. */
export async function pingDaemon(dataDir: string, timeoutMs = 2_000): Promise<boolean> {
  return (await probeDaemon(dataDir, timeoutMs)).ok;
}

export type DaemonProbe = { ok: true } | { ok: false; problem: string };

/**
 * Asks the daemon of `dataDir` for `GET /v1/ping` within `timeoutMs` (the whole exchange,
 * not only the idle time), and says why when it does not answer.
 */
export function probeDaemon(dataDir: string, timeoutMs: number): Promise<DaemonProbe> {
  const file = socketPath(dataDir);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (probe: DaemonProbe): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(probe);
    };
    const req = request({ socketPath: file, path: '/v1/ping', method: 'GET' }, (res) => {
      res.resume();
      settle(
        res.statusCode === 200
          ? { ok: true }
          : { ok: false, problem: `the daemon at ${file} answered HTTP ${res.statusCode ?? '?'}` },
      );
    });
    const timer = setTimeout(
      () =>
        settle({
          ok: false,
          problem: `the daemon at ${file} did not answer within ${timeoutMs} ms`,
        }),
      timeoutMs,
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      settle({ ok: false, problem: unreachable(file, err) }),
    );
    req.end();
  });
}

function unreachable(file: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return `no daemon is running for data dir ${path.dirname(file)} (no control socket ${file})`;
    case 'ECONNREFUSED':
      return `no daemon is listening on ${file} (a daemon that ended left it behind)`;
    case 'EACCES':
      return `cannot open ${file}: permission denied (run as the daemon's user)`;
    default:
      return `cannot reach the daemon at ${file}: ${err.code ?? err.message}`;
  }
}

/** The daemon's control plane, reached over its control socket. */
export function remoteOperations(dataDir: string): Operations {
  const file = socketPath(dataDir);
  return {
    async reconcile(options): Promise<PassResult> {
      const body = {
        trigger: options.trigger ?? { by: 'cli' },
        ...(options.dryRun === undefined ? {} : { dryRun: options.dryRun }),
        ...(options.stacks === undefined ? {} : { stacks: options.stacks }),
        ...(options.sources === undefined ? {} : { sources: options.sources }),
      };
      return passFromJson(
        (await call(file, 'reconcile', body, options.onProgress)) as Parameters<
          typeof passFromJson
        >[0],
      );
    },
    async rollback(stack, trigger, to): Promise<StackOutcome> {
      const result = await call(file, 'rollback', {
        stack,
        trigger,
        ...(to === undefined ? {} : { to }),
      });
      return outcomeFromJson(result as Parameters<typeof outcomeFromJson>[0]);
    },
    async down(stack, trigger): Promise<StackOutcome> {
      return outcomeFromJson(
        (await call(file, 'down', { stack, trigger })) as Parameters<typeof outcomeFromJson>[0],
      );
    },
    async suspend(stack, trigger) {
      return (await call(file, 'suspend', { stack, trigger })) as Awaited<
        ReturnType<Operations['suspend']>
      >;
    },
    async resume(stack, trigger) {
      return (await call(file, 'resume', { stack, trigger })) as Awaited<
        ReturnType<Operations['resume']>
      >;
    },
    async unmark(stack, version, trigger) {
      const body = { stack, trigger, ...(version === undefined ? {} : { version }) };
      return (await call(file, 'unmark', body)) as Awaited<ReturnType<Operations['unmark']>>;
    },
  };
}
