/**
 * Engine benchmark: berth's apply against docker-compose (v1.29, /usr/bin/docker-compose) and a
 * hand-rolled Engine API floor, on a 10-service stack with three dependency levels and fast
 * healthchecks. `npx tsx bench/engine.ts [--reps N] [--json]`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { loadProject } from '../src/compose/load.js';
import { createDockerEngine } from '../src/engine/docker-engine.js';
import { silentLogger } from '../src/log.js';
import { removeProject } from '../test/helpers/docker.js';

const run = promisify(execFile);
const IMAGE = process.env.BERTH_FIXTURE_IMAGE ?? 'berth-fixture/busybox:latest';
const args = process.argv.slice(2);
const json = args.includes('--json');
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
] as const;
type Key = (typeof KEYS)[number];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-bench-'));
  const file = path.join(dir, 'compose.yaml');
  await writeFile(file, composeYaml());
  const samples = Object.fromEntries(KEYS.map((k) => [k, [] as number[]])) as Record<Key, number[]>;
  const created: string[] = [];
  const compose = (project: string, ...cmd: string[]): Promise<unknown> =>
    run('docker-compose', ['-p', project, '-f', file, ...cmd], { cwd: dir });
  try {
    for (let rep = 0; rep < reps; rep++) {
      const id = randomBytes(3).toString('hex');
      const berth = `bench-berth-${id}`;
      const composeName = `benchcompose${id}`;
      const floor = `bench-floor-${id}`;
      created.push(berth, composeName, floor);

      const engine = createDockerEngine({ logger: silentLogger() });
      const { project } = await loadProject(dir, { projectName: berth, env: {} });
      samples.cold_ms.push(await timed(() => engine.apply(project)));
      samples.noop_ms.push(await timed(() => engine.apply(project)));
      samples.down_ms.push(await timed(() => engine.down(berth)));

      samples.compose_cold_ms.push(await timed(() => compose(composeName, 'up', '-d')));
      samples.compose_noop_ms.push(await timed(() => compose(composeName, 'up', '-d')));
      await removeAll(composeName);

      samples.floor_cold_ms.push(await timed(() => floorCold(floor)));
      await removeAll(floor);
    }
  } finally {
    for (const project of created) await removeAll(project).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
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
  console.log(`engine benchmark: 10 services, 3 dependency levels, median of ${reps}`);
  for (const [label, ms] of rows) console.log(`  ${label.padEnd(32)} ${String(ms).padStart(7)} ms`);
  const ratio = (a: number, b: number): string => (b === 0 ? 'n/a' : (a / b).toFixed(2));
  const check = (ok: boolean): string => (ok ? 'ok' : 'MISSED');
  console.log(
    `  cold vs compose ${ratio(r.cold_ms, r.compose_cold_ms)}x (target <= 0.6) ${check(r.cold_ms <= 0.6 * r.compose_cold_ms)}`,
  );
  console.log(
    `  cold vs floor   ${ratio(r.cold_ms, r.floor_cold_ms)}x (target <= 1.2) ${check(r.cold_ms <= 1.2 * r.floor_cold_ms)}`,
  );
  console.log(
    `  no-op vs compose ${ratio(r.noop_ms, r.compose_noop_ms)}x (target <= 0.1) ${check(r.noop_ms <= 0.1 * r.compose_noop_ms)}`,
  );
  console.log(`  no-op ${r.noop_ms} ms (target <= 150 ms) ${check(r.noop_ms <= 150)}`);
  if (json) console.log(JSON.stringify(r));
}

await main();
