import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SettingsError, StackError } from '../../src/errors.js';
import { createDecryptor, loadIdentities } from '../../src/secrets/index.js';
import { discoverStacks } from '../../src/stack/discover.js';
import { createStackLoader } from '../../src/stack/project.js';
import { readComposeSelection, readDeploySettings } from '../../src/stack/settings.js';
import { methodNames } from '../../src/strategies/index.js';
import { ageEncrypt, ageKeygen } from './age.js';
import { COMPOSE, DEFAULTS, removeDir, tempDir, writeTree } from './fixtures.js';

const METHODS = methodNames();

let dir: string;

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(() => removeDir(dir));

async function settingsOf(files: Record<string, string>): Promise<unknown> {
  await writeTree(dir, files);
  return readDeploySettings(dir, join(dir, 'compose.yaml'), DEFAULTS, METHODS);
}

async function problemOf(files: Record<string, string>): Promise<SettingsError> {
  const err = await settingsOf(files).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SettingsError);
  return err as SettingsError;
}

describe('the compose selection keys', () => {
  it('reads composeFiles, envFiles, profiles and projectName', async () => {
    const settings = await settingsOf({
      'compose.yaml': COMPOSE,
      'prod.yaml': COMPOSE,
      'env/prod.env': 'A=1\n',
      'deploy.yaml':
        'composeFiles: [compose.yaml, prod.yaml]\nenvFiles: [env/prod.env]\nprofiles: [web, "*"]\nprojectName: shop\n',
    });
    expect(settings).toMatchObject({
      compose: {
        files: ['compose.yaml', 'prod.yaml'],
        envFiles: ['env/prod.env'],
        profiles: ['web', '*'],
        projectName: 'shop',
      },
      origin: 'deploy.yaml',
    });
  });

  it('accepts the snake_case spellings, alone or agreeing', async () => {
    const settings = await settingsOf({
      'compose.yaml': COMPOSE,
      '.env.prod': 'A=1\n',
      'deploy.yaml':
        'compose_files: [compose.yaml]\nenv_files: [.env.prod]\nproject_name: shop\nprojectName: shop\n',
    });
    expect(settings).toMatchObject({
      compose: { files: ['compose.yaml'], envFiles: ['.env.prod'], projectName: 'shop' },
    });
  });

  it('refuses a key and its alias that disagree, naming both', async () => {
    const err = await problemOf({
      'compose.yaml': COMPOSE,
      'other.yaml': COMPOSE,
      'deploy.yaml': 'composeFiles: [compose.yaml]\ncompose_files: [other.yaml]\n',
    });
    expect(err.message).toContain('compose_files: composeFiles and compose_files disagree');
    expect(err.place).toMatchObject({ file: join(dir, 'deploy.yaml'), field: 'compose_files' });
  });

  it.each([
    ['../outside.yaml', 'composeFiles[1]: ../outside.yaml is outside the stack folder'],
    ['/etc/compose.yaml', 'composeFiles[1]: /etc/compose.yaml is outside the stack folder'],
    ['prod.yaml', 'composeFiles[1]: prod.yaml does not exist in the stack folder'],
    ['sub', 'composeFiles[1]: sub is not a file'],
  ])('refuses the compose file %s', async (given, message) => {
    await mkdir(join(dir, 'sub'));
    const err = await problemOf({
      'compose.yaml': COMPOSE,
      'deploy.yaml': `composeFiles: [compose.yaml, ${given}]\n`,
    });
    expect(err.message).toContain(message);
    expect(err.place.field).toBe('composeFiles[1]');
  });

  it('refuses a compose file that is a link out of the folder', async () => {
    const outside = await tempDir();
    try {
      await writeTree(outside, { 'compose.yaml': COMPOSE });
      await symlink(join(outside, 'compose.yaml'), join(dir, 'linked.yaml'));
      const err = await problemOf({
        'compose.yaml': COMPOSE,
        'deploy.yaml': 'compose_files: [linked.yaml]\n',
      });
      expect(err.message).toContain(`compose_files[0]: linked.yaml resolves to ${outside}`);
    } finally {
      await removeDir(outside);
    }
  });

  it('refuses an encrypted compose file, accepts an encrypted env file', async () => {
    const key = ageKeygen(dir);
    await writeTree(dir, {
      'secret.yaml': ageEncrypt(COMPOSE, [key.recipient], { armor: true }).toString(),
      'prod.env': ageEncrypt('A=1\n', [key.recipient], { armor: true }).toString(),
    });
    const err = await problemOf({
      'compose.yaml': COMPOSE,
      'deploy.yaml': 'composeFiles: [compose.yaml, secret.yaml]\nenvFiles: [prod.env]\n',
    });
    expect(err.message).toContain('composeFiles[1]: secret.yaml is encrypted (age)');
    expect(err.message).not.toContain('envFiles');
  });

  it('refuses a missing env file, bad profiles and a bad project name', async () => {
    const missing = await problemOf({
      'compose.yaml': COMPOSE,
      'deploy.yaml': 'envFiles: [nope.env]\nmethod: nope\n',
    });
    expect(missing.message).toContain('envFiles[0]: nope.env does not exist in the stack folder');
    expect(missing.message).toContain('method: Invalid option');
    const err = await problemOf({
      'compose.yaml': COMPOSE,
      'deploy.yaml': 'profiles: [ok, "-bad"]\nprojectName: My.Shop\n',
    });
    expect(err.message).toContain('profiles[1]: not a profile name');
    expect(err.message).toContain('projectName: not a stack name');
    const list = await problemOf({ 'compose.yaml': COMPOSE, 'deploy.yaml': 'profiles: web\n' });
    expect(list.place.field).toBe('profiles');
    const empty = await problemOf({ 'compose.yaml': COMPOSE, 'deploy.yaml': 'composeFiles: []\n' });
    expect(empty.place.field).toBe('composeFiles');
  });

  it('reads updates.images over the defaults', async () => {
    expect(await settingsOf({ 'compose.yaml': COMPOSE })).toMatchObject({
      updates: { images: false },
    });
    const on = await readDeploySettings(
      dir,
      join(dir, 'compose.yaml'),
      { ...DEFAULTS, updates: { images: true } },
      METHODS,
    );
    expect(on.updates).toEqual({ images: true });
    await writeTree(dir, { 'deploy.yaml': 'updates: { images: false }\n' });
    const off = await readDeploySettings(
      dir,
      join(dir, 'compose.yaml'),
      { ...DEFAULTS, updates: { images: true } },
      METHODS,
    );
    expect(off.updates).toEqual({ images: false });
    expect((await problemOf({ 'deploy.yaml': 'updates: { digests: true }\n' })).place.field).toBe(
      'updates.digests',
    );
  });
});

describe('readComposeSelection', () => {
  it('reads only the selection, from deploy.yaml or x-berth, ignoring other keys', async () => {
    await writeTree(dir, {
      'compose.yaml': `x-berth:\n  compose_files: [compose.yaml]\n  method: nope\n${COMPOSE}`,
    });
    expect(await readComposeSelection(dir)).toEqual({ files: ['compose.yaml'] });
    await writeTree(dir, { 'deploy.yaml': 'profiles: [a]\nfutureKey: 1\n' });
    expect(await readComposeSelection(dir)).toEqual({ profiles: ['a'] });
  });

  it('is empty without settings, and refuses a bad selection', async () => {
    await writeTree(dir, { 'compose.yaml': COMPOSE });
    expect(await readComposeSelection(dir)).toEqual({});
    await writeTree(dir, { 'deploy.yaml': 'envFiles: a.env\n' });
    await expect(readComposeSelection(dir)).rejects.toThrow(SettingsError);
  });
});

describe('discovery with a selection', () => {
  it('names a stack by projectName and lists its files, the main one first', async () => {
    await writeTree(dir, {
      'stacks/Web App/compose.yaml': COMPOSE,
      'stacks/Web App/compose.override.yaml': COMPOSE,
      'stacks/Web App/deploy.yaml': 'projectName: webapp\n',
      'stacks/api/docker-compose.yml': COMPOSE,
      'stacks/api/prod.yml': COMPOSE,
      'stacks/api/deploy.yaml': 'compose_files: [docker-compose.yml, prod.yml]\n',
    });
    const { stacks, broken } = await discoverStacks(dir, ['stacks/*'], DEFAULTS, METHODS);
    expect(broken).toEqual([]);
    expect(stacks.map((s) => [s.name, s.relPath, s.composeFiles])).toEqual([
      [
        'api',
        'stacks/api',
        [join(dir, 'stacks/api/docker-compose.yml'), join(dir, 'stacks/api/prod.yml')],
      ],
      [
        'webapp',
        'stacks/Web App',
        [
          join(dir, 'stacks/Web App/compose.yaml'),
          join(dir, 'stacks/Web App/compose.override.yaml'),
        ],
      ],
    ]);
  });

  it('finds a folder whose deploy.yaml selects files not named like compose files', async () => {
    await writeTree(dir, {
      'stacks/app/app.yaml': COMPOSE,
      'stacks/app/deploy.yaml': 'composeFiles: [app.yaml]\n',
      'stacks/notes/deploy.yaml': 'method: simple\n',
    });
    const { stacks, broken } = await discoverStacks(dir, ['stacks/*'], DEFAULTS, METHODS);
    expect(broken).toEqual([]);
    expect(stacks.map((s) => [s.name, s.composeFiles])).toEqual([
      ['app', [join(dir, 'stacks/app/app.yaml')]],
    ]);
  });

  it('makes every folder claiming one name broken, naming them all', async () => {
    await writeTree(dir, {
      'stacks/shop/compose.yaml': COMPOSE,
      'stacks/shop-v2/compose.yaml': COMPOSE,
      'stacks/shop-v2/deploy.yaml': 'projectName: shop\n',
      'stacks/other/compose.yaml': COMPOSE,
    });
    const { stacks, broken } = await discoverStacks(dir, ['stacks/*'], DEFAULTS, METHODS);
    expect(stacks.map((s) => s.name)).toEqual(['other']);
    expect(broken.map((b) => [b.name, b.dir])).toEqual([
      ['shop', join(dir, 'stacks/shop')],
      ['shop', join(dir, 'stacks/shop-v2')],
    ]);
    for (const b of broken) {
      expect(b.error).toBeInstanceOf(StackError);
      expect(b.error.reason).toBe('DuplicateStackName');
      expect(b.error.message).toBe(
        'stack name "shop" is used by several folders: stacks/shop, stacks/shop-v2',
      );
      expect(b.version).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('reports a bad selection as the stack broken, with file and field', async () => {
    await writeTree(dir, {
      'stacks/web/compose.yaml': COMPOSE,
      'stacks/web/deploy.yaml': 'composeFiles: [compose.yaml, compose.prod.yaml]\n',
    });
    const { broken } = await discoverStacks(dir, ['stacks/*'], DEFAULTS, METHODS);
    expect(broken).toHaveLength(1);
    expect(broken[0]!.error.place).toMatchObject({
      file: join(dir, 'stacks/web/deploy.yaml'),
      field: 'composeFiles[1]',
    });
  });
});

describe('the stack loader', () => {
  it('loads the files, env files and profiles the folder selects', async () => {
    const stack = join(dir, 'app');
    await writeTree(stack, {
      'compose.yaml': 'services:\n  web:\n    image: "busybox:${TAG:-none}"\n',
      'compose.override.yaml': 'services:\n  web:\n    image: ignored\n',
      'prod.yaml': 'services:\n  debug:\n    image: busybox\n    profiles: [debug]\n',
      'prod.env': 'TAG=prod\n',
      'deploy.yaml':
        'composeFiles: [compose.yaml, prod.yaml]\nenvFiles: [prod.env]\nprofiles: [debug]\n',
    });
    const loaded = await createStackLoader({ env: {} })(stack, 'shop');
    expect(loaded.project.name).toBe('shop');
    expect(loaded.project.services.web?.image).toBe('busybox:prod');
    expect(Object.keys(loaded.project.services).sort()).toEqual(['debug', 'web']);
    expect(loaded.sensitiveValues).toEqual([]);
  });

  it('gives the values of decrypted env files as sensitive, not those of plain ones', async () => {
    const stack = join(dir, 'app');
    const key = ageKeygen(dir);
    await writeTree(stack, {
      'compose.yaml':
        'services:\n  web:\n    image: "busybox:${TAG}"\n    env_file: [app.env, plain.env]\n',
      'prod.env': ageEncrypt('TAG=latest\n', [key.recipient], { armor: true }).toString(),
      'app.env': ageEncrypt('PASSWORD=s3cr3t\nEMPTY=\n', [key.recipient], {
        armor: true,
      }).toString(),
      'plain.env': 'PUBLIC=hello\n',
      'deploy.yaml': 'envFiles: [prod.env]\n',
    });
    const identities = await loadIdentities({
      keyFiles: [key.file],
      env: {},
      useSopsDefaults: false,
    });
    const loader = createStackLoader({
      env: {},
      decryptor: createDecryptor(identities),
      decryptedDir: join(dir, 'decrypted'),
    });
    const loaded = await loader(stack, 'app');
    expect(loaded.project.services.web?.environment).toMatchObject({ PASSWORD: 's3cr3t' });
    expect(loaded.sensitiveValues.sort()).toEqual(['latest', 's3cr3t']);
  });
});
