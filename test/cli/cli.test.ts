import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBerth } from './run-cli.js';

let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-cli-'));
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

describe('berth CLI: usage and config errors', { timeout: 120_000 }, () => {
  it('refuses a broken config with exit 2 and lists every problem', async () => {
    const config = await write(
      'broken/berth.yaml',
      [
        'source:',
        '  git:',
        '    url: not-a-url',
        '    branch: main',
        '    tag: "v*"',
        '  paths: ["../outside"]',
        'defaults:',
        '  healthTimeout: soon',
        '  methd: simple',
        'prune: maybe',
        '',
      ].join('\n'),
    );
    const run = await runBerth(['status', '--config', config]);
    expect(run.code).toBe(2);
    for (const key of [
      'source.git.url',
      'source.git.tag',
      'source.paths[0]',
      'defaults.healthTimeout',
      'defaults.methd',
      'prune',
    ]) {
      expect(run.stderr).toContain(key);
    }
    // One problem per line, each naming the file.
    const problemLines = run.stderr.split('\n').filter((l) => l.startsWith('  - '));
    expect(problemLines.length).toBeGreaterThanOrEqual(6);
    for (const line of problemLines) expect(line).toContain(config);

    const json = await runBerth(['status', '--config', config, '--json']);
    expect(json.code).toBe(2);
    const doc = JSON.parse(json.stdout) as {
      ok: boolean;
      error: { reason: string; problems: string[] };
    };
    expect(doc.ok).toBe(false);
    expect(doc.error.reason).toBe('ConfigInvalid');
    expect(doc.error.problems.length).toBe(problemLines.length);
  });

  it('exits 2 for a missing config file', async () => {
    const run = await runBerth(['status', '--config', path.join(tmp, 'nope.yaml')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('nope.yaml');
  });

  it('exits 2 for unknown commands and options, and for reconcile without --once', async () => {
    expect((await runBerth(['frobnicate'])).code).toBe(2);
    expect((await runBerth(['status', '--frobnicate'])).code).toBe(2);
    const json = await runBerth(['status', '--frobnicate', '--json']);
    expect(json.code).toBe(2);
    expect((JSON.parse(json.stdout) as { ok: boolean }).ok).toBe(false);
    const noOnce = await runBerth(['reconcile', '--config', path.join(tmp, 'nope.yaml')]);
    expect(noOnce.code).toBe(2);
    expect(noOnce.stderr).toContain('--once');
  });

  it('exits 0 for --help', async () => {
    const run = await runBerth(['reconcile', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--dry-run');
  });
});

describe('berth validate DIR', { timeout: 120_000 }, () => {
  let dir: string;

  beforeAll(async () => {
    dir = path.join(tmp, 'repo');
    const service = (extra: string): string =>
      [
        'services:',
        '  app:',
        '    image: berth-fixture/busybox:latest',
        '    command: ["sleep", "3600"]',
        extra,
        '',
      ].join('\n');
    await write('repo/good/compose.yaml', service(''));
    await write('repo/stacks/brokencompose/compose.yaml', service('    use_api_socket: true'));
    await write('repo/badsettings/compose.yaml', service(''));
    await write('repo/badsettings/deploy.yaml', 'method: simple\nhealthTimeout: soon\n');
    await write('repo/notastack/readme.txt', 'no compose file here\n');
  });

  it('checks every stack without a config, exit 1 naming file and field', async () => {
    const run = await runBerth(['validate', dir], { cwd: tmp });
    expect(run.code).toBe(1);
    const lines = run.stdout.split('\n');
    expect(lines.find((l) => l.startsWith('good '))).toMatch(/\bok\b/);
    expect(lines.find((l) => l.startsWith('brokencompose '))).toMatch(/\binvalid\b/);
    expect(lines.find((l) => l.startsWith('badsettings '))).toMatch(/\binvalid\b/);
    expect(run.stdout).not.toContain('notastack');
    const composeError = lines.filter((l) => l.includes('brokencompose')).join('\n');
    expect(run.stdout).toContain(path.join(dir, 'stacks', 'brokencompose', 'compose.yaml'));
    expect(composeError + run.stdout).toContain('use_api_socket');
    expect(run.stdout).toContain(path.join(dir, 'badsettings', 'deploy.yaml'));
    expect(run.stdout).toContain('healthTimeout');
  });

  it('prints one JSON document with --json', async () => {
    const run = await runBerth(['validate', dir, '--json'], { cwd: tmp });
    expect(run.code).toBe(1);
    const doc = JSON.parse(run.stdout) as {
      ok: boolean;
      stacks: {
        stack: string;
        valid: boolean;
        error?: { message: string; place?: { file?: string } };
      }[];
    };
    expect(doc.ok).toBe(false);
    const byName = new Map(doc.stacks.map((s) => [s.stack, s]));
    expect([...byName.keys()].sort()).toEqual(['badsettings', 'brokencompose', 'good']);
    expect(byName.get('good')?.valid).toBe(true);
    expect(byName.get('brokencompose')?.valid).toBe(false);
    expect(byName.get('badsettings')?.error?.place?.file).toBe(
      path.join(dir, 'badsettings', 'deploy.yaml'),
    );
  });

  it('exits 0 when every stack is valid, using the paths of a named config', async () => {
    await write(
      'repo2/apps/one/compose.yaml',
      'services:\n  app:\n    image: berth-fixture/busybox:latest\n',
    );
    await write('repo2/ignored/compose.yaml', 'services:\n  app:\n    use_api_socket: true\n');
    const config = await write(
      'repo2-config.yaml',
      `source:\n  path: ${path.join(tmp, 'repo2')}\n  paths: ["apps/*"]\n`,
    );
    const run = await runBerth(['validate', '--config', config], { cwd: tmp });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^one\s+ok\b/m);
    expect(run.stdout).not.toContain('ignored');

    const missing = await runBerth(['validate', path.join(tmp, 'does-not-exist')], { cwd: tmp });
    expect(missing.code).toBe(2);
  });
});
