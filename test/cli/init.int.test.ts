import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { ROOT } from '../helpers/berth-bin.js';
import { runBerth } from './run-cli.js';

const COMPOSE = 'services:\n  app:\n    image: berth-fixture/busybox:latest\n';
const SCHEMA = path.join(ROOT, 'schemas', 'berth.schema.json');

describe('berth init (built CLI, temp folders)', { timeout: 120_000 }, () => {
  let tmp: string;

  beforeEach(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'berth-init-'));
  });

  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  async function write(file: string, text: string): Promise<void> {
    await mkdir(path.dirname(path.join(tmp, file)), { recursive: true });
    await writeFile(path.join(tmp, file), text);
  }

  it('writes a config for the local repository it runs in, which validate accepts', async () => {
    const repo = path.join(tmp, 'repo');
    await write('repo/stacks/web/compose.yaml', COMPOSE);
    await write('repo/stacks/db/docker-compose.yml', COMPOSE);
    await write('repo/README.md', 'stacks\n');

    const run = await runBerth(['init'], { cwd: repo });
    expect(run.code, run.stderr).toBe(0);
    const file = path.join(repo, 'berth.yaml');
    expect(run.stdout).toContain(`wrote ${file}`);
    const text = await readFile(file, 'utf8');
    const first = text.split('\n')[0];
    if (existsSync(SCHEMA)) expect(first).toBe(`# yaml-language-server: $schema=${SCHEMA}`);
    else expect(text).not.toContain('yaml-language-server');

    const config = await loadConfig({ file, env: {} });
    expect(config.source).toMatchObject({ kind: 'local', paths: ['stacks/*'] });
    expect(config.server).toBeUndefined();
    expect(existsSync(path.join(repo, 'berth-webhook.secret'))).toBe(false);
    // init writes the config and nothing else: no data dir yet.
    expect(existsSync(config.dataDir)).toBe(false);

    const validate = await runBerth(['validate'], { cwd: repo });
    expect(validate.code, validate.stdout + validate.stderr).toBe(0);
    expect(validate.stdout).toContain(`config ok: ${file}`);
    expect(validate.stdout).toMatch(/^web\s+ok\b/m);
    expect(validate.stdout).toMatch(/^db\s+ok\b/m);
    await rm(config.dataDir, { recursive: true, force: true });
  });

  it('refuses to overwrite an existing config without --force', async () => {
    await write('repo/apps/one/compose.yaml', COMPOSE);
    const repo = path.join(tmp, 'repo');
    expect((await runBerth(['init'], { cwd: repo })).code).toBe(0);
    const file = path.join(repo, 'berth.yaml');
    await writeFile(file, '# mine\n');

    const again = await runBerth(['init'], { cwd: repo });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`${file} exists`);
    expect(again.stderr).toContain('--force');
    expect(await readFile(file, 'utf8')).toBe('# mine\n');

    const forced = await runBerth(['init', '--force', '--path', '.'], { cwd: repo });
    expect(forced.code, forced.stderr).toBe(0);
    expect(await readFile(file, 'utf8')).toContain('apps/*');
  });

  it('writes a git source, a 0600 webhook secret next to it and prints the secret once', async () => {
    const url = `file://${path.join(tmp, 'remote.git')}`;
    const run = await runBerth(
      ['init', '--git', url, '--branch', 'live', '--config', 'etc/berth.yaml'],
      { cwd: tmp, env: { BERTH_DATA_DIR: path.join(tmp, 'state') } },
    );
    expect(run.code, run.stderr).toBe(0);
    const file = path.join(tmp, 'etc', 'berth.yaml');
    const secretFile = path.join(tmp, 'etc', 'berth-webhook.secret');
    expect(((await stat(secretFile)).mode & 0o777).toString(8)).toBe('600');
    const secret = (await readFile(secretFile, 'utf8')).trim();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(run.stdout.split(secret).length - 1).toBe(1);
    // An unknown host: every provider's steps, each with its route.
    for (const provider of ['github', 'gitlab', 'gitea'])
      expect(run.stdout).toContain(`:7070/webhooks/${provider}`);
    expect(run.stdout).toContain('application/json');

    const config = await loadConfig({ file, env: {} });
    expect(config.source).toMatchObject({ kind: 'git', git: { url, branch: 'live' } });
    expect(config.dataDir).toBe(path.join(tmp, 'state'));
    expect(config.server?.listen).toBe('127.0.0.1:7070');
    expect(config.server?.webhooks.github).toEqual({ secretFile: './berth-webhook.secret' });

    // No checkout yet: validate checks the config (the secret file included) and says so.
    const validate = await runBerth(['validate', '--config', file], { cwd: tmp });
    expect(validate.code, validate.stdout + validate.stderr).toBe(0);
    expect(validate.stdout).toContain(`config ok: ${file}`);
    expect(validate.stdout).toContain('stacks not checked');

    // The secret file is part of the config: without it the config is wrong.
    await rm(secretFile);
    const broken = await runBerth(['validate', '--config', file], { cwd: tmp });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('server.webhooks.github.secretFile');
  });

  it('prints one JSON document with --json and takes --listen and --paths', async () => {
    const run = await runBerth(
      [
        'init',
        '--git',
        'https://github.com/example/stacks.git',
        '--listen',
        '0.0.0.0:7070',
        '--paths',
        'stacks/*',
        'apps/*',
        '--json',
      ],
      { cwd: tmp },
    );
    expect(run.code, run.stderr).toBe(0);
    const doc = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({
      ok: true,
      file: path.join(tmp, 'berth.yaml'),
      paths: ['stacks/*', 'apps/*'],
      listen: '0.0.0.0:7070',
      webhooks: ['github'],
    });
    expect(doc.secret).toBe(
      (await readFile(path.join(tmp, 'berth-webhook.secret'), 'utf8')).trim(),
    );
    const config = await loadConfig({ file: path.join(tmp, 'berth.yaml'), env: {} });
    expect(Object.keys(config.server?.webhooks ?? {})).toEqual(['github']);
  });

  it('exits 2 on contradictory or malformed options, writing nothing', async () => {
    const both = await runBerth(['init', '--git', 'https://x.example/r.git', '--path', '.'], {
      cwd: tmp,
    });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
    const listen = await runBerth(['init', '--listen', 'nowhere'], { cwd: tmp });
    expect(listen.code).toBe(2);
    expect(listen.stderr).toContain('host:port');
    const credentials = await runBerth(['init', '--git', 'https://me:pw@x.example/r.git'], {
      cwd: tmp,
    });
    expect(credentials.code).toBe(2);
    expect(credentials.stderr).toContain('source.git.url');
    expect(existsSync(path.join(tmp, 'berth.yaml'))).toBe(false);
    expect(existsSync(path.join(tmp, 'berth-webhook.secret'))).toBe(false);
  });
});
