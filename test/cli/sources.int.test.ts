import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceNames } from '../../src/cli/commands/reconcile.js';
import { FIXTURE_IMAGE, removeProject, uniqueName } from '../helpers/docker.js';
import { runBerth } from './run-cli.js';

const COMPOSE = [
  'services:',
  '  app:',
  `    image: ${FIXTURE_IMAGE}`,
  '    command: ["sh", "-c", "trap \'exit 0\' TERM; sleep 3600 & wait"]',
  '    stop_grace_period: 1s',
  '',
].join('\n');

describe('--source NAME', () => {
  it('takes names repeated or comma-separated, each once', () => {
    expect(sourceNames(undefined)).toBeUndefined();
    expect(sourceNames([])).toBeUndefined();
    expect(sourceNames([' , '])).toBeUndefined();
    expect(sourceNames(['a,b', 'c', 'a'])).toEqual(['a', 'b', 'c']);
  });
});

describe('berth CLI with two sources', () => {
  const folder = uniqueName('clis');
  const stacks = { a: folder, b: `b-${folder}` };
  let tmp: string;
  let config: string;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'berth-cli-sources-'));
    // The same folder name in both: the prefix of b tells the stacks apart.
    for (const source of ['a', 'b']) {
      await mkdir(path.join(tmp, source, folder), { recursive: true });
      await writeFile(path.join(tmp, source, folder, 'compose.yaml'), COMPOSE);
    }
    config = path.join(tmp, 'berth.yaml');
    await writeFile(
      config,
      [
        'sources:',
        '  - name: a',
        '    path: ./a',
        '  - name: b',
        '    path: ./b',
        '    prefix: b-',
        'dataDir: ./data',
        'defaults:',
        '  method: blind',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    for (const stack of Object.values(stacks)) await removeProject(stack);
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it('validates and prints the stacks of every source, under their names in berth', async () => {
    const validate = await runBerth(['validate', '--config', config, '--json']);
    expect(validate.code, validate.stderr).toBe(0);
    const report = JSON.parse(validate.stdout) as {
      sources: { name: string; stacks: { stack: string; valid: boolean }[] }[];
    };
    expect(report.sources.map((s) => [s.name, s.stacks.map((x) => x.stack)])).toEqual([
      ['a', [stacks.a]],
      ['b', [stacks.b]],
    ]);
    const printed = await runBerth(['config', stacks.b, '--config', config, '--format', 'json']);
    expect(printed.code, printed.stderr).toBe(0);
    expect(JSON.parse(printed.stdout)).toMatchObject({ name: stacks.b });
  });

  it('reports each source of the pass, and status and history show the stack source', async () => {
    const pass = await runBerth(['reconcile', '--once', '--config', config]);
    expect(pass.code, pass.stderr).toBe(0);
    expect(pass.stdout).toMatch(/^source a: local @ [0-9a-f]{7} \(.*\/a\)$/m);
    expect(pass.stdout).toMatch(/^source b: local @ [0-9a-f]{7} \(.*\/b\)$/m);
    expect(pass.stdout).toMatch(new RegExp(`^${stacks.a}\\s+deployed\\b`, 'm'));
    expect(pass.stdout).toMatch(new RegExp(`^${stacks.b}\\s+deployed\\b`, 'm'));

    const json = await runBerth(['reconcile', '--once', '--config', config, '--json']);
    const result = JSON.parse(json.stdout) as { sources: { name: string; revision: unknown }[] };
    expect(result.sources.map((s) => s.name)).toEqual(['a', 'b']);

    const status = await runBerth(['status', '--config', config, '--json']);
    expect(status.code, status.stderr).toBe(0);
    const rows = (JSON.parse(status.stdout) as { stacks: { stack: string; source: string }[] })
      .stacks;
    expect(rows.map((r) => [r.stack, r.source]).sort()).toEqual(
      [
        [stacks.a, 'a'],
        [stacks.b, 'b'],
      ].sort(),
    );
    const table = await runBerth(['status', '--config', config]);
    expect(table.stdout.split('\n')[0]).toMatch(/^STACK\s+SOURCE\s+STATE\s+RUNNING/);
    expect(table.stdout).toMatch(new RegExp(`^${stacks.b}\\s+b\\s+AVAILABLE`, 'm'));

    const history = await runBerth(['history', stacks.b, '--config', config, '--json']);
    expect(JSON.parse(history.stdout)).toMatchObject({ stack: stacks.b, source: 'b' });
  });
});
