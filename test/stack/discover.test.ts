import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SettingsError, StackError } from '../../src/errors.js';
import { discoverStacks } from '../../src/stack/discover.js';
import { COMPOSE, DEFAULTS, removeDir, tempDir, writeTree } from './fixtures.js';
import { methodNames } from '../../src/strategies/index.js';

const METHODS = methodNames();

describe('discoverStacks', () => {
  let root: string;

  beforeEach(async () => {
    root = await tempDir();
  });
  afterEach(() => removeDir(root));

  it('finds folders matched by the globs that hold a compose file', async () => {
    await writeTree(root, {
      'stacks/web/compose.yaml': COMPOSE,
      'stacks/db/docker-compose.yml': COMPOSE,
      'stacks/notes/README.md': 'no compose file here',
      'apps/api/compose.yml': COMPOSE,
      'other/ignored/compose.yaml': COMPOSE,
    });
    const result = await discoverStacks(root, ['stacks/*', 'apps/*'], DEFAULTS, METHODS);
    expect(result.broken).toEqual([]);
    expect(result.stacks.map((s) => [s.name, s.relPath])).toEqual([
      ['api', 'apps/api'],
      ['db', 'stacks/db'],
      ['web', 'stacks/web'],
    ]);
    const web = result.stacks.find((s) => s.name === 'web')!;
    expect(web.dir).toBe(join(root, 'stacks/web'));
    expect(web.composeFiles).toEqual([join(root, 'stacks/web/compose.yaml')]);
    expect(web.version).toMatch(/^[0-9a-f]{64}$/);
    expect(web.settings).toEqual({ ...DEFAULTS, compose: {}, origin: 'defaults' });
    expect(result.stacks.find((s) => s.name === 'db')!.composeFiles[0]).toMatch(
      /docker-compose\.yml$/,
    );
  });

  it('prefers compose.yaml over the other file names', async () => {
    await writeTree(root, {
      's/web/docker-compose.yaml': COMPOSE,
      's/web/compose.yml': COMPOSE,
      's/web/compose.yaml': COMPOSE,
    });
    const { stacks } = await discoverStacks(root, ['s/*'], DEFAULTS, METHODS);
    expect(stacks[0]!.composeFiles).toEqual([join(root, 's/web/compose.yaml')]);
  });

  it('supports recursive globs', async () => {
    await writeTree(root, { 'a/b/c/deep/compose.yaml': COMPOSE, 'a/top/compose.yaml': COMPOSE });
    const { stacks } = await discoverStacks(root, ['a/**'], DEFAULTS, METHODS);
    expect(stacks.map((s) => s.name)).toEqual(['deep', 'top']);
  });

  it('refuses invalid names and keeps the other stacks', async () => {
    await writeTree(root, {
      'stacks/Web/compose.yaml': COMPOSE,
      'stacks/my.app/compose.yaml': COMPOSE,
      'stacks/_x/compose.yaml': COMPOSE,
      'stacks/good-1_a/compose.yaml': COMPOSE,
    });
    const result = await discoverStacks(root, ['stacks/*'], DEFAULTS, METHODS);
    expect(result.stacks.map((s) => s.name)).toEqual(['good-1_a']);
    expect(result.broken.map((b) => b.name).sort()).toEqual(['Web', '_x', 'my.app']);
    for (const broken of result.broken) {
      expect(broken.error).toBeInstanceOf(StackError);
      expect(broken.error.reason).toBe('InvalidStackName');
      expect(broken.error.message).toContain(`stacks/${broken.name}`);
    }
  });

  it('marks both folders of a duplicate name broken, naming them', async () => {
    await writeTree(root, {
      'a/web/compose.yaml': COMPOSE,
      'b/web/compose.yaml': COMPOSE,
      'a/db/compose.yaml': COMPOSE,
    });
    const result = await discoverStacks(root, ['a/*', 'b/*'], DEFAULTS, METHODS);
    expect(result.stacks.map((s) => s.name)).toEqual(['db']);
    expect(result.broken).toHaveLength(2);
    for (const broken of result.broken) {
      expect(broken.error.reason).toBe('DuplicateStackName');
      expect(broken.error.message).toContain('a/web');
      expect(broken.error.message).toContain('b/web');
    }
  });

  it('does not count one folder matched by two globs as a duplicate', async () => {
    await writeTree(root, { 'stacks/web/compose.yaml': COMPOSE });
    const result = await discoverStacks(root, ['stacks/*', 'stacks/web'], DEFAULTS, METHODS);
    expect(result.stacks.map((s) => s.name)).toEqual(['web']);
    expect(result.broken).toEqual([]);
  });

  it('keeps the version of a stack with bad settings', async () => {
    await writeTree(root, {
      'stacks/web/compose.yaml': COMPOSE,
      'stacks/web/deploy.yaml': 'method: rolling\n',
      'stacks/db/compose.yaml': COMPOSE,
    });
    const result = await discoverStacks(root, ['stacks/*'], DEFAULTS, METHODS);
    expect(result.stacks.map((s) => s.name)).toEqual(['db']);
    const broken = result.broken[0]!;
    expect(broken.name).toBe('web');
    expect(broken.version).toMatch(/^[0-9a-f]{64}$/);
    expect(broken.error).toBeInstanceOf(SettingsError);
    expect(broken.error.place.field).toBe('method');
  });

  it('makes a stack with an escaping link broken without a version', async () => {
    await writeTree(root, {
      'stacks/web/compose.yaml': COMPOSE,
      'stacks/db/compose.yaml': COMPOSE,
    });
    await symlink('/etc/hostname', join(root, 'stacks/web/host'));
    const result = await discoverStacks(root, ['stacks/*'], DEFAULTS, METHODS);
    expect(result.stacks.map((s) => s.name)).toEqual(['db']);
    expect(result.broken[0]!.error.reason).toBe('SymlinkEscapesStack');
    expect(result.broken[0]!.version).toBeUndefined();
  });

  describe('a stack folder that is a link', () => {
    let outside: string;
    beforeEach(async () => {
      outside = await tempDir();
      await writeTree(outside, { 'evil/compose.yaml': COMPOSE, 'evil/secret.txt': 'x' });
    });
    afterEach(() => removeDir(outside));

    it('is reported broken, naming the folder, and its target is not read', async () => {
      await writeTree(root, { 'stacks/web/compose.yaml': COMPOSE });
      await symlink(join(outside, 'evil'), join(root, 'stacks/evil'));
      // Were berth to hash or read settings there, these would fail it differently.
      await writeTree(outside, { 'evil/deploy.yaml': 'method: nope\n' });
      await symlink('/etc/passwd', join(outside, 'evil/passwd'));
      const result = await discoverStacks(root, ['stacks/*'], DEFAULTS, METHODS);
      expect(result.stacks.map((s) => s.name)).toEqual(['web']);
      expect(result.broken).toHaveLength(1);
      const broken = result.broken[0]!;
      expect(broken).toMatchObject({ name: 'evil', dir: join(root, 'stacks/evil') });
      expect(broken.version).toBeUndefined();
      expect(broken.error).toBeInstanceOf(StackError);
      expect(broken.error.reason).toBe('StackFolderIsLink');
      expect(broken.error.message).toBe(
        'stack folder stacks/evil is a symbolic link; a stack must be a real folder inside the repository',
      );
    });

    it('is reported by recursive globs too, which do not descend into it', async () => {
      await writeTree(outside, { 'evil/deeper/inner/compose.yaml': COMPOSE });
      await writeTree(root, { 'stacks/web/compose.yaml': COMPOSE });
      await symlink(join(outside, 'evil'), join(root, 'stacks/evil'));
      const result = await discoverStacks(root, ['stacks/**'], DEFAULTS, METHODS);
      expect(result.stacks.map((s) => s.name)).toEqual(['web']);
      expect(result.broken.map((b) => [b.name, b.error.reason])).toEqual([
        ['evil', 'StackFolderIsLink'],
      ]);
    });

    it('is ignored when its target is not a stack', async () => {
      await writeTree(root, { 'stacks/web/compose.yaml': COMPOSE, 'docs/readme.md': 'x' });
      await symlink(join(root, 'docs'), join(root, 'stacks/docs'));
      await symlink(join(root, 'docs/readme.md'), join(root, 'stacks/file'));
      const result = await discoverStacks(root, ['stacks/*'], DEFAULTS, METHODS);
      expect(result.stacks.map((s) => s.name)).toEqual(['web']);
      expect(result.broken).toEqual([]);
    });

    it('is refused when a linked parent leads out of the source', async () => {
      await symlink(outside, join(root, 'linked'));
      const result = await discoverStacks(root, ['linked/*'], DEFAULTS, METHODS);
      expect(result.stacks).toEqual([]);
      expect(result.broken[0]!.error.reason).toBe('StackFolderIsLink');
      expect(result.broken[0]!.error.message).toMatch(
        /^stack folder linked\/evil resolves to .*evil, outside the source folder /,
      );
    });

    it('is accepted when the source root itself is reached through a link', async () => {
      await writeTree(root, { 'stacks/web/compose.yaml': COMPOSE });
      const alias = join(outside, 'alias');
      await symlink(root, alias);
      const result = await discoverStacks(alias, ['stacks/*'], DEFAULTS, METHODS);
      expect(result.broken).toEqual([]);
      expect(result.stacks.map((s) => s.dir)).toEqual([join(alias, 'stacks/web')]);
    });
  });

  it('changes only the version of the stack whose files changed', async () => {
    await writeTree(root, {
      'stacks/web/compose.yaml': COMPOSE,
      'stacks/db/compose.yaml': COMPOSE,
    });
    const before = await discoverStacks(root, ['stacks/*'], DEFAULTS, METHODS);
    await writeFile(join(root, 'stacks/web/.env'), 'X=1\n');
    const after = await discoverStacks(root, ['stacks/*'], DEFAULTS, METHODS);
    const version = (d: typeof before, name: string): string | undefined =>
      d.stacks.find((s) => s.name === name)?.version;
    expect(version(after, 'web')).not.toBe(version(before, 'web'));
    expect(version(after, 'db')).toBe(version(before, 'db'));
  });

  // Writing 1400 files is setup, not the measure: it must not hit the 5 s default on a busy machine.
  it('discovers 200 stacks quickly', { timeout: 60_000 }, async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 200; i++) {
      files[`stacks/s${i}/compose.yaml`] = COMPOSE;
      files[`stacks/s${i}/deploy.yaml`] = 'method: blind\n';
      for (let j = 0; j < 5; j++) files[`stacks/s${i}/conf/f${j}.txt`] = `file ${i} ${j}\n`;
    }
    await writeTree(root, files);
    const started = performance.now();
    const result = await discoverStacks(root, ['stacks/*'], DEFAULTS, METHODS);
    const elapsed = performance.now() - started;
    expect(result.stacks).toHaveLength(200);
    expect(result.stacks.every((s) => s.settings.method === 'blind')).toBe(true);
    // Loose on purpose: the suite shares two cores; this catches a sequential or quadratic walk.
    expect(elapsed).toBeLessThan(10_000);
  });
});
