/**
 * Daemon benchmark, against the real CLI process (`berth daemon` under node + tsx), real git
 * and Docker:
 *
 *   1. webhook-to-deploy-start latency over `--pushes` pushes (target p95 <= 1 s): commit a
 *      change to one stack, POST a signed generic webhook, time until the daemon logs
 *      `deploying stack` for the new version; the next push waits for that deploy to end.
 *   2. `--burst` signed webhooks within 10 s for 5 changed stacks (target: at most two
 *      deployments per stack, no error, no 5xx).
 *   3. idle RSS of a daemon holding `--stacks` deployed stacks (target <= 120 MB).
 *
 *   npx tsx bench/daemon.ts [--pushes 50] [--burst 500] [--stacks 100] [--json]
 *
 * berth is compiled first when src/ is newer than dist/ (as `npm run build`), then run with
 * plain node, as in production.
 *
 * Stacks are one `sleep` container with `network_mode: none`, deployed with the blind
 * method. Everything created is removed at the end, also on error or Ctrl-C.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDockerEngine } from '../src/engine/docker-engine.js';
import { silentLogger } from '../src/log.js';
import { openStateStore } from '../src/state/store.js';
import { ROOT, berthCommand, ensureBerthBuilt } from '../test/helpers/berth-bin.js';
import { followJsonLogs, waitFor as waitUntil } from '../test/helpers/daemon-process.js';
import { downProjectsWithPrefix } from './cleanup.js';

const FIXTURE_IMAGE = process.env.BERTH_FIXTURE_IMAGE ?? 'berth-fixture/busybox:latest';
const SECRET = 'bench-secret-0123456789';
const TOKEN = 'bench-token-0123456789';

interface Args {
  pushes: number;
  burst: number;
  stacks: number;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const value = (name: string, fallback: number): number => {
    const i = argv.indexOf(`--${name}`);
    const n = i === -1 ? fallback : Number(argv[i + 1]);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} needs a positive whole number`);
    return n;
  };
  return {
    pushes: value('pushes', 50),
    burst: value('burst', 500),
    stacks: value('stacks', 100),
    json: argv.includes('--json'),
  };
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=bench', '-c', 'user.email=bench@berth', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The shared poll, at 20 ms: the latency measure cannot be finer than the poll. */
function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  return waitUntil(check, timeoutMs, what, 20);
}

interface BenchLogLine {
  msg: string;
  time: number;
  [key: string]: unknown;
}

class Daemon {
  readonly logs: BenchLogLine[] = [];
  private readonly exit: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    followJsonLogs(child, this.logs);
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static start(configFile: string): Daemon {
    // Plain node on compiled JavaScript with the node flags of the bin's shebang, as berth
    // runs in production: the pid is berth's own process, its RSS carries no TypeScript loader.
    const berth = berthCommand(['daemon', '--config', configFile]);
    const child = spawn(berth.command, berth.args, {
      cwd: ROOT,
      env: { ...process.env, BERTH_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new Daemon(child);
  }

  port(): Promise<number> {
    return waitFor(
      () => this.logs.find((l) => l.msg === 'listening')?.port as number | undefined,
      30_000,
      'the daemon to listen',
    );
  }

  async rssMb(): Promise<number> {
    const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Math.round((kb / 1024) * 10) / 10;
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
    try {
      return await this.exit;
    } finally {
      clearTimeout(timer);
    }
  }
}

function compose(marker: string): string {
  return [
    'services:',
    '  app:',
    `    image: ${FIXTURE_IMAGE}`,
    '    command: ["sleep", "3600"]',
    '    network_mode: none',
    '    stop_grace_period: 1s',
    '    environment:',
    `      MARKER: "${marker}"`,
    '',
  ].join('\n');
}

async function writeStack(work: string, name: string, marker: string): Promise<void> {
  const dir = path.join(work, 'stacks', name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'compose.yaml'), compose(marker));
}

function commit(work: string, message: string): string {
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', message);
  git(work, 'push', '-q', 'origin', 'HEAD:main');
  return git(work, 'rev-parse', 'HEAD');
}

interface Fixture {
  dir: string;
  work: string;
  configFile: string;
  dataDir: string;
}

async function fixture(tmp: string, name: string, concurrency: number): Promise<Fixture> {
  const dir = path.join(tmp, name);
  const remote = path.join(dir, 'remote.git');
  const work = path.join(dir, 'work');
  await mkdir(dir, { recursive: true });
  git(dir, 'init', '-q', '--bare', '--initial-branch=main', remote);
  git(dir, 'clone', '-q', remote, work);
  git(work, 'checkout', '-q', '-B', 'main');
  const dataDir = path.join(dir, 'data');
  const configFile = path.join(dir, 'berth.yaml');
  await writeFile(
    configFile,
    [
      'source:',
      `  git: { url: "file://${remote}", branch: main }`,
      '  paths: ["stacks/*"]',
      `dataDir: ${dataDir}`,
      'defaults:',
      '  method: blind',
      '  stabilityPeriod: 200ms',
      // Only webhooks start syncs while measuring.
      'schedule: "0 0 1 1 *"',
      `concurrency: ${concurrency}`,
      'server:',
      '  listen: 127.0.0.1:0',
      `  tokens: [{ name: bench, token: ${TOKEN} }]`,
      `  webhooks: { generic: { secret: ${SECRET} } }`,
      'log: { level: info }',
      '',
    ].join('\n'),
  );
  return { dir, work, configFile, dataDir };
}

async function webhook(port: number): Promise<number> {
  const body = JSON.stringify({ ref: 'refs/heads/main' });
  const signature = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
  const res = await fetch(`http://127.0.0.1:${port}/webhooks/generic`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-berth-signature': signature },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

async function apiStacks(port: number): Promise<{ name: string; state: string }[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/stacks`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return ((await res.json()) as { stacks: { name: string; state: string }[] }).stacks;
}

async function allAvailable(port: number, expected: number): Promise<boolean> {
  const stacks = await apiStacks(port);
  return stacks.length === expected && stacks.every((s) => s.state === 'AVAILABLE');
}

/** Part 1: webhook → `deploying stack` latency, one push at a time. */
async function latency(
  tmp: string,
  prefix: string,
  pushes: number,
  log: (t: string) => void,
): Promise<number[]> {
  const fx = await fixture(tmp, 'latency', 2);
  const stack = `${prefix}-lat`;
  await writeStack(fx.work, stack, 'm0');
  commit(fx.work, 'init');
  const daemon = Daemon.start(fx.configFile);
  try {
    const port = await daemon.port();
    await waitFor(() => allAvailable(port, 1), 60_000, 'the first deploy');
    const samples: number[] = [];
    for (let i = 1; i <= pushes; i++) {
      await writeStack(fx.work, stack, `m${i}`);
      commit(fx.work, `push ${i}`);
      const from = daemon.logs.length;
      const sent = Date.now();
      const status = await webhook(port);
      if (status !== 202) throw new Error(`webhook answered ${status}`);
      const started = await waitFor(
        () => daemon.logs.slice(from).find((l) => l.msg === 'deploying stack' && l.stack === stack),
        30_000,
        `deploy of push ${i}`,
      );
      samples.push(started.time - sent);
      await waitFor(
        () =>
          daemon.logs.slice(from).find((l) => l.msg === 'deployment finished' && l.stack === stack),
        30_000,
        `end of deploy ${i}`,
      );
      await waitFor(() => allAvailable(port, 1), 30_000, 'the stack to settle');
    }
    log(
      `latency: ${pushes} pushes, p50 ${percentile(samples, 50)} ms, p95 ${percentile(samples, 95)} ms`,
    );
    return samples;
  } finally {
    await daemon.stop();
  }
}

/** Part 2: a burst of signed webhooks while 5 stacks deploy. */
async function burst(
  tmp: string,
  prefix: string,
  count: number,
  log: (t: string) => void,
): Promise<{ maxPerStack: number; errors: number }> {
  const fx = await fixture(tmp, 'burst', 2);
  const names = Array.from({ length: 5 }, (_, i) => `${prefix}-b${i}`);
  for (const name of names) await writeStack(fx.work, name, 'm0');
  commit(fx.work, 'init');
  const daemon = Daemon.start(fx.configFile);
  try {
    const port = await daemon.port();
    await waitFor(() => allAvailable(port, 5), 60_000, 'the first deploys');
    const store = openStateStore(path.join(fx.dataDir, 'berth.db'));
    const before = new Map(names.map((n) => [n, store.listDeployments(n).length]));
    store.close();

    for (const name of names) await writeStack(fx.work, name, 'm1');
    commit(fx.work, 'burst');
    let errors = 0;
    const spacing = 10_000 / count;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        await sleep(i * spacing);
        try {
          const status = await webhook(port);
          if (status !== 202) errors++;
        } catch {
          errors++;
        }
      }),
    );
    const sendMs = Date.now() - t0;
    await waitFor(
      async () => (await allAvailable(port, 5)) && (await sleep(500), allAvailable(port, 5)),
      60_000,
      'the burst to settle',
    );
    const after = openStateStore(path.join(fx.dataDir, 'berth.db'));
    let maxPerStack = 0;
    try {
      for (const name of names) {
        const real = after
          .listDeployments(name)
          .slice(0, after.listDeployments(name).length - (before.get(name) ?? 0))
          .filter((d) => d.result !== 'skipped');
        maxPerStack = Math.max(maxPerStack, real.length);
      }
    } finally {
      after.close();
    }
    log(
      `burst: ${count} webhooks in ${sendMs} ms, ${errors} errors, max ${maxPerStack} deployments per stack`,
    );
    return { maxPerStack, errors };
  } finally {
    await daemon.stop();
  }
}

/** Part 3: RSS of an idle daemon holding many deployed stacks. */
async function idleRss(
  tmp: string,
  prefix: string,
  stacks: number,
  log: (t: string) => void,
): Promise<number> {
  const fx = await fixture(tmp, 'rss', 4);
  for (let i = 0; i < stacks; i++)
    await writeStack(fx.work, `${prefix}-r${String(i).padStart(3, '0')}`, 'm0');
  commit(fx.work, 'init');
  const daemon = Daemon.start(fx.configFile);
  try {
    const port = await daemon.port();
    const t = Date.now();
    await waitFor(() => allAvailable(port, stacks), 600_000, `${stacks} stacks to deploy`);
    log(`rss: ${stacks} stacks deployed in ${Date.now() - t} ms`);
    // A few no-op syncs, so what a running daemon holds is in the measure.
    for (let i = 0; i < 3; i++) {
      const from = daemon.logs.length;
      await webhook(port);
      await waitFor(
        () => daemon.logs.slice(from).some((l) => l.msg === 'webhook accepted'),
        10_000,
        'sync',
      );
      await sleep(1500);
    }
    await sleep(2000);
    const rss = await daemon.rssMb();
    log(`rss: idle daemon with ${stacks} stacks: ${rss} MB`);
    return rss;
  } finally {
    await daemon.stop();
  }
}

async function cleanup(prefix: string, tmp: string | undefined): Promise<void> {
  const engine = createDockerEngine({ logger: silentLogger() });
  try {
    await downProjectsWithPrefix(engine, prefix);
  } finally {
    await engine.close();
  }
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const prefix = `bd-${randomBytes(3).toString('hex')}`;
  const log = (text: string): void => {
    if (!args.json) console.error(text);
  };
  const tmp = await mkdtemp(path.join(tmpdir(), 'berth-bench-daemon-'));
  let cleaning: Promise<void> | undefined;
  const clean = (): Promise<void> => (cleaning ??= cleanup(prefix, tmp));
  const onSignal = (): void => {
    void clean().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log('compiling berth if src/ changed…');
    ensureBerthBuilt();
    const samples = await latency(tmp, prefix, args.pushes, log);
    const storm = await burst(tmp, prefix, args.burst, log);
    const rss = await idleRss(tmp, prefix, args.stacks, log);
    const result = {
      webhook_to_deploy_p50_ms: percentile(samples, 50),
      webhook_to_deploy_p95_ms: percentile(samples, 95),
      pushes: samples.length,
      webhooks: args.burst,
      max_deployments_per_stack: storm.maxPerStack,
      errors: storm.errors,
      idle_rss_mb: rss,
      stacks: args.stacks,
      targets: {
        webhook_to_deploy_p95_ms: 1000,
        max_deployments_per_stack: 2,
        errors: 0,
        idle_rss_mb: 120,
      },
    };
    if (!args.json) {
      console.log('');
      console.log(
        `webhook → deploy start p95: ${result.webhook_to_deploy_p95_ms} ms (target <= 1000)`,
      );
      console.log(
        `burst: max ${result.max_deployments_per_stack} deployments per stack (target <= 2), ${result.errors} errors`,
      );
      console.log(`idle RSS with ${args.stacks} stacks: ${result.idle_rss_mb} MB (target <= 120)`);
    }
    console.log(JSON.stringify(result));
  } finally {
    await clean();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
