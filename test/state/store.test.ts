import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { StateError } from '../../src/errors.js';
import { MIGRATIONS } from '../../src/state/migrations.js';
import { openStateStore } from '../../src/state/store.js';
import { thrown } from './thrown.js';
import type { StateStore } from '../../src/state/types.js';

function fakeClock(start = Date.UTC(2026, 0, 1)): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    sleep: () => Promise.resolve(),
    advance(ms: number) {
      now += ms;
    },
  };
}

const HEALTHY = {
  stack: 'web',
  version: 'v1',
  commit: 'c1',
  health: 'healthy',
  detail: '',
} as const;

const DEPLOY = {
  stack: 'web',
  version: 'v1',
  commit: 'c1',
  method: 'simple',
  trigger: 'reconcile',
};

describe('openStateStore', () => {
  let dir: string;
  let dbPath: string;
  let clock: ReturnType<typeof fakeClock>;
  let store: StateStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-state-'));
    dbPath = join(dir, 'sub', 'berth.db');
    clock = fakeClock();
    store = openStateStore(dbPath, { clock });
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('uses WAL, foreign keys and a schema version', () => {
    store.close();
    const db = new Database(dbPath, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length);
    } finally {
      db.close();
    }
    store = openStateStore(dbPath, { clock });
  });

  it('creates, updates and lists stacks', () => {
    expect(store.getStack('web')).toBeUndefined();
    const created = store.upsertStack('web', {
      state: 'STABLE',
      running: { version: 'v1', commit: 'c1' },
    });
    expect(created).toEqual({
      name: 'web',
      state: 'STABLE',
      suspended: false,
      running: { version: 'v1', commit: 'c1' },
      conditions: [],
      updatedAt: '2026-01-01T00:00:00.000Z',
    });
    clock.advance(1000);
    store.upsertStack('web', {
      good: { version: 'v1', commit: 'c1' },
      suspended: true,
      health: 'healthy',
      lastAppliedVersion: 'v1',
      lastAttemptedVersion: 'v1',
    });
    store.upsertStack('api', {});
    expect(store.getStack('web')).toEqual({
      name: 'web',
      state: 'STABLE',
      suspended: true,
      running: { version: 'v1', commit: 'c1' },
      good: { version: 'v1', commit: 'c1' },
      health: 'healthy',
      lastAppliedVersion: 'v1',
      lastAttemptedVersion: 'v1',
      conditions: [],
      updatedAt: '2026-01-01T00:00:01.000Z',
    });
    expect(store.listStacks().map((s) => [s.name, s.state])).toEqual([
      ['api', 'CREATING'],
      ['web', 'STABLE'],
    ]);
  });

  it('clears an optional field given as undefined', () => {
    store.upsertStack('web', { running: { version: 'v1', commit: 'c1' }, health: 'healthy' });
    store.upsertStack('web', { running: undefined });
    const record = store.getStack('web')!;
    expect(record.running).toBeUndefined();
    expect(record.health).toBe('healthy');
  });

  it('keeps lastTransitionTime while the status stays the same', () => {
    store.setCondition('web', {
      type: 'Ready',
      status: 'False',
      reason: 'Progressing',
      message: 'deploying',
    });
    clock.advance(5000);
    store.setCondition('web', {
      type: 'Ready',
      status: 'False',
      reason: 'HealthCheckFailed',
      message: 'unhealthy',
    });
    store.setCondition('web', {
      type: 'Stalled',
      status: 'True',
      reason: 'VersionMarkedBad',
      message: 'bad',
    });
    let ready = store.getStack('web')!.conditions.find((c) => c.type === 'Ready')!;
    expect(ready).toEqual({
      type: 'Ready',
      status: 'False',
      reason: 'HealthCheckFailed',
      message: 'unhealthy',
      lastTransitionTime: '2026-01-01T00:00:00.000Z',
    });
    clock.advance(5000);
    store.setCondition('web', {
      type: 'Ready',
      status: 'True',
      reason: 'ReconciliationSucceeded',
      message: 'ok',
    });
    const conditions = store.getStack('web')!.conditions;
    ready = conditions.find((c) => c.type === 'Ready')!;
    expect(ready.lastTransitionTime).toBe('2026-01-01T00:00:10.000Z');
    expect(conditions.map((c) => c.type)).toEqual(['Ready', 'Stalled']);
    expect(conditions.find((c) => c.type === 'Stalled')!.lastTransitionTime).toBe(
      '2026-01-01T00:00:05.000Z',
    );
  });

  it('records deployments, updates them and finds unfinished ones', () => {
    const first = store.startDeployment({ ...DEPLOY, previousVersion: 'v0' });
    expect(first).toEqual({
      ...DEPLOY,
      id: first.id,
      previousVersion: 'v0',
      state: 'QUEUED',
      startedAt: '2026-01-01T00:00:00.000Z',
    });
    const second = store.startDeployment({ ...DEPLOY, version: 'v2', state: 'RUNNING' });
    const third = store.startDeployment({ ...DEPLOY, stack: 'api', state: 'WAITING' });
    clock.advance(2000);
    store.updateDeployment(first.id, { state: 'DONE', result: 'succeeded', message: 'healthy' });
    expect(store.listDeployments('web')).toEqual([
      { ...second },
      {
        ...first,
        state: 'DONE',
        result: 'succeeded',
        message: 'healthy',
        finishedAt: '2026-01-01T00:00:02.000Z',
      },
    ]);
    expect(store.listDeployments('web', 1).map((d) => d.id)).toEqual([second.id]);
    expect(store.unfinishedDeployments().map((d) => d.id)).toEqual([second.id, third.id]);
  });

  it('refuses to update or journal an unknown deployment', () => {
    expect(() => store.updateDeployment(999, { state: 'DONE' })).toThrow(StateError);
    expect(() => store.journal(999, 'apply')).toThrow(/deployment 999 does not exist/);
  });

  it('journals steps in order and appends to the log', () => {
    const deployment = store.startDeployment(DEPLOY);
    store.journal(deployment.id, 'stop');
    clock.advance(10);
    store.journal(deployment.id, 'apply', 'v1');
    expect(store.getJournal(deployment.id)).toEqual([
      {
        deploymentId: deployment.id,
        seq: 1,
        step: 'stop',
        detail: '',
        at: '2026-01-01T00:00:00.000Z',
      },
      {
        deploymentId: deployment.id,
        seq: 2,
        step: 'apply',
        detail: 'v1',
        at: '2026-01-01T00:00:00.010Z',
      },
    ]);
    store.appendLog(deployment.id, 'pre-deploy hook output\nline 2');
    store.appendLog(deployment.id, 'healthy\n');
    expect(store.getLog(deployment.id)).toBe('pre-deploy hook output\nline 2\nhealthy\n');
    expect(store.getLog(12345)).toBe('');
  });

  it('prunes finished deployments beyond the bound, with their journal and log', () => {
    store.close();
    store = openStateStore(dbPath, { clock, maxDeployments: 3 });
    const running = store.startDeployment({ ...DEPLOY, state: 'RUNNING' });
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const d = store.startDeployment({ ...DEPLOY, version: `v${i}` });
      store.journal(d.id, 'apply');
      store.appendLog(d.id, 'x');
      store.updateDeployment(d.id, { state: 'DONE' });
      ids.push(d.id);
    }
    store.startDeployment({ ...DEPLOY, stack: 'api' });
    const kept = store.listDeployments('web', 100).map((d) => d.id);
    // The unfinished one survives pruning: recovery still needs it.
    expect(kept).toEqual([ids[4], ids[3], ids[2], running.id]);
    expect(store.getJournal(ids[0]!)).toEqual([]);
    expect(store.getLog(ids[0]!)).toBe('');
    expect(store.listDeployments('api')).toHaveLength(1);
  });

  it('records health history newest first and bounded per stack', () => {
    store.close();
    store = openStateStore(dbPath, { clock, maxHealthRecords: 5 });
    for (let i = 0; i < 8; i++) {
      clock.advance(1000);
      store.recordHealth({
        stack: 'web',
        version: 'v1',
        commit: 'c1',
        health: i % 2 ? 'healthy' : 'unhealthy',
        detail: `check ${i}`,
      });
    }
    store.recordHealth({
      stack: 'api',
      version: 'v1',
      commit: 'c1',
      health: 'healthy',
      detail: '',
    });
    const history = store.healthHistory('web', 100);
    expect(history.map((h) => h.detail)).toEqual([
      'check 7',
      'check 6',
      'check 5',
      'check 4',
      'check 3',
    ]);
    expect(history[0]).toEqual({
      stack: 'web',
      version: 'v1',
      commit: 'c1',
      health: 'healthy',
      detail: 'check 7',
      at: '2026-01-01T00:00:08.000Z',
    });
    expect(store.healthHistory('web', 2)).toHaveLength(2);
    expect(store.healthHistory('api')).toHaveLength(1);
  });

  it('marks, finds, lists and unmarks bad versions', () => {
    store.markBad({ stack: 'web', version: 'v2', commit: 'c2', reason: 'unhealthy' });
    clock.advance(1000);
    store.markBad({ stack: 'web', version: 'v3', commit: 'c3', reason: 'unhealthy' });
    store.markBad({ stack: 'api', version: 'v9', commit: 'c9', reason: 'exit 1' });
    // Marking again updates the one mark instead of adding a second.
    store.markBad({ stack: 'web', version: 'v2', commit: 'c2b', reason: 'again' });
    expect(store.isBad('web', 'v2')).toEqual({
      stack: 'web',
      version: 'v2',
      commit: 'c2b',
      reason: 'again',
      at: '2026-01-01T00:00:01.000Z',
    });
    expect(store.isBad('web', 'v1')).toBeUndefined();
    expect(store.listBad().map((b) => `${b.stack}/${b.version}`)).toEqual([
      'api/v9',
      'web/v2',
      'web/v3',
    ]);
    expect(store.listBad('web')).toHaveLength(2);
    expect(store.unmark('web', 'v2')).toBe(1);
    expect(store.unmark('web', 'v2')).toBe(0);
    expect(store.unmark('web')).toBe(1);
    expect(store.listBad()).toHaveLength(1);
  });

  it('keeps everything across a reopen', () => {
    store.upsertStack('web', { state: 'STABLE', good: { version: 'v1', commit: 'c1' } });
    store.setCondition('web', {
      type: 'Ready',
      status: 'True',
      reason: 'ReconciliationSucceeded',
      message: '',
    });
    const d = store.startDeployment({ ...DEPLOY, state: 'RUNNING' });
    store.journal(d.id, 'apply');
    store.appendLog(d.id, 'hello');
    store.markBad({ stack: 'web', version: 'v0', commit: 'c0', reason: 'x' });
    store.recordHealth(HEALTHY);
    const before = {
      stack: store.getStack('web'),
      deployments: store.listDeployments('web'),
      journal: store.getJournal(d.id),
      log: store.getLog(d.id),
      bad: store.listBad(),
      health: store.healthHistory('web'),
    };
    store.close();
    store = openStateStore(dbPath, { clock });
    expect({
      stack: store.getStack('web'),
      deployments: store.listDeployments('web'),
      journal: store.getJournal(d.id),
      log: store.getLog(d.id),
      bad: store.listBad(),
      health: store.healthHistory('web'),
    }).toEqual(before);
    expect(store.unfinishedDeployments().map((x) => x.id)).toEqual([d.id]);
  });

  it('rolls a failed write back as a whole', () => {
    store.close();
    store = openStateStore(dbPath, { clock, maxDeployments: 1 });
    const d = store.startDeployment(DEPLOY);
    store.updateDeployment(d.id, { state: 'DONE' });
    store.close();
    // The insert succeeds, the pruning in the same write fails: the insert must not stay.
    const raw = new Database(dbPath);
    raw.exec(`CREATE TRIGGER no_prune BEFORE DELETE ON deployments
      BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    raw.close();
    store = openStateStore(dbPath, { clock, maxDeployments: 1 });
    expect(() => store.startDeployment({ ...DEPLOY, version: 'v2' })).toThrow(StateError);
    expect(store.listDeployments('web').map((x) => x.id)).toEqual([d.id]);
  });

  it('shares one file between two open stores (daemon and CLI)', () => {
    const other = openStateStore(dbPath, { clock });
    try {
      store.markBad({ stack: 'web', version: 'v2', commit: 'c2', reason: 'unhealthy' });
      expect(other.isBad('web', 'v2')?.reason).toBe('unhealthy');
      other.upsertStack('web', { state: 'STABLE' });
      expect(store.getStack('web')?.state).toBe('STABLE');
    } finally {
      other.close();
    }
  });

  it('finds one deployment by id', () => {
    const d = store.startDeployment({ ...DEPLOY, previousVersion: 'v0' });
    store.updateDeployment(d.id, { state: 'DONE', result: 'succeeded' });
    expect(store.getDeployment(d.id)).toEqual(store.listDeployments('web')[0]);
    expect(store.getDeployment(d.id)).toMatchObject({
      id: d.id,
      stack: 'web',
      previousVersion: 'v0',
      state: 'DONE',
      result: 'succeeded',
    });
    expect(store.getDeployment(d.id + 1)).toBeUndefined();
  });

  it('refuses a database from a newer berth', () => {
    store.close();
    const raw = new Database(dbPath);
    raw.pragma('user_version = 99');
    raw.close();
    expect(() => openStateStore(dbPath)).toThrow(/newer than this berth knows/);
    const fixed = new Database(dbPath);
    fixed.pragma(`user_version = ${MIGRATIONS.length}`);
    fixed.close();
    store = openStateStore(dbPath, { clock });
  });
});

describe('openStateStore readonly', () => {
  let dir: string;
  let dbPath: string;
  let writer: StateStore;
  const opened: StateStore[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-state-ro-'));
    dbPath = join(dir, 'berth.db');
    writer = openStateStore(dbPath, { clock: fakeClock() });
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) store.close();
    writer.close();
    await rm(dir, { recursive: true, force: true });
  });

  function reader(path = dbPath): StateStore {
    const store = openStateStore(path, { readonly: true });
    opened.push(store);
    return store;
  }

  function pragma(name: string): unknown {
    const raw = new Database(dbPath, { readonly: true });
    try {
      return raw.pragma(name, { simple: true });
    } finally {
      raw.close();
    }
  }

  it('reads what a writer writes while the writer has the file open', () => {
    const store = reader();
    expect(store.listStacks()).toEqual([]);
    writer.upsertStack('web', { state: 'STABLE' });
    const d = writer.startDeployment({ ...DEPLOY, state: 'RUNNING' });
    writer.journal(d.id, 'apply', 'web');
    writer.recordHealth(HEALTHY);
    expect(store.getStack('web')?.state).toBe('STABLE');
    expect(store.getDeployment(d.id)).toEqual(d);
    expect(store.getJournal(d.id).map((j) => j.step)).toEqual(['apply']);
    expect(store.healthHistory('web', 1)[0]?.health).toBe('healthy');
    expect(store.unfinishedDeployments()).toEqual([d]);
  });

  it('refuses every write with StateReadOnly and changes nothing', () => {
    const d = writer.startDeployment(DEPLOY);
    const store = reader();
    const writes: (() => unknown)[] = [
      () => store.upsertStack('web', { state: 'STABLE' }),
      () =>
        store.setCondition('web', {
          type: 'Ready',
          status: 'True',
          reason: 'Progressing',
          message: '',
        }),
      () => store.startDeployment(DEPLOY),
      () => store.updateDeployment(d.id, { state: 'DONE' }),
      () => store.journal(d.id, 'apply'),
      () => store.appendLog(d.id, 'x'),
      () => store.recordHealth(HEALTHY),
      () => store.markBad({ stack: 'web', version: 'v1', commit: 'c1', reason: 'x' }),
      () => store.unmark('web'),
    ];
    for (const write of writes) {
      const err = thrown(write);
      expect(err).toBeInstanceOf(StateError);
      expect(err).toMatchObject({ reason: 'StateReadOnly' });
    }
    expect(writer.listStacks()).toEqual([]);
    expect(writer.listDeployments('web')).toEqual([d]);
    expect(writer.getJournal(d.id)).toEqual([]);
    expect(writer.healthHistory('web')).toEqual([]);
    expect(writer.listBad()).toEqual([]);
  });

  it('neither migrates nor changes the journal mode', () => {
    writer.upsertStack('web', { state: 'STABLE' });
    writer.close();
    const raw = new Database(dbPath);
    raw.pragma('journal_mode = DELETE');
    raw.close();
    expect(reader().getStack('web')?.state).toBe('STABLE');
    expect(pragma('journal_mode')).toBe('delete');

    const old = new Database(dbPath);
    old.pragma('user_version = 1');
    old.close();
    expect(thrown(() => reader())).toMatchObject({ reason: 'StateSchemaOld' });
    expect(pragma('user_version')).toBe(1);

    const newer = new Database(dbPath);
    newer.pragma('user_version = 99');
    newer.close();
    expect(thrown(() => reader())).toMatchObject({ reason: 'StateSchemaTooNew' });
  });

  it('throws NoState where no berth has written state yet, creating nothing', async () => {
    const missing = join(dir, 'none', 'berth.db');
    expect(thrown(() => reader(missing))).toMatchObject({
      reason: 'NoState',
      message: expect.stringContaining(missing),
    });
    await expect(readdir(dir)).resolves.not.toContain('none');

    const empty = join(dir, 'empty.db');
    await writeFile(empty, '');
    expect(thrown(() => reader(empty))).toMatchObject({ reason: 'NoState' });
  });
});
