import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT, berthCommand } from '../helpers/berth-bin.js';
import { Harness } from '../helpers/harness.js';

/**
 * What the crash-recovery tests share: a world per case (repository, data dir, berth config),
 * berth's CLI run as a child process, and the SIGKILL at a journaled step (BERTH_FAILPOINT).
 */

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** One case's world: its own repository, data dir and berth config, so cases can overlap. */
export interface World {
  harness: Harness;
  configFile: string;
  markerFile: string;
}

/** At most `max` cases at once: most of a case is waiting on Docker health checks. */
export function createLimit(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    while (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

export async function createWorld(options: { stabilityPeriod: string }): Promise<World> {
  const harness = await Harness.create();
  // Creates the state; the CLI processes of each case then take the data dir in turn.
  await harness.open();
  await harness.close();
  const configFile = path.join(harness.root, 'berth.yaml');
  const markerFile = path.join(harness.root, 'failpoint.log');
  await writeFile(
    configFile,
    [
      'source:',
      '  git:',
      `    url: file://${harness.remote}`,
      '    branch: main',
      "  paths: ['stacks/*']",
      `dataDir: ${harness.dataDir}`,
      'defaults:',
      '  healthTimeout: 20s',
      `  stabilityPeriod: ${options.stabilityPeriod}`,
      'log:',
      '  level: warn',
      '',
    ].join('\n'),
  );
  return { harness, configFile, markerFile };
}

/** Worlds created by `inWorld`, each removed as soon as its case ends, passed or failed. */
export function worlds(options: { stabilityPeriod: string }): {
  inWorld: (fn: (world: World) => Promise<void>) => Promise<void>;
  cleanupAll: () => Promise<void>;
} {
  const open = new Set<World>();
  return {
    async inWorld(fn): Promise<void> {
      const world = await createWorld(options);
      open.add(world);
      try {
        await fn(world);
      } finally {
        open.delete(world);
        await world.harness.cleanup();
      }
    },
    async cleanupAll(): Promise<void> {
      for (const world of open) await world.harness.cleanup();
    },
  };
}

/** `berth reconcile --once --json` for one stack, in a process group of its own. */
export function cli(
  { configFile }: World,
  stack: string,
  env: Record<string, string> = {},
): ReturnType<typeof spawn> {
  const berth = berthCommand([
    'reconcile',
    '--once',
    '--json',
    '--config',
    configFile,
    '--stack',
    stack,
  ]);
  return spawn(berth.command, berth.args, {
    cwd: ROOT,
    // Its own process group: the kill takes whatever the CLI started along with it.
    detached: true,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function collect(child: ReturnType<typeof spawn>): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs the CLI until it reaches the failpoint, then SIGKILLs its process group there. */
export async function killAt(world: World, stack: string, step: string): Promise<RunResult> {
  const { markerFile } = world;
  const line = `berth-failpoint ${stack} ${step}`;
  const child = cli(world, stack, {
    BERTH_FAILPOINT: `${stack}:${step}`,
    BERTH_FAILPOINT_FILE: markerFile,
  });
  const done = collect(child);
  let exited = false;
  void done.then(() => (exited = true));
  // Room for a machine that several crash cases and test files load at once.
  const deadline = Date.now() + 120_000;
  let late = false;
  try {
    for (;;) {
      const text = await readFile(markerFile, 'utf8').catch(() => '');
      if (text.split('\n').includes(line)) break;
      if (exited) {
        const result = await done;
        throw new Error(
          `berth exited (${result.code}) before reaching ${step}:\n${result.stdout}\n${result.stderr}`,
        );
      }
      if (Date.now() > deadline) {
        late = true;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } finally {
    if (!exited && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }
  if (late) {
    // Where it was instead, so a failure explains itself.
    const result = await done;
    const deployment = world.harness.store.listDeployments(stack)[0];
    const steps = deployment === undefined ? [] : world.harness.store.getJournal(deployment.id);
    throw new Error(
      `berth never reached ${step}; journal: ${steps.map((j) => `${j.at} ${j.step}`).join(', ') || 'none'}\n${result.stdout}\n${result.stderr}`,
    );
  }
  return done;
}
