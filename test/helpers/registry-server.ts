import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A real registry for the tests: the Distribution registry (Debian's docker-registry,
 * installed by scripts/ensure-registry.sh) on 127.0.0.1 with a free port, htpasswd (bcrypt)
 * auth, plain HTTP (Docker treats 127.0.0.0/8 as an insecure registry by default) and its
 * storage in a temp folder. One is started per run by the integration project's global setup
 * (test/helpers/global-setup.ts) and handed to test files through vitest's provide/inject.
 */

/** What the global setup hands the test files: plain data, as provide() needs. */
export interface RegistryInfo {
  /** `127.0.0.1:PORT`: the registry part of an image reference. */
  host: string;
  username: string;
  password: string;
  pid: number;
  /** The temp folder holding its config, htpasswd file, storage and log. */
  dir: string;
}

// Types only: this file runs in the global setup, where vitest itself may not be imported.
declare module 'vitest' {
  export interface ProvidedContext {
    berthRegistry: RegistryInfo | undefined;
  }
}

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

/** Starts a registry; a port taken between finding it and binding it is tried again. */
export async function startRegistry(): Promise<RegistryInfo> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-registry-'));
  const username = 'berth';
  const password = randomBytes(12).toString('hex');
  await writeFile(path.join(dir, 'htpasswd'), await htpasswd(username, password));
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const port = await freePort();
      const pid = await serve(dir, port);
      return { host: `127.0.0.1:${port}`, username, password, pid, dir };
    } catch (err) {
      lastError = err;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

/** Stops the registry by its pid (SIGTERM, then SIGKILL) and removes its folder. */
export async function stopRegistry(info: RegistryInfo): Promise<void> {
  signal(info.pid, 'SIGTERM');
  for (let i = 0; i < 50 && alive(info.pid); i++) await sleep(100);
  if (alive(info.pid)) signal(info.pid, 'SIGKILL');
  await rm(info.dir, { recursive: true, force: true });
}

function htpasswd(username: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // -i: the password on stdin, not on a command line others can read.
    const child = execFile('htpasswd', ['-B', '-i', '-n', username], (err, stdout) => {
      if (err === null) resolve(stdout);
      else reject(new Error(`htpasswd failed: ${err.message}`));
    });
    child.stdin?.end(password);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/** Runs the registry on `port` and waits until it answers (401: auth is on). Returns its pid. */
async function serve(dir: string, port: number): Promise<number> {
  const config = [
    'version: 0.1',
    'log: { level: warn }',
    `storage: { filesystem: { rootdirectory: ${path.join(dir, 'storage')} }, delete: { enabled: true } }`,
    `http: { addr: '127.0.0.1:${port}', secret: ${randomBytes(16).toString('hex')} }`,
    `auth: { htpasswd: { realm: berth-test, path: ${path.join(dir, 'htpasswd')} } }`,
  ].join('\n');
  const file = path.join(dir, 'config.yml');
  await writeFile(file, `${config}\n`);
  const log = openSync(path.join(dir, 'registry.log'), 'a');
  const child = spawn(REGISTRY_BINARY, ['serve', file], { stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${REGISTRY_BINARY}`);
  let exited = false;
  child.once('exit', () => (exited = true));
  for (let i = 0; i < 100 && !exited; i++) {
    const status = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      (response) => response.status,
      () => undefined,
    );
    if (status === 401) return pid;
    await sleep(100);
  }
  signal(pid, 'SIGKILL');
  const text = await readFile(path.join(dir, 'registry.log'), 'utf8').catch(() => '');
  throw new Error(`the test registry did not answer on port ${port}:\n${text.slice(-2000)}`);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Gone already.
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
