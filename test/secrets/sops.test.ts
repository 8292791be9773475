import { generateX25519Identity } from 'age-encryption';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AgeIdentity, Decryptor, EncryptedFormat } from '../../src/secrets/index.js';
import {
  SecretsError,
  createDecryptor,
  detectEncrypted,
  parseIdentities,
} from '../../src/secrets/index.js';
import type { SopsEncodeOptions, SopsTestFormat } from '../helpers/sops.js';
import { encodeSops } from '../helpers/sops.js';

/** Every plaintext value carries this marker, so a test can tell none leaked into a message. */
const SECRET = 'pl41n';

interface Key {
  identity: AgeIdentity;
  recipient: string;
}

async function newKey(): Promise<Key> {
  const [identity] = parseIdentities(await generateX25519Identity(), 'test-key');
  if (identity === undefined) throw new Error('no identity');
  return { identity, recipient: identity.recipient };
}

let alice: Key;
let bob: Key;
let carol: Key;
beforeAll(async () => {
  [alice, bob, carol] = await Promise.all([newKey(), newKey(), newKey()]);
});

const YAML_PLAIN = `# a plain comment
database:
  user: app-${SECRET}
  password: "p4ss-${SECRET}"
  port: 5432
  ratio: 0.25
  enabled: true
  looks_like_bool: "true"
  multiline: |
    line one ${SECRET}
    line two
servers:
  - host-a-${SECRET}
  - name: b
    weight: 3
empty: ""
nothing: null
port_unencrypted: 8080
`;

const JSON_PLAIN = JSON.stringify({
  api: { token: `tok-${SECRET}`, retries: 3, scale: 1.5, on: false },
  list: [`one-${SECRET}`, { deep: [`two-${SECRET}`, 7] }],
  note_unencrypted: 'public',
});

const DOTENV_PLAIN = `DB_PASSWORD=pw-${SECRET}\nAPI_KEY=key-${SECRET}\nMULTI=a\\nb-${SECRET}\nPUBLIC_unencrypted=visible\n`;

const INI_PLAIN = `[database]\nuser = u-${SECRET}\npassword = p-${SECRET}\n\n[cache]\nurl = redis://${SECRET}\n`;

const BINARY_PLAIN = `-----BEGIN CERT-----\n${SECRET}\n\u00e9\u2603 bytes\n-----END CERT-----\n`;

const CASES: Array<[SopsTestFormat, string, EncryptedFormat]> = [
  ['yaml', YAML_PLAIN, 'sops-yaml'],
  ['json', JSON_PLAIN, 'sops-json'],
  ['dotenv', DOTENV_PLAIN, 'sops-dotenv'],
  ['ini', INI_PLAIN, 'sops-ini'],
  ['binary', BINARY_PLAIN, 'sops-binary'],
];

function encode(
  format: SopsTestFormat,
  plain: string,
  more: Partial<SopsEncodeOptions> = {},
): Promise<string> {
  return encodeSops(plain, { format, recipients: [alice.recipient], ...more });
}

async function decrypt(decryptor: Decryptor, text: string): Promise<string> {
  const result = await decryptor.decrypt('stack/secrets.enc', Buffer.from(text));
  return Buffer.from(result.plaintext).toString('utf8');
}

async function failure(decryptor: Decryptor, text: string): Promise<SecretsError> {
  const err = await decryptor
    .decrypt('stack/secrets.enc', Buffer.from(text))
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SecretsError);
  const secretsError = err as SecretsError;
  expect(secretsError.message).not.toContain(SECRET);
  expect(secretsError.message).toContain('stack/secrets.enc');
  expect(secretsError.place.file).toBe('stack/secrets.enc');
  return secretsError;
}

/** Flips one base64 character of the first `ENC[...]` data after `after`. */
function flipData(text: string, after = 0): string {
  const at = text.indexOf('data:', text.indexOf('ENC[AES256_GCM', after)) + 5;
  const c = text[at];
  return text.slice(0, at) + (c === 'A' ? 'B' : 'A') + text.slice(at + 1);
}

describe('SOPS files from the test encoder', () => {
  it.each(CASES)('round-trips %s and is detected as such', async (format, plain, detected) => {
    const text = await encode(format, plain);
    expect(detectEncrypted(Buffer.from(text))).toBe(detected);
    expect(text).not.toContain(`${SECRET}`);
    const out = await decrypt(createDecryptor([alice.identity]), text);
    expect(out).toContain(SECRET);
    expect(out).not.toContain('sops');
    expect(out).not.toContain('ENC[');
  });

  it('keeps YAML structure, order and types', async () => {
    const out = await decrypt(createDecryptor([alice.identity]), await encode('yaml', YAML_PLAIN));
    expect(parseYaml(out)).toEqual(parseYaml(YAML_PLAIN));
    expect(Object.keys(parseYaml(out) as object)).toEqual(
      Object.keys(parseYaml(YAML_PLAIN) as object),
    );
  });

  it('keeps JSON structure, order and types', async () => {
    const out = await decrypt(createDecryptor([alice.identity]), await encode('json', JSON_PLAIN));
    expect(JSON.parse(out)).toEqual(JSON.parse(JSON_PLAIN));
    expect(out).toBe(`${JSON.stringify(JSON.parse(JSON_PLAIN), null, '\t')}\n`);
  });

  it('writes dotenv as KEY=value lines, newlines escaped as sops does', async () => {
    const out = await decrypt(
      createDecryptor([alice.identity]),
      await encode('dotenv', DOTENV_PLAIN),
    );
    expect(out).toBe(DOTENV_PLAIN);
  });

  it('writes INI sections and keys', async () => {
    const out = await decrypt(createDecryptor([alice.identity]), await encode('ini', INI_PLAIN));
    expect(out).toBe(
      `[database]\nuser = u-${SECRET}\npassword = p-${SECRET}\n\n[cache]\nurl = redis://${SECRET}\n`,
    );
  });

  it('returns the raw bytes of a binary file', async () => {
    const out = await decrypt(
      createDecryptor([alice.identity]),
      await encode('binary', BINARY_PLAIN),
    );
    expect(out).toBe(BINARY_PLAIN);
  });

  it.each(CASES)(
    'opens a %s file for several recipients with any one of them',
    async (format, plain) => {
      const text = await encode(format, plain, { recipients: [alice.recipient, bob.recipient] });
      const viaBob = await decrypt(createDecryptor([carol.identity, bob.identity]), text);
      expect(viaBob).toBe(await decrypt(createDecryptor([alice.identity]), text));
    },
  );

  it.each(CASES)('names the recipients when no identity opens a %s file', async (format, plain) => {
    const text = await encode(format, plain, { recipients: [alice.recipient, bob.recipient] });
    const err = await failure(createDecryptor([carol.identity]), text);
    expect(err.reason).toBe('SecretKeyMissing');
    expect(err.message).toContain(alice.recipient);
    expect(err.message).toContain(bob.recipient);
    const none = await failure(createDecryptor([]), text);
    expect(none.reason).toBe('SecretKeyMissing');
    expect(none.message).toContain('no age identity is configured');
  });

  it.each(CASES)('refuses a %s file with a flipped byte in a value', async (format, plain) => {
    const text = await encode(format, plain);
    const err = await failure(createDecryptor([alice.identity]), flipData(text));
    expect(err.reason).toBe('SecretTampered');
  });

  it.each(CASES)('refuses a %s file with a flipped byte in the MAC', async (format, plain) => {
    const text = await encode(format, plain);
    const macAt = text.search(/mac"?\s*[:=]\s*"?ENC\[/);
    const err = await failure(createDecryptor([alice.identity]), flipData(text, macAt));
    expect(err.reason).toBe('SecretTampered');
    expect(err.message).toContain('MAC');
  });

  it('refuses a changed unencrypted value through the MAC', async () => {
    const text = await encode('yaml', YAML_PLAIN);
    const changed = text.replace('port_unencrypted: 8080', 'port_unencrypted: 8081');
    expect(changed).not.toBe(text);
    const err = await failure(createDecryptor([alice.identity]), changed);
    expect(err.reason).toBe('SecretTampered');
    expect(err.message).toContain('MAC does not match');
  });

  it('refuses values moved to another key (the path is authenticated)', async () => {
    const text = await encode('dotenv', 'A=one\nB=two\n');
    const [a, b] = text.split('\n');
    const swapped = [`A=${b?.slice(2)}`, `B=${a?.slice(2)}`, ...text.split('\n').slice(2)].join(
      '\n',
    );
    expect((await failure(createDecryptor([alice.identity]), swapped)).reason).toBe(
      'SecretTampered',
    );
  });

  it('decrypts encrypted YAML comments, keeping plain ones', async () => {
    const plain = `# top ${SECRET}\napp:\n  # inner ${SECRET}\n  key: v-${SECRET}\n`;
    const text = await encode('yaml', plain, { encryptComments: true });
    expect(text).toContain('#ENC[AES256_GCM');
    expect(text).not.toContain(SECRET);
    const out = await decrypt(createDecryptor([alice.identity]), text);
    expect(out).toContain(`# top ${SECRET}`);
    expect(out).toContain(`# inner ${SECRET}`);
    expect(parseYaml(out)).toEqual(parseYaml(plain));
  });

  it('decrypts multi-document YAML under one MAC', async () => {
    const plain = `a: one-${SECRET}\n---\nb:\n  - two-${SECRET}\n  - 3\n`;
    const text = await encode('yaml', plain);
    expect(detectEncrypted(Buffer.from(text))).toBe('sops-yaml');
    const out = await decrypt(createDecryptor([alice.identity]), text);
    expect(out).toBe(`a: one-${SECRET}\n---\nb:\n  - two-${SECRET}\n  - 3\n`);
    // Swapping the documents keeps every value sealed but breaks the MAC's order.
    const [first, second] = text.split(/^---\n/m);
    expect(second).toBeDefined();
    const swapped = `${second ?? ''}---\n${first ?? ''}`;
    expect((await failure(createDecryptor([alice.identity]), swapped)).reason).toBe(
      'SecretTampered',
    );
  });

  it('follows encrypted_regex and mac_only_encrypted', async () => {
    const plain = 'kind: Secret\nmetadata:\n  name: web\nstringData:\n  password: pw\n';
    const text = await encode('yaml', plain, {
      encryptedRegex: '^(data|stringData)$',
      macOnlyEncrypted: true,
    });
    expect(text).toContain('name: web');
    const out = await decrypt(createDecryptor([alice.identity]), text);
    expect(parseYaml(out)).toEqual(parseYaml(plain));
    // With mac_only_encrypted, the clear values are outside the MAC.
    const renamed = text.replace('name: web', 'name: api');
    expect(parseYaml(await decrypt(createDecryptor([alice.identity]), renamed))).toMatchObject({
      metadata: { name: 'api' },
    });
  });

  it('refuses a file only other key types open, naming them', async () => {
    const text = await encode('yaml', YAML_PLAIN, {
      recipients: [],
      pgpFingerprints: ['FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4'],
    });
    const err = await failure(createDecryptor([alice.identity]), text);
    expect(err.reason).toBe('SecretKeyMissing');
    expect(err.message).toContain('pgp FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4');
    expect(err.message).toContain('berth opens only age keys');
  });

  it('opens a file with age and pgp keys through its age stanza', async () => {
    const text = await encode('json', JSON_PLAIN, { pgpFingerprints: ['ABCDEF'] });
    expect(JSON.parse(await decrypt(createDecryptor([alice.identity]), text))).toEqual(
      JSON.parse(JSON_PLAIN),
    );
  });

  it('refuses Shamir key groups as unsupported', async () => {
    const text = await encode('yaml', YAML_PLAIN, {
      recipients: [alice.recipient, bob.recipient],
      twoKeyGroups: true,
    });
    const err = await failure(createDecryptor([alice.identity, bob.identity]), text);
    expect(err.reason).toBe('SecretInvalid');
    expect(err.message).toContain('Shamir');
  });

  it('reports a malformed value or metadata as SecretInvalid', async () => {
    const text = await encode('yaml', YAML_PLAIN);
    const garbled = text.replace(/ENC\[AES256_GCM,data:[^\]]*type:str\]/, 'ENC[AES256_GCM,broken]');
    expect((await failure(createDecryptor([alice.identity]), garbled)).reason).toBe(
      'SecretInvalid',
    );
    const noDate = text.replace(/lastmodified: .*/, 'lastmodified: yesterday');
    expect((await failure(createDecryptor([alice.identity]), noDate)).reason).toBe('SecretInvalid');
    expect((await failure(createDecryptor([alice.identity]), 'just: yaml\n')).reason).toBe(
      'SecretInvalid',
    );
  });

  it('inspects: recipients, whether it opens, and why not — never a value', async () => {
    const text = Buffer.from(
      await encode('yaml', YAML_PLAIN, { recipients: [alice.recipient, bob.recipient] }),
    );
    expect(await createDecryptor([bob.identity]).inspect('f', text)).toEqual({
      format: 'sops-yaml',
      recipients: [alice.recipient, bob.recipient],
      opens: true,
    });
    const not = await createDecryptor([carol.identity]).inspect('f', text);
    expect(not).toMatchObject({ format: 'sops-yaml', opens: false });
    expect(not?.problem).toContain(alice.recipient);
    const tampered = await createDecryptor([alice.identity]).inspect(
      'f',
      Buffer.from(flipData(text.toString())),
    );
    expect(tampered).toMatchObject({ opens: false });
    expect(tampered?.problem).toMatch(/integrity/);
    for (const info of [not, tampered]) expect(JSON.stringify(info)).not.toContain(SECRET);
    expect(
      await createDecryptor([alice.identity]).inspect('f', Buffer.from(YAML_PLAIN)),
    ).toBeUndefined();
  });
});
