import { chmodSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock, type Clock } from '../clock.js';
import { StateError } from '../errors.js';
import { PRIVATE_FILE_MODE, makePrivateDirSync, makePrivateFileSync } from './private.js';

/**
 * The single-writer lock of a data directory. Only the holder may change berth.db's stacks,
 * running_stacks/ and good_stacks/: two writers on one data dir tear each other's deploys down.
 *
 * The lock is `<dataDir>/berth.lock`, a tiny SQLite database held in exclusive locking mode
 * after a write: SQLite then keeps its POSIX fcntl lock until the connection closes, and the
 * kernel drops it when the process dies (SIGKILL included), so a lock is never stale. fcntl
 * locks are per inode and kernel-wide, so this works across processes and across containers
 * that bind-mount the data dir on one host (not across hosts, nor on network filesystems).
 * Another connection, in another process or this one, gets SQLITE_BUSY at once.
 *
 * Two rules keep it sound: nothing else may open berth.lock (closing any descriptor of a file
 * drops every fcntl lock the process holds on it), and nothing may delete it (a new inode would
 * let a second holder in).
 *
 * The locked file cannot be read by others, so the holder writes who it is to the sidecar
 * `<dataDir>/berth.lock.json`. The sidecar is informational: a holder killed before it released
 * leaves it behind, so readers check that the pid still lives.
 */

export const LOCK_FILE = 'berth.lock';
export const HOLDER_FILE = 'berth.lock.json';

export interface LockOwner {
  role: 'daemon' | 'cli';
  /** The command line after `berth`, e.g. `daemon` or `reconcile --once`. */
  command: string;
}

export interface LockHolder extends LockOwner {
  pid: number;
  /** ISO time the lock was taken. */
  since: string;
  hostname: string;
  /** Linux pid namespace (`pid:[…]`): a pid means something only inside its namespace. */
  pidNamespace?: string;
}

export interface DataDirLock {
  readonly dataDir: string;
  readonly holder: LockHolder;
  /** Closes the lock and removes the sidecar if it is still ours; safe to call twice. */
  release(): void;
}

export type TryLockResult = { ok: true; lock: DataDirLock } | { ok: false; holder?: LockHolder };

export interface LockWaitOptions {
  /** How long to keep trying; 0 tries once. */
  waitMs: number;
  pollMs?: number;
  signal?: AbortSignal;
  clock?: Clock;
}

/** Another process (or another part of this one) holds the data dir's lock. */
export class DataDirLockedError extends StateError {
  readonly holder: LockHolder | undefined;

  constructor(dataDir: string, holder: LockHolder | undefined, waitedMs = 0) {
    const waited = waitedMs > 0 ? ` (waited ${waitedMs} ms)` : '';
    super('DataDirLocked', `data dir ${dataDir} is in use by ${describeHolder(holder)}${waited}`, {
      place: { file: join(dataDir, LOCK_FILE) },
    });
    this.holder = holder;
  }
}

/** For messages: `berth daemon "daemon" (pid 1234 on host-a, since 2026-…)`. */
export function describeHolder(holder: LockHolder | undefined): string {
  if (holder === undefined) return 'another berth process (it has not said who it is)';
  return `berth ${holder.role} "${holder.command}" (pid ${holder.pid} on ${holder.hostname}, since ${holder.since})`;
}

// A lock whose object the caller drops must not be closed by the garbage collector.
const held = new Set<DataDirLock>();

function ourPidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

/** Whether `holder.pid` names a process we can see: same pid namespace, or same host. */
function sharesPidSpace(holder: LockHolder): boolean {
  const ours = ourPidNamespace();
  if (holder.pidNamespace !== undefined && ours !== undefined) return holder.pidNamespace === ours;
  return holder.hostname === hostname();
}

function isGone(holder: LockHolder): boolean {
  if (!sharesPidSpace(holder)) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (err) {
    // EPERM: it lives, under another user.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder> | null;
    if (
      typeof value?.pid !== 'number' ||
      (value.role !== 'daemon' && value.role !== 'cli') ||
      typeof value.command !== 'string' ||
      typeof value.since !== 'string' ||
      typeof value.hostname !== 'string'
    )
      return undefined;
    return value as LockHolder;
  } catch {
    return undefined;
  }
}

function readSidecar(dataDir: string): LockHolder | undefined {
  try {
    return parseHolder(readFileSync(join(dataDir, HOLDER_FILE), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Who says they hold the data dir's lock, from the sidecar; undefined when nobody says so or
 * the process that said so is dead. Informational only: the lock itself decides.
 */
export function readLockHolder(dataDir: string): LockHolder | undefined {
  const holder = readSidecar(dataDir);
  return holder === undefined || isGone(holder) ? undefined : holder;
}

function sameHolder(a: LockHolder | undefined, b: LockHolder): boolean {
  return a !== undefined && a.pid === b.pid && a.since === b.since && a.hostname === b.hostname;
}

function writeSidecar(dataDir: string, holder: LockHolder): void {
  const file = join(dataDir, HOLDER_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(holder)}\n`, { mode: PRIVATE_FILE_MODE });
  chmodSync(tmp, PRIVATE_FILE_MODE);
  renameSync(tmp, file);
}

/**
 * Creates the data dir (0700) and the lock file (0600) if missing, without opening an existing
 * one: that could drop a lock this process holds on it.
 */
function prepareLockFile(dataDir: string): string {
  makePrivateDirSync(dataDir);
  const file = join(dataDir, LOCK_FILE);
  makePrivateFileSync(file);
  return file;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

/** Opens the lock file and takes the lock; undefined when someone else holds it. */
function takeLock(file: string): Database.Database | undefined {
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The write makes SQLite take the EXCLUSIVE lock, and exclusive mode keeps it until close.
    db.exec('BEGIN EXCLUSIVE');
    db.exec('CREATE TABLE IF NOT EXISTS lock (id INTEGER PRIMARY KEY, taken_at TEXT NOT NULL)');
    db.prepare('INSERT OR REPLACE INTO lock (id, taken_at) VALUES (1, ?)').run(
      new Date().toISOString(),
    );
    db.exec('COMMIT');
    return db;
  } catch (err) {
    db.close();
    if (isBusy(err)) return undefined;
    throw err;
  }
}

function heldLock(dataDir: string, db: Database.Database, holder: LockHolder): DataDirLock {
  const lock: DataDirLock = {
    dataDir,
    holder,
    release(): void {
      if (!db.open) return;
      try {
        // Still holding the lock, so nobody else can be writing the sidecar now.
        if (sameHolder(readSidecar(dataDir), holder))
          rmSync(join(dataDir, HOLDER_FILE), { force: true });
      } finally {
        db.close();
        held.delete(lock);
      }
    },
  };
  held.add(lock);
  return lock;
}

/** One attempt at the data dir's lock; fails at once when another connection holds it. */
export function tryLockDataDir(dataDir: string, who: LockOwner): TryLockResult {
  let db: Database.Database | undefined;
  try {
    db = takeLock(prepareLockFile(dataDir));
    if (db === undefined) return { ok: false, holder: readLockHolder(dataDir) };
    const holder: LockHolder = {
      pid: process.pid,
      role: who.role,
      command: who.command,
      since: new Date().toISOString(),
      hostname: hostname(),
      pidNamespace: ourPidNamespace(),
    };
    writeSidecar(dataDir, holder);
    return { ok: true, lock: heldLock(dataDir, db, holder) };
  } catch (err) {
    db?.close();
    throw new StateError('DataDirLockFailed', `cannot lock the data dir ${dataDir}`, {
      cause: err,
      place: { file: join(dataDir, LOCK_FILE) },
    });
  }
}

/**
 * Takes the data dir's lock, polling until `waitMs` has passed; then throws DataDirLockedError
 * (reason DataDirLocked), whose message and `holder` name who has it. The sidecar is re-read on
 * every poll: the holder may change while we wait.
 */
export async function lockDataDir(
  dataDir: string,
  who: LockOwner,
  options: LockWaitOptions,
): Promise<DataDirLock> {
  const clock = options.clock ?? systemClock;
  const pollMs = options.pollMs ?? 200;
  const start = clock.now();
  for (;;) {
    options.signal?.throwIfAborted();
    const attempt = tryLockDataDir(dataDir, who);
    if (attempt.ok) return attempt.lock;
    const waited = clock.now() - start;
    if (waited >= options.waitMs) throw new DataDirLockedError(dataDir, attempt.holder, waited);
    await clock.sleep(Math.min(pollMs, options.waitMs - waited), options.signal);
  }
}
