/**
 * Image updates benchmark: what asking the registry for the digests of the stacks' tagged
 * images adds to a no-op pass. The same stacks are measured with image updates off (no
 * registry call at all) and on (one digest look-up per image and pass).
 *
 *   npx tsx bench/image-updates.ts [--images 20] [--reps 5] [--json]
 *
 * Setup (not measured): a private registry (Debian's docker-registry with htpasswd auth on
 * 127.0.0.1, as the integration tests use), the fixture image pushed as `--images` repositories,
 * one stack per image (blind, `network_mode: none`), deployed with `defaults.updates.images`
 * false; measured; then berth reopened with it true, deployed again (every version changes:
 * it now covers the digests) and measured. Everything created is removed at the end.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Docker from 'dockerode';
import { loadConfig, type BerthConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createApp, type App } from '../src/main.js';
import { lockDataDir, type DataDirLock } from '../src/state/lock.js';
import { startRegistry, stopRegistry, type RegistryInfo } from '../test/helpers/registry-server.js';
import { downProjectsWithPrefix } from './cleanup.js';

const FIXTURE_IMAGE = process.env.BERTH_FIXTURE_IMAGE ?? 'berth-fixture/busybox:latest';

interface Args {
  images: number;
  reps: number;
  json: boolean;
}

interface Measure {
  noop_ms: number;
  docker_calls: number;
}

function parseArgs(argv: string[]): Args {
  const value = (name: string, fallback: number): number => {
    const i = argv.indexOf(`--${name}`);
    const n = i === -1 ? fallback : Number(argv[i + 1]);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} needs a positive whole number`);
    return n;
  };
  return { images: value('images', 20), reps: value('reps', 5), json: argv.includes('--json') };
}

function git(cwd: string, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@berth', ...args], {
    cwd,
    stdio: 'ignore',
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** Pushes the fixture as `host/repo:latest` with the registry's login, then untags it. */
async function push(docker: Docker, registry: RegistryInfo, repo: string): Promise<void> {
  const target = `${registry.host}/${repo}`;
  await docker.getImage(FIXTURE_IMAGE).tag({ repo: target, tag: 'latest' });
  const authconfig = {
    username: registry.username,
    password: registry.password,
    serveraddress: registry.host,
  };
  const stream = await docker.getImage(`${target}:latest`).push({ authconfig });
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, output: { error?: string }[]) => {
      const failed = err ?? output.find((m) => m.error !== undefined)?.error;
      if (failed === undefined || failed === null) resolve();
      else reject(new Error(`push of ${target} failed: ${String(failed)}`));
    });
  });
  await docker.getImage(`${target}:latest`).remove();
}

async function writeStacks(work: string, prefix: string, refs: string[]): Promise<void> {
  for (const [i, ref] of refs.entries()) {
    const dir = path.join(work, 'stacks', `${prefix}-${String(i).padStart(3, '0')}`);
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'compose.yaml'),
      [
        'x-berth:',
        '  method: blind',
        'services:',
        '  app:',
        `    image: ${ref}`,
        '    command: ["sleep", "3600"]',
        '    network_mode: none',
        '    stop_grace_period: 1s',
        '',
      ].join('\n'),
    );
  }
  git(work, 'add', '.');
  git(work, 'commit', '-q', '-m', `${refs.length} stacks`);
  git(work, 'push', '-q', 'origin', 'HEAD:main');
}

async function writeConfig(
  file: string,
  bare: string,
  registry: RegistryInfo,
  updates: boolean,
): Promise<void> {
  await writeFile(
    file,
    [
      'source:',
      '  git:',
      `    url: file://${bare}`,
      '    branch: main',
      '  paths: ["stacks/*"]',
      'dataDir: ./data',
      'defaults:',
      '  stabilityPeriod: 500ms',
      '  updates:',
      `    images: ${updates}`,
      'registries:',
      `  - server: "${registry.host}"`,
      `    username: ${registry.username}`,
      `    password: ${registry.password}`,
      '',
    ].join('\n'),
  );
}

async function reconcileExpecting(app: App, result: string, stacks: number): Promise<void> {
  const pass = await app.control.reconcile({ trigger: { by: 'bench' } });
  const other = pass.stacks.filter((s) => s.result !== result);
  if (!pass.ok || other.length > 0 || pass.stacks.length !== stacks) {
    throw new Error(
      `expected ${stacks} stacks ${result}, got: ${other
        .slice(0, 3)
        .map((s) => `${s.stack}: ${s.result} ${s.message}`)
        .join('; ')}`,
    );
  }
}

async function measure(app: App, stacks: number, reps: number): Promise<Measure> {
  await reconcileExpecting(app, 'unchanged', stacks);
  const times: number[] = [];
  const calls: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const before = app.engine.callCount();
    const t = performance.now();
    await reconcileExpecting(app, 'unchanged', stacks);
    times.push(performance.now() - t);
    calls.push(app.engine.callCount() - before);
  }
  return { noop_ms: round(median(times)), docker_calls: Math.max(...calls) };
}

interface Run {
  tmp?: string;
  app?: App;
  lock?: DataDirLock;
  registry?: RegistryInfo;
  pulled: string[];
}

async function open(configFile: string, run: Run, registry: RegistryInfo): Promise<App> {
  if (run.app !== undefined) await run.app.close();
  run.app = undefined;
  run.lock?.release();
  const loaded: BerthConfig = await loadConfig({ file: configFile, env: {} });
  // The login as berth.yaml's `registries` gives it, whether or not the loader carries it.
  const login = { server: registry.host, username: registry.username, password: registry.password };
  const config: BerthConfig = { ...loaded, registries: loaded.registries ?? [login] };
  run.lock = await lockDataDir(
    config.dataDir,
    { role: 'cli', command: 'bench:image-updates' },
    { waitMs: 0 },
  );
  run.app = await createApp(config, { logger: createLogger({ level: 'warn' }), lock: run.lock });
  return run.app;
}

async function cleanup(run: Run, prefix: string, docker: Docker): Promise<void> {
  try {
    if (run.app !== undefined) await downProjectsWithPrefix(run.app.engine, prefix);
  } finally {
    await run.app?.close();
    run.lock?.release();
    // The pulled references only: the fixture keeps its own tag.
    for (const ref of run.pulled) {
      const images = await docker.listImages({ filters: { reference: [ref] } }).catch(() => []);
      for (const image of images) {
        for (const name of [...(image.RepoTags ?? []), ...(image.RepoDigests ?? [])]) {
          if (name.startsWith(ref))
            await docker
              .getImage(name)
              .remove()
              .catch(() => undefined);
        }
      }
    }
    if (run.registry !== undefined) await stopRegistry(run.registry);
    if (run.tmp !== undefined) await rm(run.tmp, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const prefix = `bench-${randomBytes(3).toString('hex')}`;
  const log = (text: string): void => {
    if (!args.json) console.error(text);
  };
  const docker = new Docker();
  const run: Run = { pulled: [] };
  let cleaning: Promise<void> | undefined;
  const clean = (): Promise<void> => (cleaning ??= cleanup(run, prefix, docker));
  const onSignal = (): void => {
    void clean().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    run.tmp = await mkdtemp(path.join(tmpdir(), 'berth-bench-images-'));
    log('setup: starting the registry and pushing the images…');
    const registry = await startRegistry();
    run.registry = registry;
    const refs: string[] = [];
    for (let i = 0; i < args.images; i++) {
      const repo = `${prefix}/app${i}`;
      await push(docker, registry, repo);
      refs.push(`${registry.host}/${repo}:latest`);
      run.pulled.push(`${registry.host}/${repo}`);
    }
    const bare = path.join(run.tmp, 'remote.git');
    const work = path.join(run.tmp, 'work');
    git(run.tmp, 'init', '-q', '--bare', '--initial-branch=main', bare);
    git(run.tmp, 'clone', '-q', bare, work);
    await writeStacks(work, prefix, refs);
    const configFile = path.join(run.tmp, 'berth.yaml');

    await writeConfig(configFile, bare, registry, false);
    let app = await open(configFile, run, registry);
    log(`setup: deploying ${args.images} stacks, image updates off…`);
    await reconcileExpecting(app, 'deployed', args.images);
    log(`measuring, image updates off, ${args.reps} repetitions…`);
    const off = await measure(app, args.images, args.reps);

    await writeConfig(configFile, bare, registry, true);
    app = await open(configFile, run, registry);
    log('setup: image updates on (every version now covers its digest): deploying…');
    await reconcileExpecting(app, 'deployed', args.images);
    log(`measuring, image updates on, ${args.reps} repetitions…`);
    const on = await measure(app, args.images, args.reps);

    const added = round(on.noop_ms - off.noop_ms);
    if (!args.json) {
      console.log('');
      console.log('updates  stacks  images  noop_ms  docker_calls');
      for (const [name, m] of [
        ['off', off],
        ['on', on],
      ] as const) {
        console.log(
          `${name.padEnd(7)}  ${String(args.images).padEnd(6)}  ${String(name === 'on' ? args.images : 0).padEnd(6)}  ${String(m.noop_ms).padEnd(7)}  ${m.docker_calls}`,
        );
      }
      console.log('');
      console.log(
        `digest checks add ${added} ms to a no-op pass (${args.images} images, ${on.docker_calls - off.docker_calls} Docker calls)`,
      );
    }
    console.log(
      JSON.stringify({ stacks: args.images, images: args.images, off, on, added_ms: added }),
    );
  } finally {
    log('cleanup: bringing the benchmark stacks down…');
    await clean();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
});
