import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { ROOT } from './berth-bin.js';

/**
 * A prebuilt-binary mirror for better-sqlite3, on loopback, serving the addon this machine
 * already compiled for its Node.js (the same Node.js the stand-in base image carries).
 *
 * Inside `docker build`, better-sqlite3's install asks GitHub for a prebuilt binary; no
 * network reaches GitHub here, so it compiles from source (minutes on two cores). The
 * Dockerfile takes the npm setting every user behind a mirror sets,
 * `npm_config_better_sqlite3_binary_host`; this is such a mirror. The build then runs exactly
 * the install path users get from GitHub: download, unpack, no compiler.
 */
export interface PrebuiltMirror {
  /** For `--build-arg npm_config_better_sqlite3_binary_host=…` (the build must use the host network). */
  url: string;
  /** How many times the binary was downloaded. */
  served(): number;
  close(): Promise<void>;
}

const PACKAGE = path.join(ROOT, 'node_modules', 'better-sqlite3');

/** The file name prebuild-install asks for: `{name}-v{version}-{runtime}-v{abi}-{platform}{libc}-{arch}.tar.gz`. */
function assetPath(): string {
  const { version } = JSON.parse(readFileSync(path.join(PACKAGE, 'package.json'), 'utf8')) as {
    version: string;
  };
  const abi = process.versions.modules;
  return `/v${version}/better-sqlite3-v${version}-node-v${abi}-${process.platform}-${process.arch}.tar.gz`;
}

function sendTarball(res: ServerResponse): void {
  const addon = path.join(PACKAGE, 'build', 'Release', 'better_sqlite3.node');
  const tar = pack();
  res.writeHead(200, { 'content-type': 'application/gzip' });
  tar.pipe(createGzip()).pipe(res);
  const entry = tar.entry({
    name: 'build/Release/better_sqlite3.node',
    size: statSync(addon).size,
    mode: 0o755,
  });
  createReadStream(addon)
    .on('end', () => tar.finalize())
    .pipe(entry);
}

/**
 * A fixed port when it is free: the URL is a build argument, and a build argument that changes
 * between runs would throw away the cached `npm ci` layer of every later build.
 */
const PREFERRED_PORT = 47631;

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Starts the mirror; undefined when this machine has no compiled addon to offer. */
export async function startPrebuiltMirror(): Promise<PrebuiltMirror | undefined> {
  try {
    statSync(path.join(PACKAGE, 'build', 'Release', 'better_sqlite3.node'));
  } catch {
    return undefined;
  }
  const wanted = assetPath();
  let served = 0;
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === wanted) {
      served++;
      sendTarball(res);
      return;
    }
    res.writeHead(404).end();
  });
  await listen(server, PREFERRED_PORT).catch(() => listen(server, 0));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    served: () => served,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
