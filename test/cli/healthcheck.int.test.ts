import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess } from '../helpers/daemon-process.js';
import { Harness } from '../helpers/harness.js';
import { runBerth } from './run-cli.js';

const YEARLY = 'schedule: "0 0 1 1 *"';

describe('berth healthcheck (built CLI)', { timeout: 180_000 }, () => {
  let h: Harness | undefined;
  let daemon: DaemonProcess | undefined;
  let tmp: string | undefined;

  afterEach(async () => {
    await daemon?.stop('SIGKILL');
    daemon = undefined;
    await h?.cleanup();
    h = undefined;
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
    tmp = undefined;
  });

  it('exits 0 while the daemon of the data dir answers, 1 once it has stopped', async () => {
    h = await Harness.create();
    const config = await h.writeConfig([YEARLY]);
    daemon = DaemonProcess.start(['daemon', '--config', config]);
    await daemon.waitForLog('daemon started', 60_000);

    // The config the way the image finds it: ./berth.yaml in the working directory.
    const up = await runBerth(['healthcheck'], { cwd: path.dirname(config) });
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toBe('');
    expect(up.stderr).toBe('');

    const json = await runBerth(['healthcheck', '--json', '--config', config]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, dataDir: h.dataDir });

    expect(await daemon.stop('SIGTERM')).toBe(0);
    daemon = undefined;
    const down = await runBerth(['healthcheck', '--config', config]);
    expect(down.code).toBe(1);
    expect(down.stdout).toBe('');
    const lines = down.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('no daemon is running');
    expect(lines[0]).toContain(h.dataDir);
  });

  it('says a daemon that does not answer timed out, and writes nothing', async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'berth-hc-'));
    const dataDir = path.join(tmp, 'data');
    await mkdir(dataDir);
    const config = path.join(tmp, 'berth.yaml');
    await writeFile(config, `source:\n  path: ${tmp}\ndataDir: ${dataDir}\n`);
    // Accepts connections and never answers: a daemon stuck, as far as a client can tell.
    const sockets: Socket[] = [];
    const server: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(path.join(dataDir, 'berth.sock'), resolve));
    try {
      const before = await readdir(dataDir);
      const started = Date.now();
      const run = await runBerth(['healthcheck', '--config', config]);
      const tookMs = Date.now() - started;
      expect(run.code).toBe(1);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toContain('did not answer within 3000 ms');
      expect(tookMs).toBeGreaterThanOrEqual(3_000);
      expect(tookMs).toBeLessThan(15_000);
      expect(await readdir(dataDir)).toEqual(before);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('exits 1 (never 2, which Docker reserves) without a config, creating no data dir', async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'berth-hc-'));
    const none = await runBerth(['healthcheck'], { cwd: tmp });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no configuration found');
    expect(none.stderr.trim().split('\n')).toHaveLength(1);

    const dataDir = path.join(tmp, 'never');
    const env = { BERTH_SOURCE_PATH: tmp, BERTH_DATA_DIR: dataDir };
    const envOnly = await runBerth(['healthcheck'], { cwd: tmp, env });
    expect(envOnly.code).toBe(1);
    expect(envOnly.stderr).toContain('no daemon is running');
    expect(existsSync(dataDir)).toBe(false);
  });
});
