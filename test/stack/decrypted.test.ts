import { cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import { createDecryptor, loadIdentities } from '../../src/secrets/index.js';
import { assertPolicy, resolvePolicy } from '../../src/policy/index.js';
import { isDecryptedFileOf, releaseDecrypted } from '../../src/stack/decrypted.js';
import { encodeSops } from '../helpers/sops.js';
import { createStackLoader, type StackLoader } from '../../src/stack/project.js';
import { ageEncrypt, ageKeygen, type AgeKey } from './age.js';
import { removeDir, tempDir, writeTree } from './fixtures.js';

const IMAGE = 'berth-fixture/busybox:latest';

let work: string;
let stackDir: string;
let root: string;
let key: AgeKey;
let loader: StackLoader;

async function loaderFor(keys: AgeKey[]): Promise<StackLoader> {
  const identities = await loadIdentities({
    keyFiles: keys.map((k) => k.file),
    env: {},
    useSopsDefaults: false,
  });
  return createStackLoader({ env: {}, decryptor: createDecryptor(identities), decryptedDir: root });
}

beforeEach(async () => {
  work = await tempDir();
  stackDir = join(work, 'stacks', 'app');
  root = join(work, 'data', 'decrypted');
  await mkdir(stackDir, { recursive: true });
  key = ageKeygen(work);
  loader = await loaderFor([key]);
});
afterEach(() => removeDir(work));

async function put(name: string, content: string | Uint8Array): Promise<void> {
  await mkdir(join(stackDir, name, '..'), { recursive: true });
  await writeFile(join(stackDir, name), content);
}

async function errorOf(promise: Promise<unknown>): Promise<BerthError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BerthError);
  return err as BerthError;
}

describe('env files and .env encrypted with age', () => {
  it.each([
    ['armored', true],
    ['binary', false],
  ])('reads an %s age env_file into the environment', async (_name, armor) => {
    await put(
      'app.env.age',
      ageEncrypt('DB_PASSWORD=s3cr3t-value\nPORT=8080\n', [key.recipient], { armor }),
    );
    await put(
      'compose.yaml',
      `services:\n  web:\n    image: ${IMAGE}\n    env_file: app.env.age\n`,
    );
    const { project, decrypted } = await loader(stackDir, 'app');
    expect(project.services.web?.environment).toEqual({
      DB_PASSWORD: 's3cr3t-value',
      PORT: '8080',
    });
    expect(decrypted?.files).toEqual([]);
  });

  it('interpolates from an encrypted .env, and reads env files it names', async () => {
    await put('.env', ageEncrypt('TAG=latest\nEXTRA=extra.env\n', [key.recipient]));
    await put('extra.env', ageEncrypt('FROM_EXTRA=yes\n', [key.recipient], { armor: true }));
    await put(
      'compose.yaml',
      'services:\n  web:\n    image: berth-fixture/busybox:${TAG}\n    env_file: ${EXTRA}\n',
    );
    const { project } = await loader(stackDir, 'app');
    expect(project.services.web?.image).toBe(IMAGE);
    expect(project.services.web?.environment).toEqual({ FROM_EXTRA: 'yes' });
  });

  it('never quotes a decrypted line in an error', async () => {
    await put('app.env', ageEncrypt('GOOD=1\nthis line holds hunter2-secret\n', [key.recipient]));
    await put('compose.yaml', `services:\n  web:\n    image: ${IMAGE}\n    env_file: app.env\n`);
    const err = await errorOf(loader(stackDir, 'app'));
    expect(err.reason).toBe('ComposeEnvFileInvalid');
    expect(err.message).toContain(join(stackDir, 'app.env'));
    expect(err.message).toContain('line 2');
    expect(err.message).not.toContain('hunter2');
  });

  it('fails the stack naming the file when no key opens it', async () => {
    const other = ageKeygen(work, 'other.txt');
    await put('app.env', ageEncrypt('A=b\n', [other.recipient]));
    await put('compose.yaml', `services:\n  web:\n    image: ${IMAGE}\n    env_file: app.env\n`);
    const err = await errorOf(loader(stackDir, 'app'));
    expect(err.reason).toBe('SecretKeyMissing');
    expect(err.message).toContain(join(stackDir, 'app.env'));
    expect(err.place.stack).toBe('app');
  });
});

describe('files the project mounts', () => {
  const COMPOSE = [
    'services:',
    '  web:',
    `    image: ${IMAGE}`,
    '    secrets: [token]',
    '    volumes:',
    '      - ./conf/app.conf:/etc/app.conf:ro',
    '      - ./certs:/certs',
    'secrets:',
    '  token:',
    '    file: ./token.age',
    '',
  ].join('\n');

  beforeEach(async () => {
    await put('token.age', ageEncrypt('token-plaintext', [key.recipient], { armor: true }));
    await put('conf/app.conf', ageEncrypt('conf-plaintext\n', [key.recipient]));
    await put('certs/readme.txt', 'plain file\n');
    await put('certs/sub/key.pem', ageEncrypt('pem-plaintext\n', [key.recipient]));
    await put('compose.yaml', COMPOSE);
  });

  it('points secrets, bind-mounted files and files in bind-mounted folders at their plaintext', async () => {
    const { project, decrypted } = await loader(stackDir, 'app');
    const secretFile = project.secrets.token;
    expect(secretFile?.source).toBe('file');
    const secretPath = secretFile?.source === 'file' ? secretFile.file : '';
    expect(secretPath.startsWith(join(root, 'app') + '/')).toBe(true);
    expect(secretPath.endsWith('/token')).toBe(true);
    const volumes = project.services.web?.volumes ?? [];
    expect(volumes.map((v) => v.target)).toEqual(['/etc/app.conf', '/certs', '/certs/sub/key.pem']);
    expect(volumes[0]?.source?.startsWith(join(root, 'app'))).toBe(true);
    expect(volumes[0]?.readOnly).toBe(true);
    expect(volumes[1]?.source).toBe(join(stackDir, 'certs'));
    expect(volumes[2]?.source?.startsWith(join(root, 'app'))).toBe(true);
    expect(decrypted?.files.map((f) => f.format)).toEqual(['age', 'age', 'age']);
    // Nothing is written before a deploy asks for it.
    await expect(stat(root)).rejects.toThrow();
  });

  it('writes the plaintext privately when materialized, readable by any container user', async () => {
    const { project, decrypted } = await loader(stackDir, 'app');
    await decrypted?.materialize();
    const volumes = project.services.web?.volumes ?? [];
    expect(await readFile(volumes[0]?.source ?? '', 'utf8')).toBe('conf-plaintext\n');
    expect(await readFile(volumes[2]?.source ?? '', 'utf8')).toBe('pem-plaintext\n');
    const secret = project.secrets.token;
    expect(await readFile(secret?.source === 'file' ? secret.file : '', 'utf8')).toBe(
      'token-plaintext',
    );
    for (const dir of [root, join(root, 'app'), join(volumes[0]?.source ?? '', '..')])
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(volumes[0]?.source ?? '')).mode & 0o777).toBe(0o444);
    // Again: nothing changes, nothing is added.
    const before = await readdir(join(root, 'app'));
    await decrypted?.materialize();
    expect(await readdir(join(root, 'app'))).toEqual(before);
  });

  it('gives the same paths wherever the stack is loaded from, and new ones when a file changes', async () => {
    const first = await loader(stackDir, 'app');
    const copy = join(work, 'running', 'app');
    await cp(stackDir, copy, { recursive: true });
    const second = await loader(copy, 'app');
    expect(second.decrypted?.files.map((f) => f.path)).toEqual(
      first.decrypted?.files.map((f) => f.path),
    );
    await put('token.age', ageEncrypt('token-plaintext', [key.recipient], { armor: true }));
    const third = await loader(stackDir, 'app');
    const paths = (r: typeof first): string[] => r.decrypted?.files.map((f) => f.path) ?? [];
    expect(paths(third)[0]).not.toBe(paths(first)[0]);
    expect(paths(third).slice(1)).toEqual(paths(first).slice(1));
  });

  it('removes what the running project does not use, and everything once nothing runs', async () => {
    const old = await loader(stackDir, 'app');
    await old.decrypted?.materialize();
    await put('token.age', ageEncrypt('token-2', [key.recipient]));
    const next = await loader(stackDir, 'app');
    await next.decrypted?.materialize();
    expect(await readdir(join(root, 'app'))).toHaveLength(4);
    await releaseDecrypted(root, 'app', next.project);
    const left = await readdir(join(root, 'app'));
    expect(left.sort()).toEqual(
      (next.decrypted?.files ?? []).map((f) => f.path.split('/').at(-2)).sort(),
    );
    await releaseDecrypted(root, 'app', undefined);
    await expect(stat(join(root, 'app'))).rejects.toThrow();
  });
});

describe('plain stacks', () => {
  it('load as before, with nothing to decrypt', async () => {
    await writeTree(stackDir, {
      'compose.yaml': `services:\n  web:\n    image: ${IMAGE}\n    env_file: a.env\n    volumes: [./www:/www]\n`,
      'a.env': 'A=1\n',
      'www/index.html': 'hi',
    });
    const { project, decrypted } = await loader(stackDir, 'app');
    expect(project.services.web?.environment).toEqual({ A: '1' });
    expect(project.services.web?.volumes).toHaveLength(1);
    expect(decrypted?.files).toEqual([]);
  });
});

describe('SOPS files as env files', () => {
  it('reads a flat SOPS JSON file as variables, values taken literally', async () => {
    const tricky = 'a "quoted" $HOME # not a comment\\n\nsecond line';
    await put(
      'vars.json',
      await encodeSops(JSON.stringify({ TRICKY: tricky, COUNT: 3, ON: true }), {
        format: 'json',
        recipients: [key.recipient],
      }),
    );
    await put('compose.yaml', `services:\n  web:\n    image: ${IMAGE}\n    env_file: vars.json\n`);
    const { project } = await loader(stackDir, 'app');
    expect(project.services.web?.environment).toEqual({ TRICKY: tricky, COUNT: '3', ON: 'true' });
  });

  it('reads a SOPS dotenv file with several recipients', async () => {
    const other = ageKeygen(work, 'other.txt');
    await put(
      'app.env',
      await encodeSops('A=1\nB=two words\n', {
        format: 'dotenv',
        recipients: [other.recipient, key.recipient],
      }),
    );
    await put('compose.yaml', `services:\n  web:\n    image: ${IMAGE}\n    env_file: app.env\n`);
    const { project } = await loader(stackDir, 'app');
    expect(project.services.web?.environment).toEqual({ A: '1', B: 'two words' });
  });
});

describe('the policy and the decrypted files', () => {
  it('lets a stack mount its own plaintext files, read-only, and nothing else of the data dir', async () => {
    const dataDir = join(work, 'data');
    await put('conf.yaml', ageEncrypt('x: 1\n', [key.recipient]));
    await put(
      'compose.yaml',
      `services:\n  web:\n    image: ${IMAGE}\n    volumes: [./conf.yaml:/conf.yaml]\n`,
    );
    const { project } = await loader(stackDir, 'app');
    const volume = project.services.web?.volumes[0];
    expect(volume?.readOnly).toBe(true);
    const policy = resolvePolicy(undefined, dataDir);
    expect(() => assertPolicy(project, policy, 'app')).not.toThrow();
    expect(() => assertPolicy(project, policy, 'another')).toThrow(/berth's data dir/);
    expect(isDecryptedFileOf(volume?.source ?? '', dataDir, 'app')).toBe(true);
    expect(isDecryptedFileOf(join(dataDir, 'decrypted', 'app'), dataDir, 'app')).toBe(false);
    expect(isDecryptedFileOf(join(dataDir, 'decrypted', 'app', 'abc'), dataDir, 'app')).toBe(false);
    expect(
      isDecryptedFileOf(join(dataDir, 'decrypted', 'app', '..', 'b', 'c', 'd'), dataDir, 'app'),
    ).toBe(false);
    expect(isDecryptedFileOf(join(dataDir, 'berth.db'), dataDir, 'app')).toBe(false);
  });
});
