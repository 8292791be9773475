import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { useConfigDir } from './config-dir.js';
import { redactConfig } from '../../src/config/redact.js';

const cfg = useConfigDir('berth-config-');
const { write, problems } = cfg;

const GIT = 'source:\n  git:\n    url: https://git.example.org/ops/stacks.git\n';

describe('loadConfig from a file', () => {
  it('fills every default', async () => {
    const file = write('conf/berth.yaml', GIT);
    const config = await loadConfig({ file, env: {} });
    const source = {
      kind: 'git',
      git: { url: 'https://git.example.org/ops/stacks.git', branch: 'main', depth: 1 },
      paths: ['*'],
    };
    const defaults = {
      deploy: true,
      method: 'simple',
      healthTimeoutMs: 120_000,
      stabilityMs: 10_000,
      markBad: true,
      redeployGood: true,
      hooks: { timeoutMs: 300_000 },
      updates: { images: false },
    };
    expect(config).toEqual({
      file,
      sources: [{ name: 'default', source, defaults }],
      source,
      dataDir: path.join(cfg.path, 'conf', 'data'),
      defaults,
      prune: false,
      log: { level: 'info' },
      hooks: { env: [] },
    });
  });

  it('reads every key, resolving paths against the file and durations to ms', async () => {
    write('secrets/token', 'from-file\n');
    write('keys/id', 'key');
    write('keys/hosts', 'hosts');
    const file = write(
      'berth.yaml',
      [
        'source:',
        '  git:',
        '    url: https://git.example.org/ops/stacks.git',
        '    branch: production',
        '    depth: 0',
        '    auth: { username: deploy, tokenFile: secrets/token }',
        '  paths: ["stacks/*", "more/*"]',
        'dataDir: /var/lib/berth',
        'defaults:',
        '  deploy: false',
        '  method: blue-green',
        '  healthTimeout: 2m',
        '  stabilityPeriod: 1.5',
        '  markBad: false',
        '  redeployGood: false',
        '  hookTimeout: 1h30m',
        '  drain: 5s',
        '  canary: { batch: "20%", window: 1m }',
        'prune: true',
        'log: { level: debug }',
      ].join('\n'),
    );
    const config = await loadConfig({ file, env: {} });
    expect(config.source).toEqual({
      kind: 'git',
      git: {
        url: 'https://git.example.org/ops/stacks.git',
        branch: 'production',
        depth: 0,
        auth: { username: 'deploy', token: 'from-file' },
      },
      paths: ['stacks/*', 'more/*'],
    });
    expect(config.dataDir).toBe('/var/lib/berth');
    expect(config.defaults).toEqual({
      deploy: false,
      method: 'blue-green',
      healthTimeoutMs: 120_000,
      stabilityMs: 1500,
      markBad: false,
      redeployGood: false,
      hooks: { timeoutMs: 5_400_000 },
      updates: { images: false },
      drainMs: 5000,
      canary: { batch: { percent: 20 }, windowMs: 60_000 },
    });
    expect(config.prune).toBe(true);
    expect(config.log.level).toBe('debug');
  });

  it('follows a tag instead of a branch and resolves ssh files', async () => {
    write('keys/id', 'key');
    write('keys/hosts', 'hosts');
    const file = write(
      'berth.yaml',
      [
        'source:',
        '  git:',
        '    url: git@github.com:ops/stacks.git',
        '    tag: "v*"',
        '    auth: { sshKeyFile: keys/id, knownHostsFile: ./keys/hosts }',
        '  paths: stacks/*',
      ].join('\n'),
    );
    const { source } = await loadConfig({ file, env: {} });
    expect(source).toEqual({
      kind: 'git',
      git: {
        url: 'git@github.com:ops/stacks.git',
        tag: 'v*',
        depth: 1,
        auth: {
          sshKeyFile: path.join(cfg.path, 'keys/id'),
          knownHostsFile: path.join(cfg.path, 'keys/hosts'),
        },
      },
      paths: ['stacks/*'],
    });
  });

  it('takes a local folder as source', async () => {
    const file = write('berth.yaml', 'source: { path: ., paths: ["stacks/*"] }\n');
    const config = await loadConfig({ file, env: {} });
    expect(config.source).toEqual({ kind: 'local', path: cfg.path, paths: ['stacks/*'] });
  });

  it('uses the token username default and trims the token file', async () => {
    write('token', 'abc\r\n');
    const file = write('berth.yaml', `${GIT}    auth: { tokenFile: token }\n`);
    const { source } = await loadConfig({ file, env: {} });
    expect(source.kind === 'git' && source.git.auth).toEqual({
      token: 'abc',
      username: 'x-access-token',
    });
  });

  it('finds ./berth.yaml, then $BERTH_CONFIG, when no file is named', async () => {
    write('berth.yaml', GIT);
    expect((await loadConfig({ cwd: cfg.path, env: {} })).file).toBe(
      path.join(cfg.path, 'berth.yaml'),
    );
    const other = write('etc/other.yaml', 'source: { path: /tmp }\n');
    const config = await loadConfig({ cwd: cfg.path, env: { BERTH_CONFIG: other } });
    expect(config.file).toBe(other);
    expect(config.source.kind).toBe('local');
  });
});

describe('env overrides', () => {
  it('builds a whole config from env alone', async () => {
    const config = await loadConfig({
      cwd: cfg.path,
      env: {
        BERTH_GIT_URL: 'https://git.example.org/a.git',
        BERTH_GIT_BRANCH: 'prod',
        BERTH_GIT_TOKEN: '0012345',
        BERTH_DATA_DIR: 'state',
        BERTH_LOG_LEVEL: 'warn',
      },
    });
    expect(config.file).toBeUndefined();
    expect(config.source).toEqual({
      kind: 'git',
      git: {
        url: 'https://git.example.org/a.git',
        branch: 'prod',
        depth: 1,
        // Digits stay a string: string keys are not parsed as YAML.
        auth: { token: '0012345', username: 'x-access-token' },
      },
      paths: ['*'],
    });
    expect(config.dataDir).toBe(path.join(cfg.path, 'state'));
    expect(config.log.level).toBe('warn');
  });

  it('maps BERTH_A__B__C case-insensitively and parses YAML scalars', async () => {
    const file = write('conf/berth.yaml', GIT);
    const config = await loadConfig({
      file,
      cwd: cfg.path,
      env: {
        BERTH_SOURCE__GIT__URL: 'https://other.example.org/b.git',
        BERTH_source__git__DEPTH: '5',
        BERTH_DATADIR: '/srv/berth',
        BERTH_DEFAULTS__HEALTHTIMEOUT: '45s',
        BERTH_DEFAULTS__STABILITYPERIOD: '3',
        BERTH_DEFAULTS__MARKBAD: 'false',
        BERTH_DEFAULTS__METHOD: 'canary',
        BERTH_PRUNE: 'true',
        BERTH_SOURCE__PATHS: '[a/*, b/*]',
        BERTH_LOG__LEVEL: 'trace',
        BERTH_FIXTURE_IMAGE: 'not config, ignored',
        BERTH_EMPTY: '',
      },
    });
    expect(config.source).toMatchObject({
      git: { url: 'https://other.example.org/b.git', depth: 5 },
      paths: ['a/*', 'b/*'],
    });
    expect(config.dataDir).toBe('/srv/berth');
    expect(config.defaults).toMatchObject({
      healthTimeoutMs: 45_000,
      stabilityMs: 3000,
      markBad: false,
      method: 'canary',
    });
    expect(config.prune).toBe(true);
    expect(config.log.level).toBe('trace');
  });

  it('lets the long form win over an alias and ignores empty values', async () => {
    const file = write('berth.yaml', `${GIT}    branch: file\n`);
    const config = await loadConfig({
      file,
      env: { BERTH_GIT_BRANCH: 'alias', BERTH_SOURCE__GIT__BRANCH: 'long', BERTH_PRUNE: '' },
    });
    expect(config.source.kind === 'git' && config.source.git.branch).toBe('long');
    expect(config.prune).toBe(false);
  });

  it('resolves env paths against the working directory, file paths against the file', async () => {
    const file = write('conf/berth.yaml', 'source: { path: ../stacks }\ndataDir: data\n');
    const fromFile = await loadConfig({ file, cwd: '/', env: {} });
    expect(fromFile.source).toMatchObject({ path: path.join(cfg.path, 'stacks') });
    expect(fromFile.dataDir).toBe(path.join(cfg.path, 'conf', 'data'));
    const fromEnv = await loadConfig({
      file,
      cwd: cfg.path,
      env: { BERTH_SOURCE_PATH: 'stacks', BERTH_DATA_DIR: 'here' },
    });
    expect(fromEnv.source).toMatchObject({ path: path.join(cfg.path, 'stacks') });
    expect(fromEnv.dataDir).toBe(path.join(cfg.path, 'here'));
  });

  it('switches the source kind: BERTH_GIT_URL replaces source.path and back', async () => {
    const local = write('local.yaml', 'source: { path: stacks }\n');
    const toGit = await loadConfig({ file: local, env: { BERTH_GIT_URL: 'file:///srv/r.git' } });
    expect(toGit.source).toMatchObject({ kind: 'git', git: { url: 'file:///srv/r.git' } });
    const git = write('git.yaml', `${GIT}    tag: "v*"\n`);
    const toLocal = await loadConfig({ file: git, cwd: cfg.path, env: { BERTH_SOURCE_PATH: '.' } });
    expect(toLocal.source).toEqual({ kind: 'local', path: cfg.path, paths: ['*'] });
    const toBranch = await loadConfig({ file: git, env: { BERTH_GIT_BRANCH: 'main' } });
    expect(toBranch.source.kind === 'git' && toBranch.source.git).toMatchObject({ branch: 'main' });
  });

  it('lets BERTH_GIT_TOKEN replace a tokenFile', async () => {
    const file = write('berth.yaml', `${GIT}    auth: { tokenFile: /nonexistent }\n`);
    const config = await loadConfig({ file, env: { BERTH_GIT_TOKEN: 'env-token' } });
    expect(config.source.kind === 'git' && config.source.git.auth?.token).toBe('env-token');
  });

  it('reports nested names that match no key and values of the wrong type', async () => {
    const file = write('berth.yaml', GIT);
    const list = await problems({
      file,
      env: {
        BERTH_DEFAULTS__HEALTHTIMEOUTS: '1s',
        BERTH_PRUNE: 'sometimes',
        BERTH_SOURCE__GIT__DEPTH: '[1',
      },
    });
    expect(list).toEqual(
      expect.arrayContaining([
        'BERTH_DEFAULTS__HEALTHTIMEOUTS: no config key "defaults.healthtimeouts"',
        expect.stringMatching(/^BERTH_PRUNE: prune: .*boolean/),
        expect.stringMatching(/^BERTH_SOURCE__GIT__DEPTH: source\.git\.depth: not a YAML value/),
      ]),
    );
    expect(list).toHaveLength(3);
  });
});

describe('refused configs', () => {
  it('lists every problem at once with file, line and key path', async () => {
    const file = write(
      'berth.yaml',
      [
        'source:', // 1
        '  git:', // 2
        '    url: https://git.example.org/x.git', // 3
        '    branch: main', // 4
        '    tag: "v*"', // 5
        '    depth: -1', // 6
        '    brnch: typo', // 7
        '    auth: { token: abc, tokenFile: missing.txt }', // 8
        '  paths: ["/abs/*", "../up/*"]', // 9
        'defaults:', // 10
        '  method: fast', // 11
        '  healthTimeout: soon', // 12
        'prune: yes', // 13
        'server: { port: 1 }', // 14
      ].join('\n'),
    );
    const list = await problems({ file });
    expect(list).toEqual(
      expect.arrayContaining([
        `${file}:5: source.git.tag: branch and tag are mutually exclusive`,
        expect.stringMatching(new RegExp(`^${file}:6: source\\.git\\.depth: .*>=0`)),
        `${file}:7: source.git.brnch: unknown key`,
        `${file}:8: source.git.auth.tokenFile: token and tokenFile are mutually exclusive`,
        `${file}:8: source.git.auth.tokenFile: cannot read ${path.join(cfg.path, 'missing.txt')} (ENOENT)`,
        `${file}:9: source.paths[0]: must be relative to the source root and stay inside it`,
        `${file}:9: source.paths[1]: must be relative to the source root and stay inside it`,
        expect.stringMatching(new RegExp(`^${file}:11: defaults\\.method: .*"blue-green"`)),
        expect.stringMatching(
          new RegExp(`^${file}:12: defaults\\.healthTimeout: expected a duration`),
        ),
        expect.stringMatching(new RegExp(`^${file}:13: prune: .*boolean`)),
        `${file}:14: server.port: unknown key`,
      ]),
    );
    expect(list).toHaveLength(11);
  });

  it('reports YAML syntax errors with their position', async () => {
    const file = write('berth.yaml', 'source:\n  git: [unclosed\n');
    const [first] = await problems({ file });
    expect(first).toMatch(new RegExp(`^${file}:\\d+:\\d+: `));
  });

  it('reports duplicate keys and a top level that is not a mapping', async () => {
    const dup = write('dup.yaml', 'prune: true\nprune: false\n');
    expect((await problems({ file: dup }))[0]).toMatch(/unique|duplicate/i);
    const list = write('list.yaml', '- a\n- b\n');
    expect(await problems({ file: list })).toContain(
      `${list}: the top level must be a mapping of keys`,
    );
  });

  it('needs a source, and exactly one kind of it', async () => {
    expect(await problems({})).toEqual(['env: source: required']);
    const none = write('none.yaml', 'source: { paths: ["*"] }\n');
    expect(await problems({ file: none })).toEqual([
      `${none}:1: source: set one of source.git or source.path`,
    ]);
    const both = write('both.yaml', 'source: { path: ., git: { url: "file:///r.git" } }\n');
    expect(await problems({ file: both })).toEqual([
      `${both}:1: source: set either source.git or source.path, not both`,
    ]);
  });

  it('refuses urls with credentials, unknown schemes and misplaced auth', async () => {
    const creds = write('creds.yaml', 'source: { git: { url: "https://me:pw@h/r.git" } }\n');
    expect((await problems({ file: creds }))[0]).toMatch(
      /source\.git\.url: must not contain credentials/,
    );
    const scheme = write('scheme.yaml', 'source: { git: { url: "ftp://h/r.git" } }\n');
    expect((await problems({ file: scheme }))[0]).toMatch(/source\.git\.url: expected an https/);
    const mixed = write(
      'mixed.yaml',
      'source: { git: { url: "git@h:r.git", auth: { token: t, knownHostsFile: kh } } }\n',
    );
    write('kh', '');
    expect(await problems({ file: mixed })).toEqual([
      `${mixed}:1: source.git.auth.token: only used with http(s) urls`,
    ]);
  });

  it('names the file when a secret or folder cannot be read', async () => {
    const file = write('berth.yaml', 'source:\n  path: nowhere\n');
    expect(await problems({ file })).toEqual([
      `${file}:2: source.path: cannot read ${path.join(cfg.path, 'nowhere')} (ENOENT)`,
    ]);
    write('empty-token', '\n');
    const empty = write('empty.yaml', `${GIT}    auth: { tokenFile: empty-token }\n`);
    expect((await problems({ file: empty }))[0]).toContain(
      `${path.join(cfg.path, 'empty-token')} is empty`,
    );
    const env = await problems({
      env: { BERTH_GIT_URL: 'https://h/r.git', BERTH_GIT_TOKEN_FILE: '/no/such/token' },
    });
    expect(env).toEqual([
      'BERTH_GIT_TOKEN_FILE: source.git.auth.tokenFile: cannot read /no/such/token (ENOENT)',
    ]);
  });

  it('refuses a named config file that does not exist', async () => {
    const missing = path.join(cfg.path, 'missing.yaml');
    const list = await problems({ file: missing });
    expect(list[0]).toBe(`${missing}: cannot read the config file (ENOENT)`);
  });

  it('carries the problems in the message too', async () => {
    const file = write('berth.yaml', 'prune: 1\nsource: { path: . }\n');
    const err = await loadConfig({ file, env: {} }).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'ConfigInvalid', place: { file } });
    expect((err as Error).message).toMatch(/invalid configuration \(1 problem\): .*prune/);
  });
});

describe('redactConfig', () => {
  it('hides tokens but keeps everything else', async () => {
    const file = write('berth.yaml', `${GIT}    auth: { token: hunter2 }\n`);
    const config = await loadConfig({ file, env: {} });
    const shown = redactConfig(config);
    expect(JSON.stringify(shown)).not.toContain('hunter2');
    expect(shown.source.kind === 'git' && shown.source.git.auth).toEqual({
      token: '[redacted]',
      username: 'x-access-token',
    });
    expect(shown.dataDir).toBe(config.dataDir);
    // The original is untouched.
    expect(config.source.kind === 'git' && config.source.git.auth?.token).toBe('hunter2');
    expect(redactConfig({ url: 'https://me:pw@h/r', password: 'x' })).toEqual({
      url: 'https://[redacted]@h/r',
      password: '[redacted]',
    });
  });
});
