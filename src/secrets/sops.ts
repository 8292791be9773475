import { timingSafeEqual } from 'node:crypto';
import type { Keyring } from './age-file.js';
import { AgeOpenError, noIdentityOpens, openAge } from './age-file.js';
import { SecretsError } from './errors.js';
import { loadSopsDotenv } from './format-dotenv.js';
import { loadSopsIni } from './format-ini.js';
import { loadSopsBinary, loadSopsJson } from './format-json.js';
import { loadSopsYaml } from './format-yaml.js';
import type { SopsDocument } from './sops-document.js';
import type { SopsMetadata } from './sops-metadata.js';
import { MetadataInvalid, parseMetadata } from './sops-metadata.js';
import { TreeInvalid, ValueTampered, decryptTree } from './sops-tree.js';
import { TagMismatch, openValue, parseEncrypted } from './sops-values.js';
import type { EncryptedFormat } from './types.js';

export type SopsFormat = Exclude<EncryptedFormat, 'age'>;

const LOADERS: Record<SopsFormat, (text: string) => SopsDocument> = {
  'sops-yaml': loadSopsYaml,
  'sops-json': loadSopsJson,
  'sops-dotenv': loadSopsDotenv,
  'sops-ini': loadSopsIni,
  'sops-binary': loadSopsBinary,
};

/** Turns the parsers' own errors into SecretsErrors naming the file, never a value. */
function asSecretsError(err: unknown, file: string): unknown {
  if (err instanceof ValueTampered) return new SecretsError('SecretTampered', file, err.message);
  if (err instanceof TreeInvalid || err instanceof MetadataInvalid) {
    return new SecretsError('SecretInvalid', file, err.message);
  }
  return err;
}

export interface LoadedSops {
  document: SopsDocument;
  metadata: SopsMetadata;
}

/** Reads a SOPS file of a known format: its metadata and its tree, nothing decrypted yet. */
export function loadSops(format: SopsFormat, file: string, bytes: Uint8Array): LoadedSops {
  try {
    const document = LOADERS[format](Buffer.from(bytes).toString('utf8'));
    if (document.metadata === undefined) throw new MetadataInvalid('no sops metadata');
    return { document, metadata: parseMetadata(document.metadata) };
  } catch (err) {
    throw asSecretsError(err, file);
  }
}

/** The age recipients a file's metadata names, in every key group. */
export function ageRecipients(metadata: SopsMetadata): string[] {
  return metadata.groups.flatMap((g) => g.age.map((a) => a.recipient));
}

function keyMissing(file: string, metadata: SopsMetadata, keyring: Keyring): SecretsError {
  const recipients = ageRecipients(metadata);
  const others = metadata.groups.flatMap((g) => g.others);
  const forWhom = [
    ...(recipients.length > 0 ? [`age recipients ${recipients.join(', ')}`] : []),
    ...(others.length > 0 ? [`${others.join(', ')} (berth opens only age keys)`] : []),
  ].join('; ');
  return new SecretsError(
    'SecretKeyMissing',
    file,
    `${noIdentityOpens(keyring)}; it is encrypted for ${forWhom}`,
  );
}

/** Opens the data key with the first age stanza one of the identities matches. */
export async function openDataKey(
  file: string,
  metadata: SopsMetadata,
  keyring: Keyring,
): Promise<Uint8Array> {
  if (metadata.groups.length > 1) {
    throw new SecretsError(
      'SecretInvalid',
      file,
      `its data key is split over ${metadata.groups.length} key groups (Shamir), which berth does not support`,
    );
  }
  for (const stanza of metadata.groups[0]?.age ?? []) {
    let key: Buffer;
    try {
      key = await openAge(keyring.decrypter, stanza.enc);
    } catch (err) {
      if (!(err instanceof AgeOpenError)) throw err;
      const ours = keyring.recipients.includes(stanza.recipient);
      if (err.failure === 'tampered' || (ours && err.failure === 'invalid')) {
        const reason = err.failure === 'tampered' ? 'SecretTampered' : 'SecretInvalid';
        const what = err.failure === 'tampered' ? 'fails its integrity check' : 'is malformed';
        throw new SecretsError(
          reason,
          file,
          `the data key wrapped for ${stanza.recipient} ${what}`,
        );
      }
      continue; // not for these identities: another stanza may be
    }
    if (key.length !== 32)
      throw new SecretsError('SecretInvalid', file, 'its data key is not 32 bytes');
    return key;
  }
  throw keyMissing(file, metadata, keyring);
}

/** Checks the MAC stored (encrypted, with lastmodified as additional data) against `computed`. */
function checkMac(file: string, metadata: SopsMetadata, key: Uint8Array, computed: string): void {
  const stored = parseEncrypted(metadata.mac);
  if (stored === undefined) throw new SecretsError('SecretTampered', file, 'its MAC is missing');
  let expected: Buffer;
  try {
    expected = openValue(stored, key, metadata.lastModified);
  } catch (err) {
    if (err instanceof TagMismatch) {
      throw new SecretsError('SecretTampered', file, 'its MAC fails its integrity check');
    }
    throw err;
  }
  const actual = Buffer.from(computed);
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new SecretsError('SecretTampered', file, 'its MAC does not match its content');
  }
}

/** Decrypts a loaded SOPS file with its data key, checks the MAC, returns the plaintext file. */
export function decryptWithDataKey(file: string, loaded: LoadedSops, key: Uint8Array): Buffer {
  try {
    const mac = decryptTree(loaded.document.branches, loaded.metadata, key);
    checkMac(file, loaded.metadata, key, mac);
    return loaded.document.emit();
  } catch (err) {
    throw asSecretsError(err, file);
  }
}
