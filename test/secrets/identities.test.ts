import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretsError, loadIdentities, parseIdentities } from '../../src/secrets/index.js';
import { ageKeygen } from './tools.js';

const SOPS_TEST_KEY = 'AGE-SECRET-KEY-1NJT5YCS2LWU4V4QAJQ6R4JNU7LXPDX602DZ9NUFANVU5GDTGUWCQ5T59M6';
const SOPS_TEST_RECIPIENT = 'age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-secrets-id-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

function catchError(fn: () => unknown): SecretsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SecretsError) return err;
    throw err;
  }
  throw new Error('expected a SecretsError');
}

describe('parseIdentities', () => {
  it('reads a keys.txt: comments, blank lines, CRLF, several keys', async () => {
    const other = await generateX25519Identity();
    const text = `# created: now\r\n# public key: ${SOPS_TEST_RECIPIENT}\r\n${SOPS_TEST_KEY}\r\n\r\n  ${other}  \n`;
    const ids = parseIdentities(text, 'keys.txt');
    expect(ids.map((i) => i.recipient)).toEqual([
      SOPS_TEST_RECIPIENT,
      await identityToRecipient(other),
    ]);
    expect(ids.every((i) => i.source === 'keys.txt')).toBe(true);
  });

  it('never shows the private key when an identity is logged or serialised', () => {
    const [id] = parseIdentities(SOPS_TEST_KEY, 'x');
    expect(JSON.stringify(id)).not.toContain('AGE-SECRET-KEY');
    expect(inspect(id, { showHidden: true, depth: 5 })).not.toContain('AGE-SECRET-KEY');
  });

  it('derives the same recipient as age-keygen', () => {
    for (let i = 0; i < 3; i++) {
      const key = ageKeygen();
      expect(parseIdentities(key.text, 'k')[0]?.recipient).toBe(key.recipient);
    }
  });

  it('refuses a malformed line, naming source and line but not the line', () => {
    const broken = `${SOPS_TEST_KEY.slice(0, -1)}X`;
    const err = catchError(() => parseIdentities(`# ok\n${SOPS_TEST_KEY}\n${broken}\n`, 'my-keys'));
    expect(err.reason).toBe('SecretInvalid');
    expect(err.message).toContain('my-keys');
    expect(err.message).toContain('line 3');
    expect(err.message).not.toContain(broken.slice(16, 40));
    expect(catchError(() => parseIdentities('hello world', 's')).reason).toBe('SecretInvalid');
    expect(catchError(() => parseIdentities('AGE-SECRET-KEY-PQ-1ABC', 's')).message).toContain(
      'post-quantum',
    );
  });
});

describe('loadIdentities', () => {
  async function keyFile(name: string, ...keys: string[]): Promise<string> {
    const file = join(root, name);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, `# test\n${keys.join('\n')}\n`);
    return file;
  }

  it('reads SOPS_AGE_KEY inline and SOPS_AGE_KEY_FILE, then not the default file', async () => {
    const a = await generateX25519Identity();
    const b = await generateX25519Identity();
    const c = await generateX25519Identity();
    const named = await keyFile('named.txt', b);
    await keyFile('xdg/sops/age/keys.txt', c);
    const ids = await loadIdentities({
      keyFiles: [],
      env: { SOPS_AGE_KEY: a, SOPS_AGE_KEY_FILE: named, XDG_CONFIG_HOME: join(root, 'xdg') },
      useSopsDefaults: true,
    });
    expect(ids.map((i) => i.recipient)).toEqual([
      await identityToRecipient(a),
      await identityToRecipient(b),
    ]);
    expect(ids.map((i) => i.source)).toEqual(['SOPS_AGE_KEY', named]);
  });

  it('falls back to $XDG_CONFIG_HOME/sops/age/keys.txt, else ~/.config', async () => {
    const c = await generateX25519Identity();
    const xdg = await keyFile('xdg/sops/age/keys.txt', c);
    const fromXdg = await loadIdentities({
      keyFiles: [],
      env: { XDG_CONFIG_HOME: join(root, 'xdg'), HOME: join(root, 'nohome') },
      useSopsDefaults: true,
    });
    expect(fromXdg.map((i) => i.source)).toEqual([xdg]);
    const home = await keyFile('home/.config/sops/age/keys.txt', c);
    const fromHome = await loadIdentities({
      keyFiles: [],
      env: { HOME: join(root, 'home') },
      useSopsDefaults: true,
    });
    expect(fromHome.map((i) => i.source)).toEqual([home]);
  });

  it('takes a missing default file as no keys, a missing named file as an error', async () => {
    const none = await loadIdentities({
      keyFiles: [],
      env: { HOME: join(root, 'empty') },
      useSopsDefaults: true,
    });
    expect(none).toEqual([]);
    const missing = join(root, 'missing.txt');
    for (const options of [
      { keyFiles: [missing], env: {}, useSopsDefaults: false },
      { keyFiles: [], env: { SOPS_AGE_KEY_FILE: missing }, useSopsDefaults: true },
    ]) {
      const err = await loadIdentities(options).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretsError);
      expect((err as SecretsError).reason).toBe('SecretKeyMissing');
      expect((err as SecretsError).message).toContain(missing);
    }
  });

  it("adds berth's own keys and key files, and ignores SOPS's places when told to", async () => {
    const a = await generateX25519Identity();
    const b = await generateX25519Identity();
    const file = await keyFile('berth.txt', b);
    const ids = await loadIdentities({
      keys: [a],
      keyFiles: [file],
      env: { SOPS_AGE_KEY: SOPS_TEST_KEY },
      useSopsDefaults: false,
    });
    expect(ids.map((i) => i.source)).toEqual(['keys[0]', file]);
  });
});
