import { chmod, mkdir, symlink, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SettingsError } from '../../src/errors.js';
import { extractCommentBlock, readDeploySettings } from '../../src/stack/settings.js';
import { COMPOSE, DEFAULTS, removeDir, tempDir, writeTree } from './fixtures.js';
import { methodNames } from '../../src/strategies/index.js';

const METHODS = methodNames();

const COMMENT_BLOCK = `# Deploy Start #
#
# deploy: true
# methode: "blind"
# healthTimeout: 2m
#
# Deploy End #
`;

async function errorOf(promise: Promise<unknown>): Promise<SettingsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SettingsError);
  return err as SettingsError;
}

describe('readDeploySettings', () => {
  let dir: string;
  let compose: string;

  beforeEach(async () => {
    dir = await tempDir();
    compose = join(dir, 'compose.yaml');
  });
  afterEach(() => removeDir(dir));

  it('returns the defaults when no location has settings', async () => {
    await writeTree(dir, { 'compose.yaml': COMPOSE });
    expect(await readDeploySettings(dir, compose, DEFAULTS, METHODS)).toEqual({
      ...DEFAULTS,
      compose: {},
      origin: 'defaults',
    });
  });

  it('reads deploy.yaml and merges it over the defaults', async () => {
    await writeTree(dir, {
      'compose.yaml': COMPOSE,
      'deploy.yaml':
        'method: blind\nhealthTimeout: 90\nstabilityPeriod: 1m30s\nmarkBad: false\nhooks:\n  preDeploy: hooks/pre.sh\n  timeout: 10s\n',
      'hooks/pre.sh': '#!/bin/sh\n',
    });
    expect(await readDeploySettings(dir, compose, DEFAULTS, METHODS)).toEqual({
      deploy: true,
      method: 'blind',
      healthTimeoutMs: 90_000,
      stabilityMs: 90_000,
      markBad: false,
      redeployGood: true,
      hooks: { preDeploy: 'hooks/pre.sh', postDeploy: undefined, timeoutMs: 10_000 },
      compose: {},
      updates: { images: false },
      origin: 'deploy.yaml',
      file: join(dir, 'deploy.yaml'),
    });
  });

  it('reads deploy.yml too, deploy.yaml first', async () => {
    await writeTree(dir, { 'compose.yaml': COMPOSE, 'deploy.yml': 'deploy: false\n' });
    const yml = await readDeploySettings(dir, compose, DEFAULTS, METHODS);
    expect(yml).toMatchObject({
      deploy: false,
      origin: 'deploy.yaml',
      file: join(dir, 'deploy.yml'),
    });
    await writeTree(dir, { 'deploy.yaml': 'method: blind\n' });
    const yaml = await readDeploySettings(dir, compose, DEFAULTS, METHODS);
    expect(yaml).toMatchObject({ deploy: true, method: 'blind', file: join(dir, 'deploy.yaml') });
  });

  it('reads the x-berth block of the compose file', async () => {
    await writeTree(dir, {
      'compose.yaml': `x-berth:\n  deploy: false\n  redeployGood: false\n${COMPOSE}`,
    });
    expect(await readDeploySettings(dir, compose, DEFAULTS, METHODS)).toMatchObject({
      deploy: false,
      redeployGood: false,
      origin: 'x-berth',
      file: compose,
    });
  });

  it('reads seed 002 comment block, with methode as an alias of method', async () => {
    await writeTree(dir, { 'compose.yaml': `${COMPOSE}\n${COMMENT_BLOCK}` });
    expect(await readDeploySettings(dir, compose, DEFAULTS, METHODS)).toMatchObject({
      deploy: true,
      method: 'blind',
      healthTimeoutMs: 120_000,
      origin: 'comment',
      file: compose,
    });
  });

  it('takes deploy.yaml over x-berth over the comment block, without mixing them', async () => {
    await writeTree(dir, {
      'compose.yaml': `x-berth:\n  markBad: false\n${COMPOSE}${COMMENT_BLOCK}`,
      'deploy.yaml': 'redeployGood: false\n',
    });
    const fromFile = await readDeploySettings(dir, compose, DEFAULTS, METHODS);
    expect(fromFile).toMatchObject({ origin: 'deploy.yaml', redeployGood: false, markBad: true });
    await removeDir(join(dir, 'deploy.yaml'));
    const fromX = await readDeploySettings(dir, compose, DEFAULTS, METHODS);
    expect(fromX).toMatchObject({ origin: 'x-berth', markBad: false, method: 'simple' });
    await writeTree(dir, { 'compose.yaml': `${COMPOSE}${COMMENT_BLOCK}` });
    expect(await readDeploySettings(dir, compose, DEFAULTS, METHODS)).toMatchObject({
      origin: 'comment',
    });
  });

  it('reads blue-green and canary with their drain, batches, window, probe and exclusive volumes', async () => {
    await writeTree(dir, {
      'compose.yaml': COMPOSE,
      'deploy.yaml': 'method: blue-green\ndrain: 3s\nexclusiveVolumes: [data]\n',
    });
    expect(await readDeploySettings(dir, compose, DEFAULTS, METHODS)).toMatchObject({
      method: 'blue-green',
      drainMs: 3000,
      exclusiveVolumes: ['data'],
    });
    await writeTree(dir, {
      'deploy.yaml':
        'methode: canary\ncanary:\n  batch: "25%"\n  window: 1m\n  probe: http://localhost:8080/health\n',
    });
    expect(await readDeploySettings(dir, compose, DEFAULTS, METHODS)).toMatchObject({
      method: 'canary',
      canary: { batch: { percent: 25 }, windowMs: 60_000, probe: 'http://localhost:8080/health' },
    });
    // Keys left out take berth's defaults: one container per batch, a 10 s window.
    await writeTree(dir, { 'deploy.yaml': 'method: canary\ncanary:\n  batch: 2\n' });
    expect((await readDeploySettings(dir, compose, DEFAULTS, METHODS)).canary).toEqual({
      batch: { count: 2 },
      windowMs: 10_000,
    });
  });

  it('names the file and key of a bad canary setting', async () => {
    await writeTree(dir, {
      'compose.yaml': COMPOSE,
      'deploy.yaml': 'method: canary\ncanary:\n  batch: "150%"\n  probe: ftp://x\n  windw: 1s\n',
    });
    const err = await errorOf(readDeploySettings(dir, compose, DEFAULTS, METHODS));
    expect(err.place).toMatchObject({ file: join(dir, 'deploy.yaml'), field: 'canary.batch' });
    expect(err.message).toContain('canary.batch: "150%" is not a batch size');
    expect(err.message).toContain('canary.probe: must be an http:// or https:// URL');
    expect(err.message).toContain('canary.windw: unknown key');
  });

  it('collects every problem: unknown keys and bad values', async () => {
    await writeTree(dir, {
      'compose.yaml': COMPOSE,
      'deploy.yaml':
        'deploy: maybe\nhealthTimeout: soon\ncolour: red\nhooks:\n  preDeploy: 3\n  retries: 2\n  timeout: 0\n',
    });
    const err = await errorOf(readDeploySettings(dir, compose, DEFAULTS, METHODS));
    expect(err.reason).toBe('SettingsInvalid');
    expect(err.place.file).toBe(join(dir, 'deploy.yaml'));
    for (const key of [
      'deploy:',
      'healthTimeout:',
      'colour: unknown key',
      'hooks.preDeploy:',
      'hooks.retries: unknown key',
      'hooks.timeout: must be longer than 0',
    ])
      expect(err.message).toContain(key);
  });

  it('names the compose file for an unknown key in the comment block', async () => {
    await writeTree(dir, {
      'compose.yaml': `${COMPOSE}# Deploy Start #\n# test:\n#     option1: value\n# Deploy End #\n`,
    });
    const err = await errorOf(readDeploySettings(dir, compose, DEFAULTS, METHODS));
    expect(err.place).toMatchObject({ file: compose, field: 'test' });
  });

  it('refuses hooks that are missing or leave the stack folder', async () => {
    await mkdir(join(dir, 'sub'));
    await writeTree(dir, {
      'compose.yaml': COMPOSE,
      'outside.sh': '#!/bin/sh\n',
      'sub/deploy.yaml': 'hooks:\n  preDeploy: ../outside.sh\n  postDeploy: missing.sh\n',
    });
    const stackDir = join(dir, 'sub');
    await writeTree(stackDir, { 'compose.yaml': COMPOSE });
    const err = await errorOf(
      readDeploySettings(stackDir, join(stackDir, 'compose.yaml'), DEFAULTS, METHODS),
    );
    expect(err.message).toContain('hooks.preDeploy: ../outside.sh is outside the stack folder');
    expect(err.message).toContain('hooks.postDeploy: missing.sh does not exist');
  });

  it('refuses a hook that is a link leaving the stack folder', async () => {
    await writeTree(dir, {
      'outside.sh': '#!/bin/sh\n',
      'stack/compose.yaml': COMPOSE,
      'stack/deploy.yaml': 'hooks:\n  preDeploy: pre.sh\n',
    });
    await symlink('../outside.sh', join(dir, 'stack/pre.sh'));
    const stackDir = join(dir, 'stack');
    const err = await errorOf(
      readDeploySettings(stackDir, join(stackDir, 'compose.yaml'), DEFAULTS, METHODS),
    );
    expect(err.place.field).toBe('hooks.preDeploy');
  });

  it('accepts executable hooks inside the folder', async () => {
    await writeTree(dir, {
      'compose.yaml': COMPOSE,
      'deploy.yaml': 'hooks:\n  postDeploy: ./scripts/post.sh\n',
      'scripts/post.sh': '#!/bin/sh\n',
    });
    await chmod(join(dir, 'scripts/post.sh'), 0o755);
    const settings = await readDeploySettings(dir, compose, DEFAULTS, METHODS);
    expect(settings.hooks.postDeploy).toBe('./scripts/post.sh');
  });

  it('reports invalid YAML in deploy.yaml', async () => {
    await writeTree(dir, { 'compose.yaml': COMPOSE, 'deploy.yaml': 'method: [blind\n' });
    const err = await errorOf(readDeploySettings(dir, compose, DEFAULTS, METHODS));
    expect(err.place.file).toBe(join(dir, 'deploy.yaml'));
  });

  it('treats an empty deploy.yaml as no overrides', async () => {
    await writeTree(dir, { 'compose.yaml': COMPOSE, 'deploy.yaml': '# nothing\n' });
    expect(await readDeploySettings(dir, compose, DEFAULTS, METHODS)).toMatchObject({
      ...DEFAULTS,
      origin: 'deploy.yaml',
    });
  });

  it('refuses settings that are not a mapping', async () => {
    await writeTree(dir, { 'compose.yaml': `x-berth: [1, 2]\n${COMPOSE}` });
    await errorOf(readDeploySettings(dir, compose, DEFAULTS, METHODS));
  });
});

describe('extractCommentBlock', () => {
  it('strips the leading # and one space, keeping indentation', () => {
    expect(
      extractCommentBlock('a: 1\n# Deploy Start #\n#\n# x:\n#     y: 1\n#z\n# Deploy End #\n', 'f'),
    ).toBe('\nx:\n    y: 1\nz');
  });

  it('returns undefined without a block and fails without an end', () => {
    expect(extractCommentBlock('services: {}\n', 'f')).toBeUndefined();
    expect(() => extractCommentBlock('# Deploy Start #\n# a: 1\n', 'f')).toThrow(SettingsError);
  });
});

describe('readDeploySettings: hostile files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => removeDir(dir));

  it('refuses a deploy.yaml above the cap without reading it, naming file and cap', async () => {
    await writeTree(dir, { 'compose.yaml': COMPOSE, 'deploy.yaml': '' });
    await truncate(join(dir, 'deploy.yaml'), 3 * 1024 ** 3);
    const err = await errorOf(
      readDeploySettings(dir, join(dir, 'compose.yaml'), DEFAULTS, METHODS),
    );
    expect(err.reason).toBe('FileTooLarge');
    expect(err.message).toBe(
      `deploy settings file ${join(dir, 'deploy.yaml')} is too large: ${3 * 1024 ** 3} bytes, the limit is 1 MiB (1048576 bytes)`,
    );
    expect(err.place.file).toBe(join(dir, 'deploy.yaml'));
  });

  it('refuses a compose file above the cap when looking for x-berth', async () => {
    await writeTree(dir, { 'compose.yaml': COMPOSE });
    await truncate(join(dir, 'compose.yaml'), 1024 * 1024 + 1);
    const err = await errorOf(
      readDeploySettings(dir, join(dir, 'compose.yaml'), DEFAULTS, METHODS),
    );
    expect(err.reason).toBe('FileTooLarge');
  });

  const bomb = (): string => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    const names = 'abcdefghi';
    for (let i = 1; i < 9; i++) {
      const p = names[i - 1]!;
      lines.push(
        `${names[i]}: &${names[i]} [${Array.from({ length: 9 }, () => `*${p}`).join(',')}]`,
      );
    }
    return lines.join('\n');
  };

  it('refuses an alias bomb in deploy.yaml', async () => {
    await writeTree(dir, { 'compose.yaml': COMPOSE, 'deploy.yaml': `${bomb()}\n` });
    const err = await errorOf(
      readDeploySettings(dir, join(dir, 'compose.yaml'), DEFAULTS, METHODS),
    );
    expect(err.reason).toBe('SettingsInvalid');
    expect(err.message).toMatch(/is not valid YAML: YAML aliases expand more than 100 times/);
  });

  it('refuses an alias bomb in a compose file holding x-berth', async () => {
    const indented = bomb().replace(/^/gm, 'x-');
    await writeTree(dir, { 'compose.yaml': `${COMPOSE}${indented}\nx-berth:\n  method: blind\n` });
    const err = await errorOf(
      readDeploySettings(dir, join(dir, 'compose.yaml'), DEFAULTS, METHODS),
    );
    expect(err.reason).toBe('SettingsInvalid');
    expect(err.place.field).toBe('x-berth');
    expect(err.message).toMatch(/x-berth in .* cannot be read: YAML aliases expand/);
  });

  it('refuses duplicate keys in deploy.yaml, naming the key and line', async () => {
    await writeTree(dir, {
      'compose.yaml': COMPOSE,
      'deploy.yaml': 'method: blind\nmarkBad: true\nmethod: simple\n',
    });
    const err = await errorOf(
      readDeploySettings(dir, join(dir, 'compose.yaml'), DEFAULTS, METHODS),
    );
    expect(err.message).toContain('Map keys must be unique: "method" at line 3, column 1');
  });

  it('checks hooks real path against real path when the stack folder is reached through a link', async () => {
    await writeTree(dir, {
      'real/web/compose.yaml': COMPOSE,
      'real/web/deploy.yaml': 'hooks:\n  preDeploy: pre.sh\n  postDeploy: out.sh\n',
      'real/web/pre.sh': '#!/bin/sh\n',
      'real/outside.sh': '#!/bin/sh\n',
    });
    await symlink('../outside.sh', join(dir, 'real/web/out.sh'));
    await symlink(join(dir, 'real'), join(dir, 'alias'));
    const stack = join(dir, 'alias/web');
    const err = await errorOf(
      readDeploySettings(stack, join(stack, 'compose.yaml'), DEFAULTS, METHODS),
    );
    // pre.sh is fine although the folder's path holds a link; out.sh leaves.
    expect(err.message).toBe(
      `invalid deploy settings in ${join(stack, 'deploy.yaml')}: hooks.postDeploy: out.sh resolves to ${join(dir, 'real/outside.sh')}, outside the stack folder`,
    );
  });
});
