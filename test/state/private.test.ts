import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startControlSocket } from '../../src/daemon/control-socket.js';
import { createLogger } from '../../src/log.js';
import { clearStaging } from '../../src/reconciler/staging.js';
import { createStackFolders } from '../../src/state/folders.js';
import { lockDataDir } from '../../src/state/lock.js';
import { secureDataDir } from '../../src/state/private.js';
import { openStateStore } from '../../src/state/store.js';

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: () => string[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done): void {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    logger: createLogger({ level: 'info', destination }),
    lines: () => chunks.join('').split('\n').filter(Boolean),
  };
}

describe.each([0o022, 0o000])('data dir modes under umask %o', (umask) => {
  let tmp: string;
  let previous: number;

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-modes-'));
    previous = process.umask(umask);
  });
  afterEach(async () => {
    process.umask(previous);
    await rm(tmp, { recursive: true, force: true });
  });

  it('creates the data dir 0700 and the lock, database, socket and stack folders private', async () => {
    // Two levels missing: every folder berth creates on the way is private.
    const dataDir = join(tmp, 'var', 'berth');
    const lock = await lockDataDir(dataDir, { role: 'cli', command: 'test' }, { waitMs: 0 });
    const store = openStateStore(join(dataDir, 'berth.db'));
    const socket = await startControlSocket(dataDir, new Hono());
    try {
      const source = join(tmp, 'src', 'web');
      await mkdir(source, { recursive: true });
      await writeFile(join(source, 'compose.yaml'), 'services: {}\n');
      const folders = createStackFolders(dataDir);
      await folders.putRunning('web', source, { commit: 'c1', version: 'v1' });
      await folders.snapshotGood('web');
      await clearStaging(join(dataDir, 'staging'));

      expect(await mode(join(tmp, 'var'))).toBe(0o700);
      for (const dir of ['', 'running_stacks', 'good_stacks', 'staging'])
        expect([dir, await mode(join(dataDir, dir))]).toEqual([dir, 0o700]);
      for (const file of [
        'berth.db',
        'berth.db-wal',
        'berth.db-shm',
        'berth.lock',
        'berth.lock.json',
        'berth.sock',
      ])
        expect([file, await mode(join(dataDir, file))]).toEqual([file, 0o600]);
    } finally {
      await socket.close(0);
      store.close();
      lock.release();
    }
  });

  it('tightens files and folders an older berth left open, warning once', async () => {
    const dataDir = join(tmp, 'data');
    await mkdir(join(dataDir, 'running_stacks'), { recursive: true });
    await writeFile(join(dataDir, 'berth.lock'), '');
    await writeFile(join(dataDir, 'berth.db'), '');
    await chmod(dataDir, 0o755);
    await chmod(join(dataDir, 'running_stacks'), 0o777);
    await chmod(join(dataDir, 'berth.lock'), 0o644);
    await chmod(join(dataDir, 'berth.db'), 0o666);

    const lock = await lockDataDir(dataDir, { role: 'cli', command: 'test' }, { waitMs: 0 });
    const store = openStateStore(join(dataDir, 'berth.db'));
    try {
      const { logger, lines } = capturingLogger();
      secureDataDir(dataDir, logger);
      secureDataDir(dataDir, logger);
      const warnings = lines().filter((l) => l.includes('data dir was open to other users'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0] ?? '{}')).toMatchObject({ dataDir, mode: '0755' });
      expect(await mode(dataDir)).toBe(0o700);
      expect(await mode(join(dataDir, 'running_stacks'))).toBe(0o700);
      for (const file of ['berth.lock', 'berth.db', 'berth.db-wal', 'berth.db-shm'])
        expect([file, await mode(join(dataDir, file))]).toEqual([file, 0o600]);
    } finally {
      store.close();
      lock.release();
    }
  });
});
