/**
 * Reconcile benchmark: a no-op pass (nothing changed) over many stacks, against the pass's
 * floor (git fetch + hashing the stack folders: `source.sync()` + `discoverStacks`), and the
 * Docker API calls a no-op pass makes, which must not grow with the number of stacks.
 *
 *   npx tsx bench/reconcile.ts [--stacks 200] [--small 50] [--reps 5] [--sources 10]
 *                              [--multi-reps 3] [--json]
 *
 * Setup (one time per run, not measured): a bare git repository with `--small` stacks,
 * deployed with the blind method; measured; then grown to `--stacks` stacks, deployed, and
 * measured again. Then the same stacks are split over `--sources` repositories (10 x 20 by
 * default), each a `sources:` entry with its own paths, and the no-op pass over all of them is
 * measured against the single-source one (same data dir and stack names, so nothing redeploys)
 * in `--multi-reps` rounds that alternate the two configs, two passes of each per round, so
 * both see the same machine. Every stack is one `sleep` container with `network_mode: none`, so 200
 * stacks do not exhaust Docker's address pools with 200 networks. Everything created is
 * removed at the end, also on error or Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createApp, type App } from '../src/main.js';
import { lockDataDir, type DataDirLock } from '../src/state/lock.js';
import { discoverStacks } from '../src/stack/discover.js';
import { downProjectsWithPrefix } from './cleanup.js';
import { methodNames } from '../src/strategies/index.js';

const FIXTURE_IMAGE = process.env.BERTH_FIXTURE_IMAGE ?? 'berth-fixture/busybox:latest';

interface Args {
  stacks: number;
  small: number;
  reps: number;
  sources: number;
  multiReps: number;
  json: boolean;
}

interface Measure {
  label: string;
  stacks: number;
  noop_ms: number;
  floor_ms: number;
  ratio: number;
  docker_calls: number;
  deploy_ms: number;
}

function parseArgs(argv: string[]): Args {
  const value = (name: string, fallback: number): number => {
    const i = argv.indexOf(`--${name}`);
    const n = i === -1 ? fallback : Number(argv[i + 1]);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} needs a positive whole number`);
    return n;
  };
  const args = {
    stacks: value('stacks', 200),
    small: value('small', 50),
    reps: value('reps', 5),
    sources: value('sources', 10),
    multiReps: value('multi-reps', 3),
    json: argv.includes('--json'),
  };
  if (args.small > args.stacks) args.small = args.stacks;
  if (args.sources > args.stacks) args.sources = args.stacks;
  return args;
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

async function writeStacks(work: string, prefix: string, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    const dir = path.join(work, 'stacks', `${prefix}-${String(i).padStart(3, '0')}`);
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'compose.yaml'),
      [
        'x-berth:',
        '  method: blind',
        'services:',
        '  app:',
        `    image: ${FIXTURE_IMAGE}`,
        '    command: ["sleep", "3600"]',
        '    network_mode: none',
        '    stop_grace_period: 1s',
        '',
      ].join('\n'),
    );
  }
  git(work, 'add', '.');
  git(work, 'commit', '-q', '-m', `stacks ${from}..${to - 1}`);
  git(work, 'push', '-q', 'origin', 'HEAD:main');
}

/**
 * The floor of a pass: every source synced (at once, as the pass does) and its stacks read.
 * Returns how many stacks the sources hold.
 */
async function syncAndDiscoverAll(app: App): Promise<number> {
  const counts = await Promise.all(
    app.sources.map(async (named) => {
      const revision = await named.source.sync();
      const discovery = await discoverStacks(
        revision.dir,
        named.paths,
        named.defaults,
        methodNames(),
      );
      return discovery.stacks.length;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

interface Samples {
  label: string;
  stacks: number;
  noop: number[];
  floor: number[];
  calls: number[];
  deployMs: number;
}

async function measure(
  app: App,
  label: string,
  stacks: number,
  reps: number,
  deployMs: number,
): Promise<Samples> {
  const samples: Samples = { label, stacks, noop: [], floor: [], calls: [], deployMs };
  // A warm-up pass of each, so the first repetition does not pay for cold caches.
  await syncAndDiscoverAll(app);
  await app.control.reconcile({ trigger: { by: 'bench' } });
  for (let rep = 0; rep < reps; rep++) {
    let t = performance.now();
    const discovered = await syncAndDiscoverAll(app);
    samples.floor.push(performance.now() - t);
    if (discovered !== stacks) {
      throw new Error(`discovered ${discovered} stacks, expected ${stacks}`);
    }

    const before = app.engine.callCount();
    t = performance.now();
    const pass = await app.control.reconcile({ trigger: { by: 'bench' } });
    samples.noop.push(performance.now() - t);
    samples.calls.push(app.engine.callCount() - before);
    const changed = pass.stacks.filter((s) => s.result !== 'unchanged');
    if (!pass.ok || changed.length > 0 || pass.stacks.length !== stacks) {
      throw new Error(
        `the no-op pass was not one: ${changed.length} stacks changed (${changed
          .slice(0, 3)
          .map((s) => `${s.stack}: ${s.result} ${s.message}`)
          .join('; ')})`,
      );
    }
  }
  return samples;
}

function summarize(all: Samples[]): Measure {
  const first = all[0]!;
  const noopMs = median(all.flatMap((s) => s.noop));
  const floorMs = median(all.flatMap((s) => s.floor));
  return {
    label: first.label,
    stacks: first.stacks,
    noop_ms: round(noopMs),
    floor_ms: round(floorMs),
    ratio: Math.round((noopMs / floorMs) * 100) / 100,
    docker_calls: Math.max(...all.flatMap((s) => s.calls)),
    deploy_ms: Math.round(first.deployMs),
  };
}

/** A bare repository and a clone of it to commit stacks in. */
function createRepo(dir: string): { bare: string; work: string } {
  const bare = path.join(dir, 'remote.git');
  const work = path.join(dir, 'work');
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '-q', '--bare', '--initial-branch=main', bare);
  git(dir, 'clone', '-q', bare, work);
  return { bare, work };
}

function gitSourceLines(bare: string, indent: string): string[] {
  return [
    `${indent}git:`,
    `${indent}  url: file://${bare}`,
    `${indent}  branch: main`,
    `${indent}paths: ["stacks/*"]`,
  ];
}

const COMMON_CONFIG = ['dataDir: ./data', 'defaults:', '  stabilityPeriod: 500ms', ''];

/**
 * The stacks split over `count` repositories, the same names and files as the single source's,
 * and a config with one `sources:` entry per repository.
 */
async function writeMultiSource(
  tmp: string,
  prefix: string,
  stacks: number,
  count: number,
): Promise<string> {
  const per = Math.ceil(stacks / count);
  const lines = ['sources:'];
  for (let j = 0; j < count; j++) {
    const name = `s${String(j).padStart(2, '0')}`;
    const { bare, work } = createRepo(path.join(tmp, 'multi', name));
    await writeStacks(work, prefix, j * per, Math.min((j + 1) * per, stacks));
    lines.push(`  - name: ${name}`, ...gitSourceLines(bare, '    '));
  }
  const file = path.join(tmp, 'berth-multi.yaml');
  await writeFile(file, [...lines, ...COMMON_CONFIG].join('\n'));
  return file;
}

async function deployAll(app: App, expected: number): Promise<number> {
  const t = performance.now();
  const pass = await app.control.reconcile({ trigger: { by: 'bench' } });
  const failed = pass.stacks.filter((s) => s.result !== 'deployed' && s.result !== 'unchanged');
  if (!pass.ok || failed.length > 0 || pass.stacks.length !== expected) {
    throw new Error(
      `setup deploy failed for ${failed.length} of ${pass.stacks.length} stacks: ${failed
        .slice(0, 3)
        .map((s) => `${s.stack}: ${s.message}`)
        .join('; ')}`,
    );
  }
  return performance.now() - t;
}

async function cleanup(
  app: App | undefined,
  prefix: string,
  tmp: string | undefined,
): Promise<void> {
  if (app !== undefined) {
    try {
      await downProjectsWithPrefix(app.engine, prefix);
    } finally {
      await app.close();
    }
  }
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const prefix = `bench-${randomBytes(3).toString('hex')}`;
  const log = (text: string): void => {
    if (!args.json) console.error(text);
  };
  let tmp: string | undefined;
  let app: App | undefined;
  let lock: DataDirLock | undefined;
  let cleaning: Promise<void> | undefined;
  const clean = (): Promise<void> =>
    (cleaning ??= cleanup(app, prefix, tmp).finally(() => lock?.release()));
  const onSignal = (): void => {
    void clean().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    tmp = await mkdtemp(path.join(tmpdir(), 'berth-bench-'));
    const { bare, work } = createRepo(tmp);
    const configFile = path.join(tmp, 'berth.yaml');
    await writeFile(
      configFile,
      ['source:', ...gitSourceLines(bare, '  '), ...COMMON_CONFIG].join('\n'),
    );
    const config = await loadConfig({ file: configFile, env: {} });
    lock = await lockDataDir(
      config.dataDir,
      { role: 'cli', command: 'bench:reconcile' },
      { waitMs: 0 },
    );
    app = await createApp(config, { logger: createLogger({ level: 'warn' }), lock });

    const results: Measure[] = [];
    log(`setup: deploying ${args.small} stacks (blind)…`);
    await writeStacks(work, prefix, 0, args.small);
    let deployMs = await deployAll(app, args.small);
    log(`measuring ${args.small} stacks, ${args.reps} repetitions…`);
    results.push(summarize([await measure(app, 'single', args.small, args.reps, deployMs)]));

    if (args.stacks > args.small) {
      log(`setup: deploying ${args.stacks - args.small} more stacks (blind)…`);
      await writeStacks(work, prefix, args.small, args.stacks);
      deployMs = await deployAll(app, args.stacks);
      log(`measuring ${args.stacks} stacks, ${args.reps} repetitions…`);
      results.push(summarize([await measure(app, 'single', args.stacks, args.reps, deployMs)]));
    }
    const big = results[results.length - 1]!;
    const small = results[0]!;

    let multi: Measure | undefined;
    let alongside: Measure | undefined;
    if (args.sources > 1) {
      log(`setup: the same ${args.stacks} stacks over ${args.sources} sources…`);
      const multiFile = await writeMultiSource(tmp, prefix, args.stacks, args.sources);
      const multiConfig = await loadConfig({ file: multiFile, env: {} });
      // The same data dir and stack names: the running stacks stay as they are. The new app
      // is opened before the old one closes, so cleanup always has one to bring stacks down.
      const held = lock;
      const switchTo = async (next: typeof config): Promise<App> => {
        const previous = app!;
        app = await createApp(next, { logger: createLogger({ level: 'warn' }), lock: held });
        await previous.close();
        return app;
      };
      deployMs = await deployAll(await switchTo(multiConfig), args.stacks);
      const per = Math.ceil(args.stacks / args.sources);
      log(`measuring ${args.sources} sources and 1 source side by side, ${args.multiReps} rounds…`);
      // Rounds that alternate the two, so a busier moment of the machine hits both alike.
      const multiSamples: Samples[] = [];
      const singleSamples: Samples[] = [];
      for (let round = 0; round < args.multiReps; round++) {
        const label = `${args.sources}x${per}`;
        multiSamples.push(await measure(app, label, args.stacks, 2, deployMs));
        const one = await switchTo(config);
        singleSamples.push(await measure(one, 'single', args.stacks, 2, big.deploy_ms));
        await switchTo(multiConfig);
      }
      multi = summarize(multiSamples);
      alongside = summarize(singleSamples);
      results.push(multi);
    }
    const multiRatio =
      multi === undefined || alongside === undefined
        ? undefined
        : Math.round((multi.noop_ms / alongside.noop_ms) * 100) / 100;
    if (!args.json) {
      console.log('');
      console.log('source  stacks  noop_ms  floor_ms  noop/floor  docker_calls  setup_deploy_ms');
      for (const r of results) {
        console.log(
          `${r.label.padEnd(6)}  ${String(r.stacks).padEnd(6)}  ${String(r.noop_ms).padEnd(7)}  ${String(r.floor_ms).padEnd(8)}  ${String(
            r.ratio,
          ).padEnd(10)}  ${String(r.docker_calls).padEnd(12)}  ${r.deploy_ms}`,
        );
      }
      console.log('');
      console.log(
        `target: no-op pass <= 1.5x floor: ${big.ratio <= 1.5 ? 'met' : 'MISSED'} (${big.ratio}x at ${big.stacks} stacks)`,
      );
      console.log(
        `target: Docker calls independent of unchanged stacks: ${
          big.docker_calls <= small.docker_calls ? 'met' : 'MISSED'
        } (${small.docker_calls} at ${small.stacks}, ${big.docker_calls} at ${big.stacks})`,
      );
      if (multi !== undefined && multiRatio !== undefined) {
        console.log(
          `target: ${multi.label} sources no-op <= 1.5x single-source ${big.stacks}: ${
            multiRatio <= 1.5 ? 'met' : 'MISSED'
          } (${multiRatio}x multi/single, measured in alternating rounds: ${multi.noop_ms} ms vs ${
            alongside?.noop_ms
          } ms)`,
        );
      }
    }
    console.log(
      JSON.stringify({
        stacks: big.stacks,
        noop_ms: big.noop_ms,
        floor_ms: big.floor_ms,
        docker_calls: big.docker_calls,
        ratio: big.ratio,
        small: {
          stacks: small.stacks,
          noop_ms: small.noop_ms,
          floor_ms: small.floor_ms,
          docker_calls: small.docker_calls,
        },
        ...(multi === undefined
          ? {}
          : {
              multi: {
                sources: args.sources,
                stacks: multi.stacks,
                noop_ms: multi.noop_ms,
                floor_ms: multi.floor_ms,
                docker_calls: multi.docker_calls,
                ratio: multi.ratio,
                single_alongside_noop_ms: alongside?.noop_ms,
                multi_over_single: multiRatio,
              },
            }),
      }),
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
