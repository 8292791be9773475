import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProject } from '../../src/compose/load.js';
import { detectEncrypted } from '../../src/secrets/index.js';
import {
  DETECT_WHOLE_BELOW_BYTES,
  encryptedFileUses,
  findEncryptedFiles,
} from '../../src/stack/encrypted-files.js';
import { encodeSops } from '../helpers/sops.js';

let root: string;
let recipient: string;

function ageKeygen(): string {
  const text = execFileSync('age-keygen', {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return /# public key: (age1\S+)/.exec(text)?.[1] ?? '';
}

async function write(rel: string, content: string | Uint8Array): Promise<string> {
  const file = join(root, rel);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, content);
  return file;
}

/** An age file made by the real age CLI. */
async function ageFile(rel: string, plaintext: string, armor: boolean): Promise<void> {
  const plain = join(root, `plain-${randomBytes(4).toString('hex')}`);
  await writeFile(plain, plaintext);
  const out = join(root, rel);
  await mkdir(dirname(out), { recursive: true });
  execFileSync('age', ['-r', recipient, ...(armor ? ['-a'] : []), '-o', out, plain]);
  await rm(plain);
}

const COMPOSE = `services:
  api:
    image: berth-fixture/busybox:latest
    env_file: [app.env, plain.env]
    secrets: [db]
    configs: [settings]
    volumes:
      - ./certs:/certs:ro
      - ./single.age:/run/single:ro
  off:
    image: berth-fixture/busybox:latest
    profiles: [never]
    env_file: off.env
secrets:
  db:
    file: ./secrets/db.age
  unused:
    file: ./secrets/unused.age
configs:
  settings:
    file: ./config/settings.json
`;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-encfiles-'));
  recipient = ageKeygen();
  const stack = (rel: string): string => join('stack', rel);
  await write(stack('compose.yaml'), COMPOSE);
  await write(stack('plain.env'), 'PLAIN=1\n');
  await write(
    stack('.env'),
    await encodeSops('TAG=1\n', { format: 'dotenv', recipients: [recipient] }),
  );
  await write(
    stack('app.env'),
    await encodeSops('A=1\n', { format: 'dotenv', recipients: [recipient] }),
  );
  await write(
    stack('off.env'),
    await encodeSops('B=1\n', { format: 'dotenv', recipients: [recipient] }),
  );
  await ageFile(stack('secrets/db.age'), 'db-password', true);
  await ageFile(stack('secrets/unused.age'), 'nope', false);
  await ageFile(stack('single.age'), 'single', false);
  await write(
    stack('config/settings.json'),
    await encodeSops('{"a":{"b":1}}', { format: 'json', recipients: [recipient] }),
  );
  await write(stack('certs/plain.pem'), 'not secret\n');
  await write(
    stack('certs/deep/key.yaml'),
    await encodeSops('key: x\n', { format: 'yaml', recipients: [recipient] }),
  );
  await write(
    stack('extra.bin'),
    await encodeSops('raw', { format: 'binary', recipients: [recipient] }),
  );
  await write(stack('notes.yaml'), 'sops: not metadata\nother: 1\n');
  // Hashing skips .git: so does the listing.
  await ageFile(stack('.git/leftover.age'), 'x', true);
  // A large file is judged by its head: an age header is still seen.
  const big = Buffer.alloc(DETECT_WHOLE_BELOW_BYTES + 10, 'a');
  Buffer.from('age-encryption.org/v1\n').copy(big);
  await write(stack('big.age'), big);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('findEncryptedFiles', () => {
  it('lists every encrypted file by content, sorted, skipping .git and plain files', async () => {
    const files = await findEncryptedFiles(join(root, 'stack'));
    expect(files.map((f) => [f.path, f.format])).toEqual([
      ['.env', 'sops-dotenv'],
      ['app.env', 'sops-dotenv'],
      ['big.age', 'age'],
      ['certs/deep/key.yaml', 'sops-yaml'],
      ['config/settings.json', 'sops-json'],
      ['extra.bin', 'sops-binary'],
      ['off.env', 'sops-dotenv'],
      ['secrets/db.age', 'age'],
      ['secrets/unused.age', 'age'],
      ['single.age', 'age'],
    ]);
    expect(files.every((f) => f.file === join(root, 'stack', ...f.path.split('/')))).toBe(true);
  });
});

describe('encryptedFileUses', () => {
  async function load(): Promise<Awaited<ReturnType<typeof loadProject>>> {
    // Encrypted env files read as empty: only which files are used matters here.
    return loadProject(join(root, 'stack'), {
      projectName: 'stack',
      env: {},
      readEnvFile: (_file, text) => (detectEncrypted(Buffer.from(text)) ? '' : text),
    });
  }

  it('says how the project uses each file: .env, env_file, secret, config, binds', async () => {
    const files = await findEncryptedFiles(join(root, 'stack'));
    const uses = await encryptedFileUses(await load(), files);
    expect(Object.fromEntries(uses)).toEqual({
      '.env': [{ as: '.env' }],
      'app.env': [{ as: 'env_file', service: 'api' }],
      'secrets/db.age': [{ as: 'secret', service: 'api', name: 'db' }],
      'config/settings.json': [{ as: 'config', service: 'api', name: 'settings' }],
      'certs/deep/key.yaml': [{ as: 'bind', service: 'api', name: '/certs/deep/key.yaml' }],
      'single.age': [{ as: 'bind', service: 'api', name: '/run/single' }],
    });
    // Held, not used: a disabled service's env file, an unmounted secret, loose files.
    for (const path of ['off.env', 'secrets/unused.age', 'extra.bin', 'big.age'])
      expect(uses.has(path)).toBe(false);
  });

  it('maps a path the loader pointed at a plaintext back to the encrypted file', async () => {
    const loaded = await load();
    const plaintext = join(root, 'data', 'decrypted', 'stack', 'abc', 'single.age');
    const api = loaded.project.services.api;
    if (api === undefined) throw new Error('no api service');
    api.volumes = api.volumes.map((v) =>
      v.target === '/run/single' ? { ...v, source: plaintext } : v,
    );
    const files = await findEncryptedFiles(join(root, 'stack'));
    const uses = await encryptedFileUses(
      {
        ...loaded,
        decrypted: { files: [{ source: join(root, 'stack', 'single.age'), path: plaintext }] },
      },
      files,
    );
    expect(uses.get('single.age')).toEqual([{ as: 'bind', service: 'api', name: '/run/single' }]);
  });
});
