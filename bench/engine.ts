/**
 * Engine benchmark: berth's apply against docker-compose (v1.29, /usr/bin/docker-compose) and a
 * hand-rolled Engine API floor, on a 10-service stack with three dependency levels and fast
 * healthchecks, and on an uneven dependency graph (bench/engine-dag.ts) whose floor is its
 * critical path. Every case runs once per repetition, interleaved, in a rotating order.
 * `npx tsx bench/engine.ts [--reps N] [--json] [--samples] [--only levels|dag]`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { loadProject } from '../src/compose/load.js';
import type { ComposeProject } from '../src/compose/types.js';
import { createDockerEngine } from '../src/engine/docker-engine.js';
import { silentLogger } from '../src/log.js';
import { removeProject } from '../test/helpers/docker.js';
import { dagComposeYaml, dagFloor } from './engine-dag.js';

const run = promisify(execFile);
const IMAGE = process.env.BERTH_FIXTURE_IMAGE ?? 'berth-fixture/busybox:latest';
const args = process.argv.slice(2);
const json = args.includes('--json');
const showSamples = args.includes('--samples');
const onlyArg = args.indexOf('--only');
/** `levels` or `dag`: run one of the two stacks only (the other's keys stay 0). */
const only = onlyArg >= 0 ? args[onlyArg + 1] : undefined;
const repsArg = args.indexOf('--reps');
const reps = repsArg >= 0 ? Number(args[repsArg + 1] ?? '3') : 3;
const docker = new Docker();

/** Level -> services; every service of a level depends (service_healthy) on all of the level before. */
const LEVELS: string[][] = [
  ['db', 'cache'],
  ['api1', 'api2', 'api3', 'api4'],
  ['web1', 'web2', 'web3', 'web4'],
];
const HTTPD = ['httpd', '-f', '-p', '8080', '-h', '/var/www'];
const HEALTH = ['CMD-SHELL', 'timeout 2 wget -q -O- http://127.0.0.1:8080/ >/dev/null'];

function depsOf(level: number): string[] {
  return level === 0 ? [] : (LEVELS[level - 1] ?? []);
}

function composeYaml(): string {
  const lines = ['version: "2.4"', 'services:'];
  LEVELS.forEach((names, level) => {
    for (const name of names) {
      lines.push(
        `  ${name}:`,
        `    image: ${IMAGE}`,
        `    command: ${JSON.stringify(HTTPD)}`,
        '    stop_grace_period: 0s',
        '    healthcheck:',
        `      test: ${JSON.stringify(HEALTH)}`,
        '      interval: 250ms',
        '      timeout: 2s',
        '      retries: 20',
      );
      const deps = depsOf(level);
      if (deps.length > 0) {
        lines.push('    depends_on:');
        for (const dep of deps) lines.push(`      ${dep}:`, '        condition: service_healthy');
      }
    }
  });
  return `${lines.join('\n')}\n`;
}

/** Everything of a project, whoever created it (berth, docker-compose or the floor). */
function removeAll(project: string): Promise<void> {
  return removeProject(project, docker);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** The floor: the same containers straight through the Engine API, waiting on health events per level. */
async function floorCold(project: string): Promise<void> {
  const networkName = `${project}_default`;
  const labels = { 'com.docker.compose.project': project };
  await docker.createNetwork({ Name: networkName, Labels: labels });
  const events = await docker.getEvents({
    filters: { type: ['container'], label: [`com.docker.compose.project=${project}`] },
  });
  const healthy = new Set<string>();
  const waiters: (() => void)[] = [];
  let buffer = '';
  events.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      const event = JSON.parse(line) as { Action?: string; Actor?: { ID?: string } };
      if (event.Action === 'health_status: healthy' && event.Actor?.ID !== undefined) {
        healthy.add(event.Actor.ID);
        for (const wake of waiters.splice(0)) wake();
      }
    }
  });
  try {
    let previous: string[] = [];
    for (const names of LEVELS) {
      const ids = previous;
      await new Promise<void>((resolve) => {
        const check = async (): Promise<void> => {
          const states = await Promise.all(ids.map((id) => docker.getContainer(id).inspect()));
          if (states.every((s) => s.State.Health?.Status === 'healthy' || healthy.has(s.Id)))
            resolve();
          else waiters.push(() => void check());
        };
        void check();
      });
      previous = await Promise.all(
        names.map(async (name) => {
          const container = await docker.createContainer({
            name: `${project}-${name}-1`,
            Image: IMAGE,
            Cmd: HTTPD,
            Labels: { ...labels, 'com.docker.compose.service': name },
            Healthcheck: { Test: HEALTH, Interval: 250e6, Timeout: 2e9, Retries: 20 },
            StopTimeout: 0,
            HostConfig: { NetworkMode: networkName },
            NetworkingConfig: { EndpointsConfig: { [networkName]: { Aliases: [name] } } },
          });
          await container.start();
          return container.id;
        }),
      );
    }
  } finally {
    (events as NodeJS.ReadableStream & { destroy: () => void }).destroy();
  }
}

const KEYS = [
  'cold_ms',
  'compose_cold_ms',
  'floor_cold_ms',
  'noop_ms',
  'compose_noop_ms',
  'down_ms',
  'dag_cold_ms',
  'dag_floor_ms',
  'dag_compose_ms',
] as const;
type Key = (typeof KEYS)[number];

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Bench {
  samples: Record<Key, number[]>;
  /** Projects to sweep at the end, whatever happened. */
  created: string[];
  /** docker-compose on one of the two files. */
  compose: (file: string, project: string, ...cmd: string[]) => Promise<unknown>;
  levelsFile: string;
  dagFile: string;
}

/** One measurement of each case; `id` makes this repetition's project names unique. */
function cases(b: Bench, id: string): { group: string; run: () => Promise<void> }[] {
  const { samples } = b;
  const project = (name: string): string => {
    b.created.push(name);
    return name;
  };
  const load = async (file: string, name: string): Promise<ComposeProject> =>
    (
      await loadProject(path.dirname(file), {
        projectName: name,
        files: [path.basename(file)],
        env: {},
      })
    ).project;
  const berthCold = (file: string, name: string, noop: boolean) => async (): Promise<void> => {
    const engine = createDockerEngine({ logger: silentLogger() });
    const stack = await load(file, project(name));
    const cold = await timed(() => engine.apply(stack));
    if (!noop) {
      samples.dag_cold_ms.push(cold);
      await engine.down(name);
      return;
    }
    samples.cold_ms.push(cold);
    samples.noop_ms.push(await timed(() => engine.apply(stack)));
    samples.down_ms.push(await timed(() => engine.down(name)));
  };
  const composeCold = (file: string, name: string, noop: boolean) => async (): Promise<void> => {
    const cold = await timed(() => b.compose(file, project(name), 'up', '-d'));
    if (noop) {
      samples.compose_cold_ms.push(cold);
      samples.compose_noop_ms.push(await timed(() => b.compose(file, name, 'up', '-d')));
    } else samples.dag_compose_ms.push(cold);
    await removeAll(name);
  };
  const floor = (key: Key, name: string, fn: (n: string) => Promise<void>) => async () => {
    samples[key].push(await timed(() => fn(project(name))));
    await removeAll(name);
  };
  return [
    { group: 'levels', run: berthCold(b.levelsFile, `bench-berth-${id}`, true) },
    { group: 'levels', run: composeCold(b.levelsFile, `benchcompose${id}`, true) },
    { group: 'levels', run: floor('floor_cold_ms', `bench-floor-${id}`, floorCold) },
    { group: 'dag', run: berthCold(b.dagFile, `bench-dag-berth-${id}`, false) },
    { group: 'dag', run: composeCold(b.dagFile, `benchdagcompose${id}`, false) },
    {
      group: 'dag',
      run: floor('dag_floor_ms', `bench-dag-floor-${id}`, (n) => dagFloor(docker, n, IMAGE)),
    },
  ];
}

async function measure(b: Bench): Promise<void> {
  for (let rep = 0; rep < reps; rep++) {
    const all = cases(b, randomBytes(3).toString('hex')).filter(
      (c) => only === undefined || c.group === only,
    );
    // A different case goes first each time, so none always runs on a daemon just cleaned up.
    for (let i = 0; i < all.length; i++) await all[(i + rep) % all.length]!.run();
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-'));
  const levelsFile = path.join(dir, 'compose.yaml');
  const dagFile = path.join(dir, 'dag.yaml');
  await writeFile(levelsFile, composeYaml());
  await writeFile(dagFile, dagComposeYaml(IMAGE));
  const b: Bench = {
    samples: Object.fromEntries(KEYS.map((k) => [k, [] as number[]])) as Record<Key, number[]>,
    created: [],
    compose: (file, project, ...cmd) =>
      run('docker-compose', ['-p', project, '-f', file, ...cmd], { cwd: dir }),
    levelsFile,
    dagFile,
  };
  try {
    await measure(b);
  } finally {
    for (const project of b.created) await removeAll(project).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  report(b.samples);
}

function report(samples: Record<Key, number[]>): void {
  const r = Object.fromEntries(KEYS.map((k) => [k, Math.round(median(samples[k]))])) as Record<
    Key,
    number
  >;
  const rows: [string, number][] = [
    ['berth cold apply', r.cold_ms],
    ['docker-compose up -d (cold)', r.compose_cold_ms],
    ['Engine API floor (cold)', r.floor_cold_ms],
    ['berth no-op apply', r.noop_ms],
    ['docker-compose up -d (no-op)', r.compose_noop_ms],
    ['berth down', r.down_ms],
  ];
  const dagRows: [string, number][] = [
    ['berth cold apply', r.dag_cold_ms],
    ['Engine API critical-path floor', r.dag_floor_ms],
    ['docker-compose up -d (cold)', r.dag_compose_ms],
  ];
  const table = (title: string, lines: [string, number][]): void => {
    console.log(title);
    for (const [label, ms] of lines)
      console.log(`  ${label.padEnd(32)} ${String(ms).padStart(7)} ms`);
  };
  table(`engine benchmark: 10 services, 3 dependency levels, median of ${reps}`, rows);
  const ratio = (a: number, b: number): string => (b === 0 ? 'n/a' : (a / b).toFixed(2));
  const check = (ok: boolean): string => (ok ? 'ok' : 'MISSED');
  // Also each repetition's own ratio: the cases of one repetition ran minutes apart at most,
  // so a daemon busy with something else for a while skews these less than the medians.
  const paired = (a: Key, b: Key): string => {
    const ratios = samples[a].flatMap((x, i) => (samples[b][i] ? [x / samples[b][i]] : []));
    return ratios.length === 0 ? 'n/a' : median(ratios).toFixed(2);
  };
  const target = (label: string, a: Key, b: Key, max: number): void =>
    console.log(
      `  ${label.padEnd(20)} ${ratio(r[a], r[b])}x (target <= ${max}) ${check(r[a] <= max * r[b])}` +
        `, per repetition ${paired(a, b)}x`,
    );
  target('cold vs compose', 'cold_ms', 'compose_cold_ms', 0.6);
  target('cold vs floor', 'cold_ms', 'floor_cold_ms', 1.05);
  target('no-op vs compose', 'noop_ms', 'compose_noop_ms', 0.1);
  console.log(`  no-op ${r.noop_ms} ms (target <= 150 ms) ${check(r.noop_ms <= 150)}`);
  table(`uneven graph: 8 services, db healthy after ~4 s, median of ${reps}`, dagRows);
  target('dag cold vs floor', 'dag_cold_ms', 'dag_floor_ms', 1.1);
  target('dag cold vs compose', 'dag_cold_ms', 'dag_compose_ms', 0.6);
  // What any engine could reach at best against compose on this graph.
  console.log(
    `  dag floor vs compose ${ratio(r.dag_floor_ms, r.dag_compose_ms)}x, per repetition ${paired('dag_floor_ms', 'dag_compose_ms')}x`,
  );
  if (showSamples) console.log(JSON.stringify(samples));
  if (json) console.log(JSON.stringify(r));
}

await main();
