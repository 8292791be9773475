import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Decryptor } from '../../src/secrets/index.js';
import { SecretsError, createDecryptor, parseIdentities } from '../../src/secrets/index.js';
import { ageKeygen } from './tools.js';

const PLAINTEXT = 'DB_PASSWORD=s3cr3t-age-value\n';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-secrets-age-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

/** Encrypts with the real age CLI; armored or binary. */
async function ageEncrypt(recipients: string[], armor: boolean): Promise<Buffer> {
  const input = join(root, 'plain.env');
  const output = join(root, `secret-${armor ? 'armored' : 'binary'}.age`);
  await writeFile(input, PLAINTEXT);
  const args = [...recipients.flatMap((r) => ['-r', r]), ...(armor ? ['-a'] : []), '-o', output];
  execFileSync('age', [...args, input]);
  return readFile(output);
}

async function failure(decryptor: Decryptor, bytes: Buffer): Promise<SecretsError> {
  const err = await decryptor.decrypt('stack/secret.age', bytes).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SecretsError);
  const secretsError = err as SecretsError;
  expect(secretsError.message).not.toContain('s3cr3t');
  expect(secretsError.place.file).toBe('stack/secret.age');
  return secretsError;
}

describe('age files from the age CLI', () => {
  it.each([true, false])('decrypts armored=%s files', async (armor) => {
    const key = ageKeygen();
    const bytes = await ageEncrypt([key.recipient], armor);
    const result = await createDecryptor(parseIdentities(key.text, 'k')).decrypt('f', bytes);
    expect(result.format).toBe('age');
    expect(Buffer.from(result.plaintext).toString()).toBe(PLAINTEXT);
  });

  it('opens a file for several recipients with any one identity', async () => {
    const [a, b] = [ageKeygen(), ageKeygen()];
    const bytes = await ageEncrypt([a.recipient, b.recipient], true);
    for (const key of [a, b]) {
      const result = await createDecryptor(parseIdentities(key.text, 'k')).decrypt('f', bytes);
      expect(Buffer.from(result.plaintext).toString()).toBe(PLAINTEXT);
    }
    const both = createDecryptor([
      ...parseIdentities(ageKeygen().text, 'x'),
      ...parseIdentities(b.text, 'b'),
    ]);
    expect(Buffer.from((await both.decrypt('f', bytes)).plaintext).toString()).toBe(PLAINTEXT);
  });

  it('reports a wrong or missing key as SecretKeyMissing', async () => {
    const bytes = await ageEncrypt([ageKeygen().recipient], false);
    const wrong = await failure(createDecryptor(parseIdentities(ageKeygen().text, 'k')), bytes);
    expect(wrong.reason).toBe('SecretKeyMissing');
    const none = await failure(createDecryptor([]), bytes);
    expect(none.reason).toBe('SecretKeyMissing');
    expect(none.message).toContain('no age identity is configured');
  });

  it('reports a flipped byte as SecretTampered, in the payload and in the header', async () => {
    const key = ageKeygen();
    const decryptor = createDecryptor(parseIdentities(key.text, 'k'));
    const bytes = await ageEncrypt([key.recipient], false);
    const payload = Buffer.from(bytes);
    payload[payload.length - 5] = (payload[payload.length - 5] ?? 0) ^ 1;
    expect((await failure(decryptor, payload)).reason).toBe('SecretTampered');
    const header = Buffer.from(bytes);
    const macAt = header.indexOf('\n---') + 6;
    header[macAt] = header[macAt] === 0x41 ? 0x42 : 0x41;
    expect((await failure(decryptor, header)).reason).toBe('SecretTampered');
  });

  it('inspects without returning the plaintext', async () => {
    const key = ageKeygen();
    const bytes = await ageEncrypt([key.recipient], true);
    const opens = await createDecryptor(parseIdentities(key.text, 'k')).inspect('f', bytes);
    expect(opens).toEqual({ format: 'age', recipients: [], opens: true });
    const not = await createDecryptor([]).inspect('f', bytes);
    expect(not?.opens).toBe(false);
    expect(not?.problem).toContain('no age identity');
    expect(JSON.stringify(not)).not.toContain('s3cr3t');
  });

  it('refuses a truncated armored file as malformed or tampered, never plain', async () => {
    const key = ageKeygen();
    const text = (await ageEncrypt([key.recipient], true)).toString();
    const cut = Buffer.from(text.slice(0, text.length - 40));
    const err = await failure(createDecryptor(parseIdentities(key.text, 'k')), cut);
    expect(['SecretInvalid', 'SecretTampered']).toContain(err.reason);
  });
});
