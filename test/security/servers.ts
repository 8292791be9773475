import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * A git server over http on 127.0.0.1 (`git http-backend` as CGI) that wants HTTP basic auth
 * with `token`, so a test can give berth a git token that is really used.
 */
export class GitHttpServer {
  /** Requests refused for lacking the token. */
  refused = 0;
  /** Requests that carried the token. */
  authorized = 0;
  private constructor(
    private readonly server: Server,
    private readonly port: number,
  ) {}

  static async start(repoRoot: string, token: string): Promise<GitHttpServer> {
    const expected = `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
    const server = createServer();
    const port = await listen(server);
    const git = new GitHttpServer(server, port);
    server.on('request', (req, res) => {
      if (req.headers.authorization !== expected) {
        git.refused++;
        res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end();
        return;
      }
      git.authorized++;
      cgi(repoRoot, req, res);
    });
    return git;
  }

  url(repo: string): string {
    return `http://127.0.0.1:${this.port}/${path.basename(repo)}`;
  }

  close(): Promise<void> {
    return close(this.server);
  }
}

function cgi(repoRoot: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const header = (name: string): string => {
    const value = req.headers[name];
    return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
  };
  const child = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: repoRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method ?? 'GET',
      CONTENT_TYPE: header('content-type'),
      HTTP_CONTENT_ENCODING: header('content-encoding'),
      GIT_PROTOCOL: header('git-protocol'),
      REMOTE_ADDR: '127.0.0.1',
      REMOTE_USER: 'berth',
      ...(header('content-length') === '' ? {} : { CONTENT_LENGTH: header('content-length') }),
    },
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let started = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (started) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    started = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
      const at = line.indexOf(':');
      const name = line.slice(0, at).trim();
      const value = line.slice(at + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else res.setHeader(name, value);
    }
    res.writeHead(status);
    res.write(head.subarray(end + 4));
  });
  child.on('close', () => res.end());
}

export interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A notification target on 127.0.0.1 that keeps every request: path, headers and body. */
export class RecordingSink {
  readonly received: Received[] = [];
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<RecordingSink> {
    const server = createServer();
    const port = await listen(server);
    const sink = new RecordingSink(server, port);
    server.on('request', (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        sink.received.push({ path: req.url ?? '', headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    return sink;
  }

  close(): Promise<void> {
    return close(this.server);
  }
}
