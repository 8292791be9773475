import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/berth-bin.js';
import { runBerth } from './run-cli.js';

const COMPOSE = 'services:\n  app:\n    image: berth-fixture/busybox:latest\n';
/** A stack validate would call invalid: it must not be looked at while the config is wrong. */
const BAD_COMPOSE = 'services:\n  app:\n    use_api_socket: true\n';

let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-valcfg-'));
  await write('repo/stacks/good/compose.yaml', COMPOSE);
  await write('repo/stacks/bad/compose.yaml', BAD_COMPOSE);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function write(file: string, text: string): Promise<string> {
  const full = path.join(tmp, file);
  await mkdir(path.dirname(full), { recursive: true });
  await writeFile(full, text);
  return full;
}

describe('berth validate: the configuration first', { timeout: 120_000 }, () => {
  it('reports every config problem with file and field, exit 2, and checks no stack', async () => {
    const config = await write(
      'broken/berth.yaml',
      [
        'source:',
        `  path: ${path.join(tmp, 'repo')}`,
        '  git:',
        '    url: file:///nowhere',
        '  paths: stacks/*',
        'defaults:',
        '  healthTimeout: 5x',
        'bogus: 1',
        'server:',
        '  webhooks:',
        '    github: { secretFile: ./missing.secret }',
        '',
      ].join('\n'),
    );
    const run = await runBerth(['validate', '--config', config], { cwd: tmp });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const problems = run.stderr.split('\n').filter((l) => l.startsWith('  - '));
    for (const field of ['source:', 'defaults.healthTimeout', 'bogus']) {
      const line = problems.find((p) => p.includes(field));
      expect(line, `${field} in\n${run.stderr}`).toBeDefined();
      expect(line).toContain(config);
    }
    expect(run.stderr).not.toContain('good');
    expect(run.stderr).not.toContain('use_api_socket');

    const json = await runBerth(['validate', '--config', config, '--json'], { cwd: tmp });
    expect(json.code).toBe(2);
    const doc = JSON.parse(json.stdout) as { ok: boolean; error: { reason: string } };
    expect(doc).toMatchObject({ ok: false, error: { reason: 'ConfigInvalid' } });
  });

  it('reports a secret file that cannot be read as a config problem, not a stack failure', async () => {
    const config = await write(
      'nosecret/berth.yaml',
      [
        'source:',
        `  path: ${path.join(tmp, 'repo')}`,
        '  paths: stacks/*',
        'server:',
        '  tokens:',
        '    - { name: ci, tokenFile: ./ci.token }',
        '  webhooks:',
        '    github: { secretFile: ./github.secret }',
        'notify:',
        '  - { type: ntfy, url: "https://ntfy.example", topic: t, tokenFile: ./ntfy.token }',
        '',
      ].join('\n'),
    );
    await write('nosecret/ci.token', 'short\n');
    const run = await runBerth(['validate', '--config', config], { cwd: tmp });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const problems = run.stderr.split('\n').filter((l) => l.startsWith('  - '));
    expect(problems).toHaveLength(3);
    expect(run.stderr).toContain('server.tokens[0].tokenFile');
    expect(run.stderr).toContain('at least 16 characters');
    expect(run.stderr).toContain(
      `server.webhooks.github.secretFile: cannot read ${path.join(tmp, 'nosecret', 'github.secret')}`,
    );
    expect(run.stderr).toContain('notify[0].tokenFile');
    for (const line of problems) expect(line).toContain(config);
  });

  it('says the configuration is fine, then judges the stacks as before', async () => {
    const config = await write(
      'good/berth.yaml',
      `source:\n  path: ${path.join(tmp, 'repo')}\n  paths: stacks/*\n`,
    );
    const run = await runBerth(['validate', '--config', config], { cwd: tmp });
    expect(run.code).toBe(1);
    expect(run.stdout.split('\n')[0]).toBe(`config ok: ${config}`);
    expect(run.stdout).toMatch(/^good\s+ok\b/m);
    expect(run.stdout).toMatch(/^bad\s+invalid\b/m);

    const json = await runBerth(['validate', '--config', config, '--json'], { cwd: tmp });
    const doc = JSON.parse(json.stdout) as { config: unknown };
    expect(doc.config).toEqual({ valid: true, file: config });
  });

  it('without any configuration, says where it looked and to run berth init', async () => {
    const empty = path.join(tmp, 'empty');
    await mkdir(empty, { recursive: true });
    const run = await runBerth(['validate'], { cwd: empty });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('no configuration found');
    expect(run.stderr).toContain('--config');
    expect(run.stderr).toContain('$BERTH_CONFIG');
    expect(run.stderr).toContain(path.join(empty, 'berth.yaml'));
    expect(run.stderr).toContain('berth init');
    expect(run.stderr).not.toContain('source: required');

    const named = await runBerth(['status', '--config', 'nope.yaml'], { cwd: empty });
    expect(named.code).toBe(2);
    expect(named.stderr).toContain(`${path.join(empty, 'nope.yaml')} (named by --config)`);
    const byEnv = await runBerth(['status'], {
      cwd: empty,
      env: { BERTH_CONFIG: path.join(empty, 'gone.yaml') },
    });
    expect(byEnv.code).toBe(2);
    expect(byEnv.stderr).toContain('(named by $BERTH_CONFIG)');
  });
});

describe('berth --version', { timeout: 60_000 }, () => {
  it('prints the bare package version and exits 0 from any working directory', async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      version: string;
    };
    for (const cwd of [tmp, '/']) {
      const run = await runBerth(['--version'], { cwd });
      expect(run.code).toBe(0);
      expect(run.stdout).toBe(`${pkg.version}\n`);
      expect(run.stderr).toBe('');
    }
    expect((await runBerth(['-V'], { cwd: tmp })).stdout).toBe(`${pkg.version}\n`);
  });
});
