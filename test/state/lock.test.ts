import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { StateError } from '../../src/errors.js';
import {
  type DataDirLockedError,
  HOLDER_FILE,
  LOCK_FILE,
  lockDataDir,
  readLockHolder,
  tryLockDataDir,
  type DataDirLock,
} from '../../src/state/lock.js';
import { thrown } from './thrown.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOLDER_SCRIPT = fileURLToPath(new URL('./lock-holder.ts', import.meta.url));
const CLI = { role: 'cli', command: 'reconcile --once' } as const;
// A child starts through tsx: about a second of CPU, more on a loaded machine.
const CHILD_TIMEOUT = 60_000;

interface Holder {
  child: ChildProcess;
  pid: number;
  /** Everything the child has written to stdout so far. */
  output(): string;
}

/** Starts test/state/lock-holder.ts on `dataDir`; resolves once it holds the lock. */
async function startHolder(dataDir: string): Promise<Holder> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER_SCRIPT, dataDir], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => {
      if (stdout.includes('locked\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`holder exited ${code}: ${stderr}`)));
  });
  return { child, pid: child.pid ?? 0, output: () => stdout };
}

/** Runs the holder script to its end; for a holder that is expected to fail. */
async function runHolder(dataDir: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOLDER_SCRIPT, dataDir], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

async function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = once(child, 'exit');
  child.kill('SIGKILL');
  await exit;
}

/** The error a lock attempt that must fail rejects with. */
async function lockError(attempt: Promise<DataDirLock>): Promise<DataDirLockedError> {
  return (await attempt.then(
    () => {
      throw new Error('expected the lock to be refused');
    },
    (err: unknown) => err,
  )) as DataDirLockedError;
}

function acquire(dataDir: string): DataDirLock {
  const attempt = tryLockDataDir(dataDir, CLI);
  if (!attempt.ok) throw new Error(`expected the lock, held by ${JSON.stringify(attempt.holder)}`);
  return attempt.lock;
}

describe('data dir lock', () => {
  let tmp: string;
  let dataDir: string;
  const locks: DataDirLock[] = [];
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-lock-'));
    dataDir = join(tmp, 'data');
  });
  afterEach(async () => {
    for (const lock of locks.splice(0)) lock.release();
    await Promise.all(children.splice(0).map(killed));
    await rm(tmp, { recursive: true, force: true });
  });

  async function holding(): Promise<Holder> {
    const holder = await startHolder(dataDir);
    children.push(holder.child);
    return holder;
  }

  function take(): DataDirLock {
    const lock = acquire(dataDir);
    locks.push(lock);
    return lock;
  }

  it('is taken, says who holds it, and is released', async () => {
    const lock = take();
    expect(lock.dataDir).toBe(dataDir);
    expect(lock.holder).toMatchObject({
      pid: process.pid,
      role: 'cli',
      command: 'reconcile --once',
    });
    expect(new Date(lock.holder.since).toISOString()).toBe(lock.holder.since);
    expect(readLockHolder(dataDir)).toEqual(lock.holder);
    expect(JSON.parse(await readFile(join(dataDir, HOLDER_FILE), 'utf8'))).toEqual(lock.holder);

    lock.release();
    lock.release();
    expect(readLockHolder(dataDir)).toBeUndefined();
    expect(await readdir(dataDir)).toEqual([LOCK_FILE]);
    take();
  });

  it('creates the data dir 0700 and its files 0600', async () => {
    dataDir = join(tmp, 'deep', 'data');
    take();
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    const files = await readdir(dataDir);
    expect(files).toEqual(expect.arrayContaining([LOCK_FILE, HOLDER_FILE]));
    // SQLite's journal beside the lock file takes the lock file's mode.
    for (const file of files) expect((await stat(join(dataDir, file))).mode & 0o777).toBe(0o600);
  });

  it('refuses a second holder in the same process, naming the first', async () => {
    const first = take();
    const second = tryLockDataDir(dataDir, { role: 'daemon', command: 'daemon' });
    expect(second).toEqual({ ok: false, holder: first.holder });

    const err = await lockError(lockDataDir(dataDir, CLI, { waitMs: 0 }));
    expect(err).toBeInstanceOf(StateError);
    expect(err.reason).toBe('DataDirLocked');
    expect(err.holder).toEqual(first.holder);
    expect(err.message).toContain(`data dir ${dataDir} is in use by berth cli "reconcile --once"`);
    expect(err.message).toContain(`pid ${process.pid}`);
    // The refused attempts left the first holder its lock and its sidecar.
    expect(readLockHolder(dataDir)).toEqual(first.holder);
  });

  it(
    'keeps its lock from another process even after a refused attempt in this one',
    async () => {
      const lock = take();
      expect(tryLockDataDir(dataDir, CLI).ok).toBe(false);
      const other = await runHolder(dataDir);
      expect(other.code).not.toBe(0);
      expect(other.stderr).toContain(`pid ${process.pid}`);
      expect(readLockHolder(dataDir)).toEqual(lock.holder);
    },
    CHILD_TIMEOUT,
  );

  it(
    'is refused while another process holds it, and free at once when that process is killed',
    async () => {
      const holder = await holding();

      const err = await lockError(lockDataDir(dataDir, CLI, { waitMs: 0 }));
      expect(err.reason).toBe('DataDirLocked');
      expect(err.holder).toMatchObject({ pid: holder.pid, role: 'daemon', command: 'daemon' });
      expect(err.message).toContain(`berth daemon "daemon" (pid ${holder.pid} on `);

      await killed(holder.child);
      // The killed holder's sidecar stays behind, but names a dead process.
      expect(JSON.parse(await readFile(join(dataDir, HOLDER_FILE), 'utf8'))).toMatchObject({
        pid: holder.pid,
      });
      expect(readLockHolder(dataDir)).toBeUndefined();
      expect(take().holder.pid).toBe(process.pid);
    },
    CHILD_TIMEOUT,
  );

  it(
    'waits for a holder that releases within the wait',
    async () => {
      const holder = await holding();
      const waiting = lockDataDir(dataDir, CLI, { waitMs: CHILD_TIMEOUT / 2, pollMs: 20 });
      holder.child.stdin?.write('release\n');
      const lock = await waiting;
      locks.push(lock);
      expect(lock.holder.pid).toBe(process.pid);
      // The holder says so after it let go: its line may trail the lock we now hold.
      await vi.waitFor(() => expect(holder.output()).toContain('released'), { timeout: 10_000 });
      expect(readLockHolder(dataDir)).toEqual(lock.holder);
    },
    CHILD_TIMEOUT,
  );

  it('gives up after waitMs, polling meanwhile', async () => {
    take();
    let now = 0;
    let polls = 0;
    const clock: Clock = {
      now: () => now,
      sleep: (ms) => {
        polls++;
        now += ms;
        return Promise.resolve();
      },
    };
    const err = await lockError(lockDataDir(dataDir, CLI, { waitMs: 1000, pollMs: 300, clock }));
    expect(err.reason).toBe('DataDirLocked');
    expect(err.message).toContain('waited 1000 ms');
    expect(polls).toBe(4);
  });

  it('stops waiting when aborted', async () => {
    take();
    const controller = new AbortController();
    const waiting = lockDataDir(dataDir, CLI, {
      waitMs: 60_000,
      pollMs: 10,
      signal: controller.signal,
    });
    controller.abort(new Error('shutting down'));
    await expect(waiting).rejects.toThrow('shutting down');
  });

  it('leaves a sidecar that is no longer its own', async () => {
    const lock = take();
    const other = { ...lock.holder, pid: lock.holder.pid + 1 };
    await writeFile(join(dataDir, HOLDER_FILE), JSON.stringify(other));
    lock.release();
    expect(JSON.parse(await readFile(join(dataDir, HOLDER_FILE), 'utf8'))).toEqual(other);
  });

  it('ignores a sidecar it cannot read', async () => {
    take();
    await writeFile(join(dataDir, HOLDER_FILE), '{not json');
    expect(readLockHolder(dataDir)).toBeUndefined();
    expect(tryLockDataDir(dataDir, CLI)).toEqual({ ok: false, holder: undefined });
  });

  it('fails with DataDirLockFailed when the data dir cannot be made', async () => {
    await writeFile(join(tmp, 'file'), '');
    expect(thrown(() => tryLockDataDir(join(tmp, 'file', 'data'), CLI))).toMatchObject({
      reason: 'DataDirLockFailed',
    });
  });
});
