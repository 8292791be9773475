import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { checkoutDirOf, sourceRootOf } from '../../src/source/index.js';
import { useConfigDir } from './config-dir.js';

const cfg = useConfigDir('berth-sources-');
const { write, problems } = cfg;

const TWO = [
  'sources:',
  '  - name: apps',
  '    git: { url: https://git.example.org/ops/apps.git }',
  '    paths: ["stacks/*"]',
  '  - name: mon',
  '    path: stacks',
  '    prefix: mon-',
  '',
].join('\n');

describe('sources: in the config', () => {
  it('loads each source with its name, paths and prefix, in order', async () => {
    const config = await loadConfig({ file: write('berth.yaml', TWO), env: {} });
    expect(config.sources.map((s) => s.name)).toEqual(['apps', 'mon']);
    expect(config.sources[0]).toMatchObject({
      name: 'apps',
      source: { kind: 'git', git: { url: 'https://git.example.org/ops/apps.git' } },
    });
    expect(config.sources[0]!.source.paths).toEqual(['stacks/*']);
    expect(config.sources[0]).not.toHaveProperty('prefix');
    expect(config.sources[1]).toMatchObject({
      name: 'mon',
      prefix: 'mon-',
      source: { kind: 'local', path: path.join(cfg.path, 'stacks'), paths: ['*'] },
    });
    // The deprecated single source is the first one.
    expect(config.source).toBe(config.sources[0]!.source);
  });

  it('turns the single source: into one source named default', async () => {
    const file = write('berth.yaml', 'source:\n  path: stacks\nschedule: "*/5 * * * *"\n');
    const config = await loadConfig({ file, env: {} });
    expect(config.sources).toEqual([
      {
        name: 'default',
        source: config.source,
        schedule: '*/5 * * * *',
        defaults: config.defaults,
      },
    ]);
  });

  it('gives each source its own schedule, else the top-level one when given', async () => {
    const yaml = TWO.replace('    prefix: mon-', '    prefix: mon-\n    schedule: "0 * * * *"');
    const without = await loadConfig({ file: write('a.yaml', yaml), env: {} });
    expect(without.sources.map((s) => s.schedule)).toEqual([undefined, '0 * * * *']);
    const withTop = await loadConfig({
      file: write('b.yaml', `${yaml}schedule: "*/2 * * * *"\n`),
      env: {},
    });
    expect(withTop.sources.map((s) => s.schedule)).toEqual(['*/2 * * * *', '0 * * * *']);
  });

  it('merges a source defaults key by key over the top-level defaults', async () => {
    const yaml = [
      'defaults:',
      '  method: canary',
      '  healthTimeout: 1m',
      '  canary: { batch: 2, window: 20s }',
      'sources:',
      '  - name: a',
      '    path: stacks',
      '    defaults:',
      '      healthTimeout: 5m',
      '      markBad: false',
      '      canary: { window: 1m }',
      '      updates: { images: true }',
      '  - name: b',
      '    path: stacks',
      '',
    ].join('\n');
    const config = await loadConfig({ file: write('berth.yaml', yaml), env: {} });
    const [a, b] = config.sources;
    expect(a!.defaults).toMatchObject({
      method: 'canary',
      healthTimeoutMs: 300_000,
      markBad: false,
      redeployGood: true,
      canary: { batch: { count: 2 }, windowMs: 60_000 },
      updates: { images: true },
    });
    expect(b!.defaults).toEqual(config.defaults);
    expect(config.defaults).toMatchObject({ healthTimeoutMs: 60_000, markBad: true });
  });

  it('refuses source and sources together, naming both keys', async () => {
    const file = write('berth.yaml', `source:\n  path: stacks\n${TWO}`);
    const found = await problems({ file });
    expect(found).toEqual([
      expect.stringMatching(/sources: set either source or sources, not both$/),
    ]);
  });

  it('refuses bad and duplicate names, and checks each source like source:', async () => {
    const yaml = [
      'sources:',
      '  - name: Apps',
      '    path: stacks',
      '  - name: b',
      '    path: stacks',
      '  - name: b',
      '    git: { url: https://x.example/r.git }',
      '    path: stacks',
      '    paths: ["../out/*"]',
      '  - path: stacks',
      '    schedule: "every minute"',
      '    prefix: "-x"',
      '',
    ].join('\n');
    const file = write('berth.yaml', yaml);
    const found = await problems({ file });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/:2: sources\[0\]\.name: expected a name of lowercase/),
        expect.stringMatching(
          /:6: sources\[2\]\.name: source name "b" is used twice \(also sources\[1\]\)/,
        ),
        expect.stringMatching(
          /sources\[2\]: set either sources\[2\]\.git or sources\[2\]\.path, not both/,
        ),
        expect.stringMatching(/sources\[2\]\.paths\[0\]: must be relative to the source root/),
        expect.stringMatching(/sources\[3\]\.name: required/),
        expect.stringMatching(/sources\[3\]\.schedule: expected a cron expression/),
        expect.stringMatching(/sources\[3\]\.prefix: expected lowercase letters/),
      ]),
    );
  });

  it('refuses an empty sources list and a source without a kind', async () => {
    expect(await problems({ file: write('a.yaml', 'sources: []\n') })).toEqual([
      expect.stringMatching(/sources: Too small/i),
    ]);
    expect(await problems({ file: write('b.yaml', 'sources:\n  - name: a\n') })).toEqual([
      expect.stringMatching(/sources\[0\]: set one of sources\[0\]\.git or sources\[0\]\.path$/),
    ]);
  });

  it('runs the kind checks of every source (a missing folder names its source)', async () => {
    const yaml = 'sources:\n  - name: a\n    path: stacks\n  - name: b\n    path: nowhere\n';
    const found = await problems({ file: write('berth.yaml', yaml) });
    expect(found).toEqual([expect.stringMatching(/:5: sources\[1\]\.path: /)]);
  });
});

describe('BERTH_GIT_* with sources:', () => {
  const withDefault = [
    'sources:',
    '  - name: apps',
    '    path: stacks',
    '  - name: default',
    '    git: { url: https://git.example.org/ops/old.git, tag: "v*" }',
    '',
  ].join('\n');

  it('apply to the source named default', async () => {
    const config = await loadConfig({
      file: write('berth.yaml', withDefault),
      env: { BERTH_GIT_URL: 'https://git.example.org/ops/new.git', BERTH_GIT_BRANCH: 'live' },
    });
    expect(config.sources[0]!.source.kind).toBe('local');
    // A branch from the environment drops the file's tag, as with the single source.
    expect(config.sources[1]!.source).toMatchObject({
      kind: 'git',
      git: { url: 'https://git.example.org/ops/new.git', branch: 'live' },
    });
    expect(config.sources[1]!.source).not.toHaveProperty('git.tag');
  });

  it('switch the default source to git, dropping its path', async () => {
    const yaml = 'sources:\n  - name: default\n    path: stacks\n';
    const config = await loadConfig({
      file: write('berth.yaml', yaml),
      env: { BERTH_GIT_URL: 'https://git.example.org/ops/new.git' },
    });
    expect(config.sources[0]!.source).toMatchObject({ kind: 'git' });
  });

  it('are an error naming the variable without a source named default', async () => {
    const found = await problems({
      file: write('berth.yaml', TWO),
      env: { BERTH_GIT_TOKEN: 'hunter2', BERTH_LOG_LEVEL: 'debug' },
    });
    expect(found).toEqual([
      'BERTH_GIT_TOKEN: sets source.git.auth.token, but sources has no source named "default" to apply it to',
    ]);
  });

  it('name the variable in a problem with the value it set', async () => {
    const found = await problems({
      file: write('berth.yaml', withDefault),
      env: { BERTH_GIT_URL: 'not a url' },
    });
    expect(found).toEqual([expect.stringMatching(/^BERTH_GIT_URL: sources\[1\]\.git\.url: /)]);
  });
});

describe('checkout folders', () => {
  it('keeps the default source in dataDir/repo and puts the others in repos/<name>', () => {
    expect(checkoutDirOf('/d')).toBe('/d/repo');
    expect(checkoutDirOf('/d', 'default')).toBe('/d/repo');
    expect(checkoutDirOf('/d', 'apps')).toBe('/d/repos/apps');
    const git = { kind: 'git' as const, git: { url: 'file:///r', depth: 1 }, paths: ['*'] };
    expect(sourceRootOf(git, '/d', 'apps')).toBe('/d/repos/apps');
    expect(sourceRootOf({ kind: 'local', path: '/s', paths: ['*'] }, '/d', 'apps')).toBe('/s');
  });
});
