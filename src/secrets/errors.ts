import { BerthError } from '../errors.js';
import type { Reason } from '../reasons.js';

/** The reasons this module gives; others may use the class with reasons of their own. */
export type SecretsReason = 'SecretKeyMissing' | 'SecretTampered' | 'SecretInvalid';

/**
 * An encrypted file berth cannot open. The message is `<file>: <detail>`; neither ever holds
 * a plaintext value or a private key.
 */
export class SecretsError extends BerthError {
  /** The message without the file: what `inspect` reports as the problem. */
  readonly detail: string;
  constructor(reason: Reason, file: string, detail: string, options: { cause?: unknown } = {}) {
    super(reason, `${file}: ${detail}`, { cause: options.cause, place: { file } });
    this.detail = detail;
  }
}
