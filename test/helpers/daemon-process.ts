import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOT, berthCommand } from './berth-bin.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** Polls `check` every `intervalMs` until it returns something other than undefined/false. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Parses a berth process's JSON log lines from stderr into `logs` as they arrive;
 * lines that are not JSON (CLI notes) are skipped. `onText` sees the raw text.
 */
export function followJsonLogs<T>(
  child: ChildProcess,
  logs: T[],
  onText?: (chunk: string) => void,
): void {
  let buffer = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    onText?.(chunk);
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as T);
      } catch {
        // Not a log record (a CLI note).
      }
    }
  });
  child.stdout?.resume();
}

/** A `berth daemon` child process: the compiled CLI, JSON logs parsed from stderr. */
export class DaemonProcess {
  readonly logs: LogLine[] = [];
  stderr = '';
  private exit: Promise<number | null>;
  private constructor(readonly child: ChildProcess) {
    followJsonLogs(child, this.logs, (chunk) => {
      this.stderr += chunk;
    });
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static start(args: string[], env: NodeJS.ProcessEnv = {}): DaemonProcess {
    const berth = berthCommand(args);
    const child = spawn(berth.command, berth.args, {
      cwd: ROOT,
      env: { ...process.env, BERTH_LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new DaemonProcess(child);
  }

  log(msg: string): LogLine | undefined {
    return this.logs.find((l) => l.msg === msg);
  }

  waitForLog(msg: string, timeoutMs = 30_000, from = 0): Promise<LogLine> {
    return waitFor(
      () => this.logs.slice(from).find((l) => l.msg === msg),
      timeoutMs,
      `log "${msg}"; stderr so far:\n${this.stderr.slice(-3000)}`,
    );
  }

  /** The port of the newest `listening` record. */
  port(): number | undefined {
    const listening = this.logs.filter((l) => l.msg === 'listening').at(-1);
    return listening === undefined ? undefined : (listening.port as number);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 60_000): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exit;
    } finally {
      clearTimeout(timer);
    }
  }

  exited(): Promise<number | null> {
    return this.exit;
  }
}

/** A notification target on 127.0.0.1 that records every JSON body posted to it. */
export class NotificationSink {
  readonly events: { event: string; stack: string; [key: string]: unknown }[] = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<NotificationSink> {
    const server = createServer();
    const sink = new NotificationSink(server);
    server.on('request', (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        try {
          sink.events.push(JSON.parse(body) as NotificationSink['events'][number]);
        } catch {
          // Not JSON: ignored.
        }
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return sink;
  }

  url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/notify`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** `sha256=<hex>` HMAC of a body, as GitHub and berth's generic webhook sign it. */
export function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
