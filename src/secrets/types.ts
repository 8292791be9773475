export type EncryptedFormat =
  'age' | 'sops-yaml' | 'sops-json' | 'sops-dotenv' | 'sops-ini' | 'sops-binary';

/** An age identity (X25519 `AGE-SECRET-KEY-1…`). */
export interface AgeIdentity {
  /** Where it came from, for messages: a file path or a variable name. */
  source: string;
  /** The public recipient, `age1…`. */
  recipient: string;
  // The private key is held aside (identities.ts), so logging an identity cannot print it.
}

export interface DecryptResult {
  format: EncryptedFormat;
  plaintext: Uint8Array;
}

export interface EncryptedFileInfo {
  format: EncryptedFormat;
  /** SOPS: the age recipients in its metadata; age files do not name theirs: []. */
  recipients: string[];
  /** Whether one of the identities opens it (the data key decrypts; MAC checked). */
  opens: boolean;
  /** Why not, when not (no key for recipients X, tampered, …). */
  problem?: string;
}

export interface Decryptor {
  /**
   * Decrypts a file's bytes; `file` is only for messages. Throws SecretsError with reason
   * SecretKeyMissing, SecretTampered or SecretInvalid.
   */
  decrypt(file: string, bytes: Uint8Array): Promise<DecryptResult>;
  /** For `berth validate`: never returns or logs a plaintext value. */
  inspect(file: string, bytes: Uint8Array): Promise<EncryptedFileInfo | undefined>;
}
