import type { Keyring } from './age-file.js';
import { AgeOpenError, keyringOf, noIdentityOpens, openAge } from './age-file.js';
import { detectEncrypted } from './detect.js';
import { SecretsError } from './errors.js';
import { ageRecipients, decryptWithDataKey, loadSops, openDataKey } from './sops.js';
import type {
  AgeIdentity,
  DecryptResult,
  Decryptor,
  EncryptedFileInfo,
  EncryptedFormat,
} from './types.js';

async function decryptAgeFile(file: string, bytes: Uint8Array, keyring: Keyring): Promise<Buffer> {
  try {
    return await openAge(keyring.decrypter, bytes);
  } catch (err) {
    if (!(err instanceof AgeOpenError)) throw err;
    if (err.failure === 'no-identity') {
      // age files do not name their recipients.
      throw new SecretsError('SecretKeyMissing', file, `${noIdentityOpens(keyring)} (age file)`);
    }
    if (err.failure === 'tampered') {
      throw new SecretsError('SecretTampered', file, 'the age file fails its integrity check');
    }
    throw new SecretsError('SecretInvalid', file, 'the age file is malformed');
  }
}

async function decryptAs(
  format: EncryptedFormat,
  file: string,
  bytes: Uint8Array,
  keyring: Keyring,
): Promise<Uint8Array> {
  if (format === 'age') return decryptAgeFile(file, bytes, keyring);
  const loaded = loadSops(format, file, bytes);
  const key = await openDataKey(file, loaded.metadata, keyring);
  return decryptWithDataKey(file, loaded, key);
}

function recipientsOf(format: EncryptedFormat, file: string, bytes: Uint8Array): string[] {
  if (format === 'age') return [];
  try {
    return ageRecipients(loadSops(format, file, bytes).metadata);
  } catch {
    return [];
  }
}

/**
 * Opens SOPS and age files with a fixed set of age identities. Any one identity that opens
 * one age stanza of a SOPS file suffices.
 */
export function createDecryptor(identities: readonly AgeIdentity[]): Decryptor {
  const keyring = keyringOf(identities);
  return {
    async decrypt(file: string, bytes: Uint8Array): Promise<DecryptResult> {
      const format = detectEncrypted(bytes);
      if (format === undefined) {
        throw new SecretsError('SecretInvalid', file, 'not a SOPS or age encrypted file');
      }
      return { format, plaintext: await decryptAs(format, file, bytes, keyring) };
    },

    async inspect(file: string, bytes: Uint8Array): Promise<EncryptedFileInfo | undefined> {
      const format = detectEncrypted(bytes);
      if (format === undefined) return undefined;
      const recipients = recipientsOf(format, file, bytes);
      try {
        await decryptAs(format, file, bytes, keyring);
        return { format, recipients, opens: true };
      } catch (err) {
        if (!(err instanceof SecretsError)) throw err;
        return { format, recipients, opens: false, problem: err.detail };
      }
    },
  };
}
