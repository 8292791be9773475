import { Decrypter, armor } from 'age-encryption';
import { AGE_ARMOR_HEADER } from './detect.js';
import { secretKeyOf } from './identities.js';
import type { AgeIdentity } from './types.js';

/** How opening an age file failed, told apart by age-encryption's messages. */
export type AgeFailure = 'no-identity' | 'tampered' | 'invalid';

export class AgeOpenError extends Error {
  constructor(
    readonly failure: AgeFailure,
    cause: unknown,
  ) {
    super(failure, { cause });
  }
}

function failureOf(err: unknown): AgeFailure {
  const message = err instanceof Error ? err.message : String(err);
  if (message.includes('no identity matched')) return 'no-identity';
  if (/HMAC|tag|final chunk|too small|size is invalid/i.test(message)) return 'tampered';
  return 'invalid';
}

/** The identities berth decrypts with: age's decrypter, and their recipients for messages. */
export interface Keyring {
  decrypter: Decrypter;
  recipients: readonly string[];
}

export function keyringOf(identities: readonly AgeIdentity[]): Keyring {
  const decrypter = new Decrypter();
  for (const identity of identities) {
    const secret = secretKeyOf(identity);
    if (secret !== undefined) decrypter.addIdentity(secret);
  }
  return { decrypter, recipients: identities.map((i) => i.recipient) };
}

/** "no age identity is configured" or "none of the identities (age1…, age1…) opens it". */
export function noIdentityOpens(keyring: Keyring): string {
  const { recipients } = keyring;
  if (recipients.length === 0) return 'no age identity is configured to open it';
  const shown = recipients.slice(0, 5).join(', ') + (recipients.length > 5 ? ', …' : '');
  return `none of the configured age identities (${shown}) opens it`;
}

/** Decrypts an age file, armored or binary; throws AgeOpenError. */
export async function openAge(decrypter: Decrypter, bytes: Uint8Array | string): Promise<Buffer> {
  try {
    let binary: Uint8Array;
    if (typeof bytes === 'string') binary = armor.decode(bytes);
    else {
      const head = Buffer.from(bytes.subarray(0, 200)).toString('latin1').trimStart();
      binary = head.startsWith(AGE_ARMOR_HEADER)
        ? armor.decode(Buffer.from(bytes).toString('utf8'))
        : bytes;
    }
    return Buffer.from(await decrypter.decrypt(binary));
  } catch (err) {
    throw new AgeOpenError(failureOf(err), err);
  }
}
