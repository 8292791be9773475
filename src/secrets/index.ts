/**
 * Decryption of SOPS- and age-encrypted files committed to a stack (issue 12).
 * Files are recognised by content, never by name; keys come from SOPS's usual places.
 */
export type {
  AgeIdentity,
  DecryptResult,
  Decryptor,
  EncryptedFileInfo,
  EncryptedFormat,
} from './types.js';
export { SecretsError } from './errors.js';
export type { SecretsReason } from './errors.js';
export { detectEncrypted } from './detect.js';
export { loadIdentities, parseIdentities } from './identities.js';
export type { LoadIdentitiesOptions } from './identities.js';
export { createDecryptor } from './decryptor.js';
