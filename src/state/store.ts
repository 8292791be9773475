import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock, type Clock } from '../clock.js';
import { BerthError, StateError } from '../errors.js';
import { MIGRATIONS } from './migrations.js';
import {
  PRIVATE_FILE_MODE,
  makePrivateDirSync,
  makePrivateFileSync,
  tightenSync,
} from './private.js';
import type {
  BadVersion,
  Condition,
  DeploymentRecord,
  DeploymentState,
  HealthRecord,
  JournalEntry,
  MigrationRun,
  StackRecord,
  StackState,
  StateStore,
} from './types.js';

export interface StateStoreOptions {
  clock?: Clock;
  /** Deployments kept per stack (with their journal and log); older finished ones are pruned. */
  maxDeployments?: number;
  /** Health records kept per stack. */
  maxHealthRecords?: number;
  /**
   * Read only, for commands that read while the daemon (the data dir lock's holder) writes: no
   * migration, no journal-mode change, and every write throws StateError StateReadOnly.
   */
  readonly?: boolean;
}

export const UNFINISHED_STATES: readonly DeploymentState[] = [
  'QUEUED',
  'TRIGGERED',
  'WAITING',
  'RUNNING',
];
const FINAL_STATES: readonly DeploymentState[] = ['DONE', 'FAILED', 'ROLLED_BACK'];

interface StackRow {
  name: string;
  state: string;
  suspended: number;
  running_version: string | null;
  running_commit: string | null;
  good_version: string | null;
  good_commit: string | null;
  last_applied_version: string | null;
  last_attempted_version: string | null;
  health: string | null;
  conditions: string;
  carried_versions: string;
  source: string | null;
  updated_at: string;
  /** Joined from version_images. */
  running_images: string | null;
  good_images: string | null;
}

interface DeploymentRow {
  id: number;
  stack: string;
  version: string;
  commit_sha: string;
  previous_version: string | null;
  method: string;
  state: string;
  trigger_name: string;
  started_at: string;
  finished_at: string | null;
  result: string | null;
  message: string | null;
  /** Joined from version_images. */
  images: string | null;
}

interface JournalRow {
  deployment_id: number;
  seq: number;
  step: string;
  detail: string;
  at: string;
}

interface HealthRow {
  stack: string;
  version: string;
  commit_sha: string;
  health: string;
  detail: string;
  at: string;
}

interface BadRow {
  stack: string;
  version: string;
  commit_sha: string;
  reason: string;
  at: string;
  /** Joined from version_images. */
  images: string | null;
}

interface MigrationRunRow {
  stack: string;
  version: string;
  name: string;
  exit_code: number;
  output: string;
  duration_ms: number;
  finished_at: string;
}

function toMigrationRun(row: MigrationRunRow): MigrationRun {
  return {
    stack: row.stack,
    version: row.version,
    name: row.name,
    exitCode: row.exit_code,
    output: row.output,
    durationMs: row.duration_ms,
    finishedAt: row.finished_at,
  };
}

/** A version's image pins (version_images) as JSON; none when it pins nothing. */
function imagesOf(text: string | null): Record<string, string> | undefined {
  if (text === null) return undefined;
  const images = JSON.parse(text) as Record<string, string>;
  return Object.keys(images).length === 0 ? undefined : images;
}

function versionRef(
  version: string | null,
  commit: string | null,
  images: string | null,
): StackRecord['running'] {
  if (version === null) return undefined;
  const pins = imagesOf(images);
  return { version, commit: commit ?? '', ...(pins === undefined ? {} : { images: pins }) };
}

/** Rows with the image pins of their version (image updates) joined in. */
const STACKS_SQL = `SELECT s.*, ri.images AS running_images, gi.images AS good_images FROM stacks s
  LEFT JOIN version_images ri ON ri.stack = s.name AND ri.version = s.running_version
  LEFT JOIN version_images gi ON gi.stack = s.name AND gi.version = s.good_version`;
const DEPLOYMENTS_SQL = `SELECT d.*, vi.images AS images FROM deployments d
  LEFT JOIN version_images vi ON vi.stack = d.stack AND vi.version = d.version`;
const BAD_SQL = `SELECT b.*, vi.images AS images FROM bad_versions b
  LEFT JOIN version_images vi ON vi.stack = b.stack AND vi.version = b.version`;

/** Copies only the keys whose value is defined, so records compare cleanly and stay small. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(
    Object.entries(value).filter(([, v]) => v !== undefined && v !== null),
  ) as T;
}

function toStack(row: StackRow): StackRecord {
  return defined<StackRecord>({
    name: row.name,
    state: row.state as StackState,
    suspended: row.suspended !== 0,
    running: versionRef(row.running_version, row.running_commit, row.running_images),
    good: versionRef(row.good_version, row.good_commit, row.good_images),
    lastAppliedVersion: row.last_applied_version ?? undefined,
    lastAttemptedVersion: row.last_attempted_version ?? undefined,
    health: (row.health ?? undefined) as StackRecord['health'],
    conditions: JSON.parse(row.conditions) as Condition[],
    carriedVersions: carried(row.carried_versions),
    source: row.source ?? undefined,
    updatedAt: row.updated_at,
  });
}

function carried(text: string): string[] | undefined {
  const list = JSON.parse(text) as string[];
  return list.length === 0 ? undefined : list;
}

function toDeployment(row: DeploymentRow): DeploymentRecord {
  return defined<DeploymentRecord>({
    id: row.id,
    stack: row.stack,
    version: row.version,
    commit: row.commit_sha,
    previousVersion: row.previous_version ?? undefined,
    method: row.method,
    state: row.state as DeploymentState,
    trigger: row.trigger_name,
    startedAt: row.started_at,
    finishedAt: row.finished_at ?? undefined,
    result: row.result ?? undefined,
    message: row.message ?? undefined,
    images: imagesOf(row.images),
  });
}

function toJournal(row: JournalRow): JournalEntry {
  return {
    deploymentId: row.deployment_id,
    seq: row.seq,
    step: row.step,
    detail: row.detail,
    at: row.at,
  };
}

function toHealth(row: HealthRow): HealthRecord {
  return {
    stack: row.stack,
    version: row.version,
    commit: row.commit_sha,
    health: row.health as HealthRecord['health'],
    detail: row.detail,
    at: row.at,
  };
}

function toBad(row: BadRow): BadVersion {
  const images = imagesOf(row.images);
  return {
    stack: row.stack,
    version: row.version,
    commit: row.commit_sha,
    reason: row.reason,
    at: row.at,
    ...(images === undefined ? {} : { images }),
  };
}

function schemaVersion(db: Database.Database, file: string): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length)
    throw new StateError(
      'StateSchemaTooNew',
      `state database ${file} has schema version ${current}, newer than this berth knows (${MIGRATIONS.length}); upgrade berth`,
      { place: { file } },
    );
  return current;
}

function migrate(db: Database.Database, file: string): void {
  // Read and migrate under one write lock: a CLI command and the daemon may open the file at once.
  db.transaction(() => {
    const current = schemaVersion(db, file);
    if (current === MIGRATIONS.length) return;
    for (const migration of MIGRATIONS.slice(current)) db.exec(migration);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}

function noState(file: string): StateError {
  return new StateError(
    'NoState',
    `no berth state at ${file} yet: no berth daemon or command has written to this data dir`,
    { place: { file } },
  );
}

function openWritable(dbPath: string): Database.Database {
  const onDisk = dbPath !== ':memory:' && dbPath !== '';
  if (onDisk) {
    makePrivateDirSync(dirname(dbPath));
    // SQLite gives the -wal and -shm files the mode of the database file.
    makePrivateFileSync(dbPath);
  }
  const db = new Database(dbPath);
  try {
    db.pragma('journal_mode = WAL');
    // Ones an older berth left behind keep their mode until tightened.
    if (onDisk)
      for (const suffix of ['-wal', '-shm']) tightenSync(dbPath + suffix, PRIVATE_FILE_MODE);
    // FULL: a journal line must be on disk before the step it announces runs.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, dbPath);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Migrating is the writer's job: a reader needs the schema this berth knows, as it is. */
function openReadonly(dbPath: string): Database.Database {
  if (!existsSync(dbPath)) throw noState(dbPath);
  const db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    const current = schemaVersion(db, dbPath);
    if (current === 0) throw noState(dbPath);
    if (current < MIGRATIONS.length)
      throw new StateError(
        'StateSchemaOld',
        `state database ${dbPath} has schema version ${current}, older than this berth's (${MIGRATIONS.length}); the daemon migrates it when it starts`,
        { place: { file: dbPath } },
      );
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function openDatabase(dbPath: string, readonly: boolean): Database.Database {
  try {
    return readonly ? openReadonly(dbPath) : openWritable(dbPath);
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new StateError('StateOpenFailed', `cannot open the state database ${dbPath}`, {
      cause: err,
      place: { file: dbPath },
    });
  }
}

/**
 * Opens (creating and migrating when needed) berth's SQLite state database. With `readonly`,
 * opens it as it is: a missing file, or one no writer has set up yet, throws StateError NoState
 * (rather than answering "no stacks", which a mistyped data dir would answer too); a schema
 * older or newer than this berth's throws StateSchemaOld or StateSchemaTooNew.
 */
export function openStateStore(dbPath: string, options: StateStoreOptions = {}): StateStore {
  const clock = options.clock ?? systemClock;
  const maxDeployments = options.maxDeployments ?? 200;
  const maxHealth = options.maxHealthRecords ?? 1000;
  const readonly = options.readonly ?? false;
  const db = openDatabase(dbPath, readonly);

  const sql = {
    getStack: db.prepare<[string], StackRow>(`${STACKS_SQL} WHERE s.name = ?`),
    listStacks: db.prepare<[], StackRow>(`${STACKS_SQL} ORDER BY s.name`),
    saveStack: db.prepare(`
      INSERT INTO stacks (name, state, suspended, running_version, running_commit, good_version,
        good_commit, last_applied_version, last_attempted_version, health, conditions,
        carried_versions, source, updated_at)
      VALUES (@name, @state, @suspended, @running_version, @running_commit, @good_version,
        @good_commit, @last_applied_version, @last_attempted_version, @health, @conditions,
        @carried_versions, @source, @updated_at)
      ON CONFLICT (name) DO UPDATE SET state = excluded.state, suspended = excluded.suspended,
        running_version = excluded.running_version, running_commit = excluded.running_commit,
        good_version = excluded.good_version, good_commit = excluded.good_commit,
        last_applied_version = excluded.last_applied_version,
        last_attempted_version = excluded.last_attempted_version, health = excluded.health,
        conditions = excluded.conditions, carried_versions = excluded.carried_versions,
        source = excluded.source, updated_at = excluded.updated_at`),
    insertDeployment: db.prepare(`
      INSERT INTO deployments (stack, version, commit_sha, previous_version, method, state,
        trigger_name, started_at, finished_at, result, message)
      VALUES (@stack, @version, @commit_sha, @previous_version, @method, @state, @trigger_name,
        @started_at, @finished_at, @result, @message)`),
    updateDeployment: db.prepare(`
      UPDATE deployments SET version = @version, commit_sha = @commit_sha,
        previous_version = @previous_version, method = @method, state = @state,
        trigger_name = @trigger_name, started_at = @started_at, finished_at = @finished_at,
        result = @result, message = @message
      WHERE id = @id`),
    getDeployment: db.prepare<[number], DeploymentRow>(`${DEPLOYMENTS_SQL} WHERE d.id = ?`),
    listDeployments: db.prepare<[string, number], DeploymentRow>(
      `${DEPLOYMENTS_SQL} WHERE d.stack = ? ORDER BY d.id DESC LIMIT ?`,
    ),
    unfinished: db.prepare<[], DeploymentRow>(
      `${DEPLOYMENTS_SQL} WHERE d.state IN (${UNFINISHED_STATES.map((s) => `'${s}'`).join(', ')}) ORDER BY d.id`,
    ),
    saveImages: db.prepare<[string, string, string]>(`
      INSERT INTO version_images (stack, version, images) VALUES (?, ?, ?)
      ON CONFLICT (stack, version) DO UPDATE SET images = excluded.images`),
    // Pins of versions nothing refers to any more: no deployment, not running, good or bad.
    pruneImages: db.prepare<[string]>(`
      DELETE FROM version_images AS v WHERE v.stack = ?
        AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.stack = v.stack AND d.version = v.version)
        AND NOT EXISTS (SELECT 1 FROM stacks s WHERE s.name = v.stack
          AND v.version IN (s.running_version, s.good_version))
        AND NOT EXISTS (SELECT 1 FROM bad_versions b WHERE b.stack = v.stack AND b.version = v.version)`),
    // Runs of versions nothing refers to any more, as pruneImages.
    pruneMigrationRuns: db.prepare<[string]>(`
      DELETE FROM migration_runs AS m WHERE m.stack = ?
        AND NOT EXISTS (SELECT 1 FROM deployments d WHERE d.stack = m.stack AND d.version = m.version)
        AND NOT EXISTS (SELECT 1 FROM stacks s WHERE s.name = m.stack
          AND m.version IN (s.running_version, s.good_version))`),
    saveMigrationRun: db.prepare(`
      INSERT INTO migration_runs (stack, version, name, exit_code, output, duration_ms, finished_at)
      VALUES (@stack, @version, @name, @exit_code, @output, @duration_ms, @finished_at)
      ON CONFLICT (stack, version, name) DO UPDATE SET exit_code = excluded.exit_code,
        output = excluded.output, duration_ms = excluded.duration_ms,
        finished_at = excluded.finished_at`),
    migrationRun: db.prepare<[string, string, string], MigrationRunRow>(
      'SELECT * FROM migration_runs WHERE stack = ? AND version = ? AND name = ?',
    ),
    listMigrationRuns: db.prepare<[string], MigrationRunRow>(
      'SELECT * FROM migration_runs WHERE stack = ? ORDER BY finished_at DESC, name',
    ),
    pruneDeployments: db.prepare<[string, string, number]>(`
      DELETE FROM deployments WHERE stack = ?
        AND state IN (${FINAL_STATES.map((s) => `'${s}'`).join(', ')})
        AND id NOT IN (SELECT id FROM deployments WHERE stack = ? ORDER BY id DESC LIMIT ?)`),
    journal: db.prepare<[number, number, string, string, string]>(`
      INSERT INTO deployment_journal (deployment_id, seq, step, detail, at)
      VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM deployment_journal WHERE deployment_id = ?),
        ?, ?, ?)`),
    getJournal: db.prepare<[number], JournalRow>(
      'SELECT * FROM deployment_journal WHERE deployment_id = ? ORDER BY seq',
    ),
    appendLog: db.prepare<[number, string]>(
      'INSERT INTO deployment_logs (deployment_id, text) VALUES (?, ?)',
    ),
    getLog: db.prepare<[number], { text: string }>(
      'SELECT text FROM deployment_logs WHERE deployment_id = ? ORDER BY id',
    ),
    insertHealth: db.prepare(`
      INSERT INTO health_history (stack, version, commit_sha, health, detail, at)
      VALUES (@stack, @version, @commit_sha, @health, @detail, @at)`),
    pruneHealth: db.prepare<[string, string, number]>(`
      DELETE FROM health_history WHERE stack = ?
        AND id NOT IN (SELECT id FROM health_history WHERE stack = ? ORDER BY id DESC LIMIT ?)`),
    healthHistory: db.prepare<[string, number], HealthRow>(
      'SELECT * FROM health_history WHERE stack = ? ORDER BY id DESC LIMIT ?',
    ),
    markBad: db.prepare(`
      INSERT INTO bad_versions (stack, version, commit_sha, reason, at)
      VALUES (@stack, @version, @commit_sha, @reason, @at)
      ON CONFLICT (stack, version) DO UPDATE SET commit_sha = excluded.commit_sha,
        reason = excluded.reason, at = excluded.at`),
    isBad: db.prepare<[string, string], BadRow>(`${BAD_SQL} WHERE b.stack = ? AND b.version = ?`),
    unmarkOne: db.prepare<[string, string]>(
      'DELETE FROM bad_versions WHERE stack = ? AND version = ?',
    ),
    unmarkAll: db.prepare<[string]>('DELETE FROM bad_versions WHERE stack = ?'),
    listBad: db.prepare<[], BadRow>(`${BAD_SQL} ORDER BY b.stack, b.at, b.version`),
    listBadOf: db.prepare<[string], BadRow>(
      `${BAD_SQL} WHERE b.stack = ? ORDER BY b.at, b.version`,
    ),
  };

  function now(): string {
    return new Date(clock.now()).toISOString();
  }

  /** One transaction per write; driver errors become StateErrors that name the operation. */
  function write<T>(operation: string, fn: () => T): T {
    if (readonly)
      throw new StateError(
        'StateReadOnly',
        `state database ${dbPath} is open read-only: ${operation} is for the data dir lock's holder`,
        { place: { file: dbPath } },
      );
    try {
      return db.transaction(fn).immediate();
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new StateError('StateWriteFailed', `state database write failed: ${operation}`, {
        cause: err,
        place: { file: dbPath },
      });
    }
  }

  function loadStack(name: string): StackRecord | undefined {
    const row = sql.getStack.get(name);
    return row === undefined ? undefined : toStack(row);
  }

  function freshStack(name: string): StackRecord {
    return { name, state: 'CREATING', suspended: false, conditions: [], updatedAt: now() };
  }

  function saveStack(record: StackRecord): void {
    sql.saveStack.run({
      name: record.name,
      state: record.state,
      suspended: record.suspended ? 1 : 0,
      running_version: record.running?.version ?? null,
      running_commit: record.running?.commit ?? null,
      good_version: record.good?.version ?? null,
      good_commit: record.good?.commit ?? null,
      last_applied_version: record.lastAppliedVersion ?? null,
      last_attempted_version: record.lastAttemptedVersion ?? null,
      health: record.health ?? null,
      conditions: JSON.stringify(record.conditions),
      carried_versions: JSON.stringify(record.carriedVersions ?? []),
      source: record.source ?? null,
      updated_at: record.updatedAt,
    });
  }

  function deploymentParams(record: Omit<DeploymentRecord, 'id'>): Record<string, unknown> {
    return {
      stack: record.stack,
      version: record.version,
      commit_sha: record.commit,
      previous_version: record.previousVersion ?? null,
      method: record.method,
      state: record.state,
      trigger_name: record.trigger,
      started_at: record.startedAt,
      finished_at: record.finishedAt ?? null,
      result: record.result ?? null,
      message: record.message ?? null,
    };
  }

  /** A version's pins, recorded once for all that refer to it; nothing for a version without. */
  function saveImages(stack: string, version: string, images: DeploymentRecord['images']): void {
    if (images === undefined || Object.keys(images).length === 0 || version === '') return;
    sql.saveImages.run(stack, version, JSON.stringify(images));
  }

  function findDeployment(id: number): DeploymentRecord | undefined {
    const row = sql.getDeployment.get(id);
    return row === undefined ? undefined : toDeployment(row);
  }

  function loadDeployment(id: number): DeploymentRecord {
    const found = findDeployment(id);
    if (found === undefined)
      throw new StateError('DeploymentNotFound', `deployment ${id} does not exist`);
    return found;
  }

  return {
    getStack: loadStack,

    listStacks(): StackRecord[] {
      return sql.listStacks.all().map(toStack);
    },

    upsertStack(name, patch): StackRecord {
      return write('upsertStack', () => {
        const current = loadStack(name) ?? freshStack(name);
        // A key present with `undefined` clears that field; required fields keep their value.
        const next: StackRecord = {
          ...current,
          ...patch,
          name,
          state: patch.state ?? current.state,
          suspended: patch.suspended ?? current.suspended,
          conditions: patch.conditions ?? current.conditions,
          updatedAt: now(),
        };
        saveStack(next);
        return defined(next);
      });
    },

    setCondition(name, condition): void {
      write('setCondition', () => {
        const current = loadStack(name) ?? freshStack(name);
        const previous = current.conditions.find((c) => c.type === condition.type);
        // Flux semantics: the transition time moves only when the status changes.
        const lastTransitionTime =
          previous !== undefined && previous.status === condition.status
            ? previous.lastTransitionTime
            : now();
        const next: Condition = {
          type: condition.type,
          status: condition.status,
          reason: condition.reason,
          message: condition.message,
          lastTransitionTime,
        };
        const conditions =
          previous === undefined
            ? [...current.conditions, next]
            : current.conditions.map((c) => (c.type === condition.type ? next : c));
        saveStack({ ...current, conditions, updatedAt: now() });
      });
    },

    startDeployment(input): DeploymentRecord {
      return write('startDeployment', () => {
        const record: Omit<DeploymentRecord, 'id'> = {
          ...input,
          state: input.state ?? 'QUEUED',
          startedAt: now(),
        };
        const id = Number(sql.insertDeployment.run(deploymentParams(record)).lastInsertRowid);
        saveImages(record.stack, record.version, record.images);
        sql.pruneDeployments.run(input.stack, input.stack, maxDeployments);
        sql.pruneImages.run(input.stack);
        sql.pruneMigrationRuns.run(input.stack);
        return loadDeployment(id);
      });
    },

    updateDeployment(id, patch): void {
      write('updateDeployment', () => {
        const current = loadDeployment(id);
        const next: DeploymentRecord = { ...current, ...patch, id, stack: current.stack };
        // A deployment that reaches a final state has finished, even if the caller forgot to say when.
        if (FINAL_STATES.includes(next.state) && next.finishedAt === undefined)
          next.finishedAt = now();
        sql.updateDeployment.run({ ...deploymentParams(next), id });
        if (patch.images !== undefined) saveImages(next.stack, next.version, patch.images);
      });
    },

    journal(id, step, detail = ''): void {
      write('journal', () => {
        loadDeployment(id);
        sql.journal.run(id, id, step, detail, now());
      });
    },

    appendLog(id, text): void {
      write('appendLog', () => {
        loadDeployment(id);
        sql.appendLog.run(id, text.endsWith('\n') ? text : `${text}\n`);
      });
    },

    getLog(id): string {
      return sql.getLog
        .all(id)
        .map((row) => row.text)
        .join('');
    },

    getJournal(id): JournalEntry[] {
      return sql.getJournal.all(id).map(toJournal);
    },

    getDeployment: findDeployment,

    listDeployments(stack, limit = 50): DeploymentRecord[] {
      return sql.listDeployments.all(stack, limit).map(toDeployment);
    },

    unfinishedDeployments(): DeploymentRecord[] {
      return sql.unfinished.all().map(toDeployment);
    },

    recordHealth(record): void {
      write('recordHealth', () => {
        sql.insertHealth.run({
          stack: record.stack,
          version: record.version,
          commit_sha: record.commit,
          health: record.health,
          detail: record.detail,
          at: now(),
        });
        sql.pruneHealth.run(record.stack, record.stack, maxHealth);
      });
    },

    healthHistory(stack, limit = 100): HealthRecord[] {
      return sql.healthHistory.all(stack, limit).map(toHealth);
    },

    markBad(input): void {
      write('markBad', () => {
        sql.markBad.run({
          stack: input.stack,
          version: input.version,
          commit_sha: input.commit,
          reason: input.reason,
          at: now(),
        });
      });
    },

    isBad(stack, version): BadVersion | undefined {
      const row = sql.isBad.get(stack, version);
      return row === undefined ? undefined : toBad(row);
    },

    unmark(stack, version): number {
      return write('unmark', () =>
        version === undefined
          ? sql.unmarkAll.run(stack).changes
          : sql.unmarkOne.run(stack, version).changes,
      );
    },

    listBad(stack): BadVersion[] {
      return (stack === undefined ? sql.listBad.all() : sql.listBadOf.all(stack)).map(toBad);
    },

    recordMigrationRun(run): void {
      write('recordMigrationRun', () => {
        sql.saveMigrationRun.run({
          stack: run.stack,
          version: run.version,
          name: run.name,
          exit_code: run.exitCode,
          output: run.output,
          duration_ms: Math.round(run.durationMs),
          finished_at: now(),
        });
      });
    },

    migrationRun(stack, version, name): MigrationRun | undefined {
      const row = sql.migrationRun.get(stack, version, name);
      return row === undefined ? undefined : toMigrationRun(row);
    },

    listMigrationRuns(stack): MigrationRun[] {
      return sql.listMigrationRuns.all(stack).map(toMigrationRun);
    },

    close(): void {
      if (db.open) db.close();
    },
  };
}
