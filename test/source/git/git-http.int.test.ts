import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SourceError, describeError } from '../../../src/errors.js';
import { createGitSource } from '../../../src/source/git/git-source.js';
import { capturingLogger, commit, createFixture, git, type Fixture } from './git-fixture.js';

const TOKEN = 'tok-3f9a1c77e2b04d51';
const BASIC = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');

/** Serves the fixture's bare repo through `git http-backend` (CGI), behind a token check. */
function gitHttpServer(projectRoot: string): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.headers.authorization !== `Basic ${BASIC}`) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end();
      req.resume();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: url.pathname,
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: 'x-access-token',
        REMOTE_ADDR: '127.0.0.1',
        GIT_CONFIG_NOSYSTEM: '1',
        HTTP_GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else res.setHeader(name, value);
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.on('close', () => res.end());
  });
}

let fx: Fixture;
let server: Server;
let url: string;

beforeAll(async () => {
  fx = createFixture('berth-http-');
  server = gitHttpServer(fx.root);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/remote.git`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  fx.cleanup();
});

describe('git source over http with a token', () => {
  it('clones and fetches with the right token, which is stored and logged nowhere', async () => {
    const { logger, output } = capturingLogger();
    const dir = path.join(fx.root, 'ok', 'repo');
    const src = createGitSource({ url, dir, auth: { token: TOKEN }, logger });

    const first = await src.sync();
    expect(first.commit).toBe(git(fx.bare, 'rev-parse', 'main'));
    const next = commit(fx.work, { 'new.txt': 'new' }, 'new');
    git(fx.work, 'push', '--quiet', 'origin', 'main');
    expect((await src.sync()).commit).toBe(next);

    const gitConfig = readFileSync(path.join(dir, '.git', 'config'), 'utf8');
    expect(gitConfig).toContain(url);
    for (const secret of [TOKEN, BASIC]) {
      expect(gitConfig).not.toContain(secret);
      expect(output()).not.toContain(secret);
    }
    expect(output()).toContain('source updated');
  });

  it('fails with a scrubbed SourceError on a wrong token and without one', async () => {
    const { logger, output } = capturingLogger();
    const wrong = 'wrong-secret-5d1e2a';
    for (const auth of [{ token: wrong }, undefined]) {
      const src = createGitSource({ url, dir: path.join(fx.root, 'bad', 'repo'), auth, logger });
      const err = await src.sync().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SourceError);
      expect(err).toMatchObject({ reason: 'AuthFailed', transient: false });
      const text = `${describeError(err)} ${JSON.stringify(err)} ${String((err as Error).stack)}`;
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(Buffer.from(`x-access-token:${wrong}`).toString('base64'));
    }
    expect(output()).not.toContain(wrong);
  });

  it('keeps the checkout and revision when the server becomes unreachable', async () => {
    const own = gitHttpServer(fx.root);
    await new Promise<void>((resolve) => own.listen(0, '127.0.0.1', resolve));
    const ownUrl = `http://127.0.0.1:${(own.address() as AddressInfo).port}/remote.git`;
    const dir = path.join(fx.root, 'down', 'repo');
    const { logger, output } = capturingLogger();
    const src = createGitSource({ url: ownUrl, dir, auth: { token: TOKEN }, logger });
    const rev = await src.sync();
    commit(fx.work, { 'unseen.txt': 'unseen' }, 'unseen');
    git(fx.work, 'push', '--quiet', 'origin', 'main');
    own.closeAllConnections();
    await new Promise((resolve) => own.close(resolve));

    const err = await src.sync().catch((e: unknown) => e);

    expect(err).toMatchObject({ name: 'SourceError', reason: 'FetchFailed', transient: true });
    // The first process of a sync asks the remote for the branch's commit.
    expect((err as Error).message).toMatch(/git ls-remote failed/);
    expect((err as Error).message).not.toContain(TOKEN);
    expect(await src.current()).toEqual(rev);
    expect(git(dir, 'status', '--porcelain', '--ignored')).toBe('');
    expect(output()).not.toContain(TOKEN);
  });
});
