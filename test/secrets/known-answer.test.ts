import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SecretsError,
  createDecryptor,
  detectEncrypted,
  parseIdentities,
} from '../../src/secrets/index.js';
import { decryptWithDataKey, loadSops } from '../../src/secrets/sops.js';
import type { SopsFormat } from '../../src/secrets/sops.js';

/**
 * Files written by real SOPS (see fixtures/README.md), checked byte for byte after
 * decryption, their MAC verified: the decoder agrees with SOPS, not only with the test encoder.
 */
const FIXTURES = join(import.meta.dirname, 'fixtures');
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));

const SOPS_TEST_RECIPIENT = 'age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw';
const OTHER_RECIPIENT = 'age1a8pk4akrdamj7nvqy3zywgtny8dxz7t5xzu7u8v9mhrayp9freqsqatyrs';

const EXPECTED: Record<string, string> = {
  'sops-nix-secrets.yaml.sops':
    'test_key: test_value\na_list:\n  - e1\n  - e3\nnested:\n  test:\n    file: another value\n',
  'sops-nix-secrets.json.sops': '{\n\t"test_key": "test_value"\n}\n',
  'sops-nix-secrets.bin.sops': 'binary_value\n',
  'sops-nix-secrets.env.sops':
    '# This is an example file.\nhello=Welcome to SOPS! Edit this file as you please!\n' +
    'example_key=example_value\nexample_multiline=foo\\nbar\\nbaz\nnever_gonna=give you up\n',
  'sops-nix-secrets.ini.sops':
    '; This is an example file.\n[Welcome!]\nhello = Welcome to SOPS! Edit this file as you please!\n' +
    'example_key = example_value\nnever_gonna = give you up\n',
};

describe('SOPS 3.7 YAML for the SOPS project test age key', () => {
  const keys = readFileSync(join(FIXTURES, 'sops-test-keys.txt'), 'utf8');
  const bytes = fixture('sops-nix-secrets.yaml.sops');

  it('decrypts to the known plaintext with the MAC verified', async () => {
    const result = await createDecryptor(parseIdentities(keys, 'sops-test-keys.txt')).decrypt(
      'secrets.yaml',
      bytes,
    );
    expect(result.format).toBe('sops-yaml');
    expect(Buffer.from(result.plaintext).toString()).toBe(EXPECTED['sops-nix-secrets.yaml.sops']);
  });

  it('names its age recipients and pgp keys to a key that is not one of them', async () => {
    const [, second] = parseIdentities(keys, 'k');
    const err = await createDecryptor(second === undefined ? [] : [second])
      .decrypt('secrets.yaml', bytes)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretsError);
    const message = (err as SecretsError).message;
    expect((err as SecretsError).reason).toBe('SecretKeyMissing');
    expect(message).toContain(SOPS_TEST_RECIPIENT);
    expect(message).toContain(OTHER_RECIPIENT);
    expect(message).toContain('pgp 7FB89715AADA920D65D25E63F9BA9DEBD03F57C0');
    expect(message).not.toContain('test_value');
  });

  it('refuses it with one character of a value or of the MAC changed', async () => {
    const decryptor = createDecryptor(parseIdentities(keys, 'k'));
    const text = bytes.toString();
    for (const [from, to] of [
      ['data:2mP+IAdczoEr0g==', 'data:2mP+IAdczpEr0g=='],
      ['mac: ENC[AES256_GCM,data:WQjp', 'mac: ENC[AES256_GCM,data:WQjq'],
      ['    - ENC[AES256_GCM,data:oOQ=', '    - ENC[AES256_GCM,data:oOU='],
    ] as const) {
      const changed = Buffer.from(text.replace(from, to));
      const err = await decryptor.decrypt('f', changed).catch((e: unknown) => e);
      expect((err as SecretsError).reason).toBe('SecretTampered');
    }
    // Swapping the two list items keeps each value intact but changes the MAC's order.
    const lines = text.split('\n');
    [lines[2], lines[3]] = [lines[3] ?? '', lines[2] ?? ''];
    const swapped = await decryptor
      .decrypt('f', Buffer.from(lines.join('\n')))
      .catch((e: unknown) => e);
    expect((swapped as SecretsError).message).toContain('MAC does not match');
  });
});

/**
 * The sops-nix fixtures are also wrapped for a PGP key whose private half is public; gpg
 * unwraps the data key and the decoder does the rest, as it would after an age stanza.
 */
describe('SOPS 3.5–3.7 files of every format, data key from gpg', () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'berth-secrets-gpg-'));
    execFileSync(
      'gpg',
      ['--homedir', home, '--batch', '--quiet', '--import', join(FIXTURES, 'sops-nix-pgp-key.asc')],
      {
        stdio: 'ignore',
      },
    );
  });
  afterAll(async () => {
    // gpg started an agent for this home; stop that one agent, then remove the home.
    execFileSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], { stdio: 'ignore' });
    await rm(home, { recursive: true, force: true });
  });

  it.each(Object.keys(EXPECTED))('decrypts %s to the known plaintext', (name) => {
    const bytes = fixture(name);
    const format = detectEncrypted(bytes) as SopsFormat;
    const loaded = loadSops(format, name, bytes);
    const pgp = (loaded.document.metadata as { pgp: Array<{ fp: string; enc: string }> }).pgp;
    const entry = pgp.find((p) => p.fp === '7FB89715AADA920D65D25E63F9BA9DEBD03F57C0');
    const key = execFileSync('gpg', ['--homedir', home, '--batch', '--quiet', '--decrypt'], {
      input: entry?.enc,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    expect(decryptWithDataKey(name, loaded, key).toString()).toBe(EXPECTED[name]);
  });

  it('refuses the dotenv file with a changed comment-free value order', () => {
    const text = fixture('sops-nix-secrets.env.sops').toString();
    const lines = text.split('\n');
    [lines[2], lines[3]] = [lines[3] ?? '', lines[2] ?? ''];
    const bytes = Buffer.from(lines.join('\n'));
    const loaded = loadSops('sops-dotenv', 'env', bytes);
    const pgp = (loaded.document.metadata as { pgp: Array<{ fp: string; enc: string }> }).pgp;
    const key = execFileSync('gpg', ['--homedir', home, '--batch', '--quiet', '--decrypt'], {
      input: pgp[0]?.enc,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    expect(() => decryptWithDataKey('env', loaded, key)).toThrow(/MAC does not match/);
  });
});
