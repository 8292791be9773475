import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './berth-bin.js';
import { startPrebuiltMirror, type PrebuiltMirror } from './prebuilt-mirror.js';

/**
 * berth's container image, built from the repository's Dockerfile for tests. No registry is
 * reachable, so the base image is a local stand-in for node:20-bookworm-slim
 * (scripts/build-base-image.sh), kept between runs as a cache.
 */

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolve with the result whatever the exit code (default: reject on a non-zero one). */
  allowFailure?: boolean;
}

/** Runs a command without blocking the event loop (builds take minutes). */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      const result = { code: code ?? -1, stdout, stderr };
      if (result.code === 0 || options.allowFailure === true) resolve(result);
      else
        reject(
          new Error(
            `${command} ${args.join(' ')} exited ${result.code}\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`,
          ),
        );
    });
  });
}

/** package.json's version: what the image is labelled with and `berth --version` prints. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** The image's id, or undefined when there is no such image. */
export async function imageId(ref: string): Promise<string | undefined> {
  const result = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', ref], {
    allowFailure: true,
  });
  return result.code === 0 ? result.stdout.trim() : undefined;
}

/** Builds (or finds) the stand-in for node:20-bookworm-slim; its tag and the time it took. */
export async function ensureBaseImage(): Promise<{ tag: string; ms: number }> {
  const started = Date.now();
  const result = await run('bash', [path.join(ROOT, 'scripts', 'build-base-image.sh')]);
  const tag = result.stdout.trim().split('\n').at(-1) ?? '';
  return { tag, ms: Date.now() - started };
}

export interface BuiltImage {
  tag: string;
  baseImage: string;
  baseMs: number;
  buildMs: number;
  sizeBytes: number;
  /** better-sqlite3 binaries fetched from the loopback mirror (0: cached, or compiled). */
  prebuiltDownloads: number;
}

/**
 * Builds berth's image as `tag` on the stand-in base. better-sqlite3's prebuilt binary comes
 * from a loopback mirror of this machine's own (prebuilt-mirror.ts) instead of a compile. The
 * Dockerfile's `build` stage (toolchain, node_modules) is kept under a cache tag per
 * base image, so a later run rebuilds only what changed; its previous version is removed once
 * replaced. Only `tag` is the caller's to remove.
 */
export async function buildBerthImage(tag: string): Promise<BuiltImage> {
  const base = await ensureBaseImage();
  const mirror = await startPrebuiltMirror();
  try {
    return await build(tag, base, mirror);
  } finally {
    await mirror?.close();
  }
}

async function build(
  tag: string,
  base: { tag: string; ms: number },
  mirror: PrebuiltMirror | undefined,
): Promise<BuiltImage> {
  const started = Date.now();
  // The host network lets the build reach the mirror on loopback; nothing else changes.
  const common = [
    '--network',
    'host',
    '--build-arg',
    `NODE_IMAGE=${base.tag}`,
    ...(mirror === undefined
      ? []
      : ['--build-arg', `npm_config_better_sqlite3_binary_host=${mirror.url}`]),
  ];
  const cacheTag = `berth-test/berth-build:${base.tag.split(':').at(-1) ?? 'latest'}`;
  const previous = await imageId(cacheTag);
  await dockerBuild([...common, '--target', 'build', '-t', cacheTag, '.']);
  await dockerBuild([
    ...common,
    '--build-arg',
    `BERTH_VERSION=${packageVersion()}`,
    '--build-arg',
    `BERTH_CREATED=${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    '-t',
    tag,
    '.',
  ]);
  const buildMs = Date.now() - started;
  if (previous !== undefined && previous !== (await imageId(cacheTag))) {
    await run('docker', ['rmi', previous], { allowFailure: true });
  }
  const size = await run('docker', ['image', 'inspect', '--format', '{{.Size}}', tag]);
  return {
    tag,
    baseImage: base.tag,
    baseMs: base.ms,
    buildMs,
    sizeBytes: Number(size.stdout.trim()),
    prebuiltDownloads: mirror?.served() ?? 0,
  };
}

/**
 * `docker build`; when it fails, the untagged layers it made are removed again (the legacy
 * builder keeps them as cache, and `--force-rm` only removes its containers). Layers with
 * children or a tag, such as those of the cache or base image, are never removed.
 */
async function dockerBuild(args: string[]): Promise<void> {
  const result = await run('docker', ['build', '--force-rm', ...args], { allowFailure: true });
  if (result.code === 0) return;
  const layers = [...result.stdout.matchAll(/^ ---> ([0-9a-f]{12})$/gm)].map((m) => m[1] ?? '');
  for (const layer of layers.reverse()) {
    const tags = await run('docker', ['image', 'inspect', '--format', '{{len .RepoTags}}', layer], {
      allowFailure: true,
    });
    if (tags.code === 0 && tags.stdout.trim() === '0') {
      await run('docker', ['rmi', layer], { allowFailure: true });
    }
  }
  throw new Error(
    `docker build ${args.join(' ')} exited ${result.code}\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`,
  );
}

/** Removes an image the test built; a missing one is fine. */
export async function removeImage(tag: string): Promise<void> {
  await run('docker', ['rmi', '--force', tag], { allowFailure: true });
}
