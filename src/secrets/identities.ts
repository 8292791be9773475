import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { bech32 } from '@scure/base';
import { SecretsError } from './errors.js';
import type { AgeIdentity } from './types.js';

const SECRET_PREFIX = 'AGE-SECRET-KEY-';

/**
 * The private keys, held beside the identities rather than on them, so that logging or
 * serialising an identity cannot print one.
 */
const secrets = new WeakMap<AgeIdentity, string>();

/** The `AGE-SECRET-KEY-1…` string of an identity made by this module. */
export function secretKeyOf(identity: AgeIdentity): string | undefined {
  return secrets.get(identity);
}

/** PKCS#8 DER header of a raw X25519 private key (RFC 8410). */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** The `age1…` recipient of a raw X25519 private key. */
function recipientOf(scalar: Uint8Array): string {
  const key = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, scalar]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return bech32.encode('age', bech32.toWords(spki.subarray(spki.length - 32)), false);
}

/** Builds an identity from one `AGE-SECRET-KEY-1…` string; undefined when it is not one. */
function identityFrom(line: string, source: string): AgeIdentity | undefined {
  if (!line.startsWith(`${SECRET_PREFIX}1`)) return undefined;
  let decoded: { prefix: string; bytes: Uint8Array };
  try {
    // age keys are longer than BIP 173's 90 characters: no length limit.
    const { prefix, words } = bech32.decode(line as `${string}1${string}`, false);
    decoded = { prefix, bytes: bech32.fromWords(words) };
  } catch {
    return undefined;
  }
  if (decoded.prefix !== 'age-secret-key-' || decoded.bytes.length !== 32) return undefined;
  const identity: AgeIdentity = Object.freeze({ source, recipient: recipientOf(decoded.bytes) });
  secrets.set(identity, line);
  return identity;
}

/**
 * Parses a keys.txt-style text: `#` comments, blank lines, one `AGE-SECRET-KEY-1…` a line.
 * A malformed line throws, naming `source` and the line number but never the line.
 */
export function parseIdentities(text: string, source: string): AgeIdentity[] {
  const identities: AgeIdentity[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const identity = identityFrom(line, source);
    if (identity === undefined) {
      const what = line.startsWith('AGE-SECRET-KEY-PQ-')
        ? 'a post-quantum age identity, which berth does not support yet'
        : 'not an X25519 age identity (AGE-SECRET-KEY-1…)';
      throw new SecretsError('SecretInvalid', source, `line ${index + 1}: ${what}`);
    }
    identities.push(identity);
  });
  return identities;
}

export interface LoadIdentitiesOptions {
  /** berth's own key files; each must exist. */
  keyFiles: readonly string[];
  /** Inline keys.txt texts (from berth's configuration or its environment). */
  keys?: readonly string[];
  /** The environment SOPS's variables are read from. */
  env: Readonly<Record<string, string | undefined>>;
  /** Also read SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the default keys.txt, as SOPS does. */
  useSopsDefaults: boolean;
}

async function readKeyFile(file: string, required: boolean): Promise<AgeIdentity[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!required && (code === 'ENOENT' || code === 'ENOTDIR')) return [];
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? 'error'})`;
    throw new SecretsError('SecretKeyMissing', file, `the age key file ${why}`, { cause: err });
  }
  return parseIdentities(text, file);
}

/** SOPS's default keys file: $XDG_CONFIG_HOME/sops/age/keys.txt, XDG's default ~/.config. */
export function defaultSopsKeyFile(env: Readonly<Record<string, string | undefined>>): string {
  const xdg = env.XDG_CONFIG_HOME;
  const configHome = xdg !== undefined && xdg !== '' ? xdg : join(env.HOME ?? homedir(), '.config');
  return join(configHome, 'sops', 'age', 'keys.txt');
}

/**
 * Collects identities the way SOPS does — SOPS_AGE_KEY (inline), then SOPS_AGE_KEY_FILE or
 * else the default keys.txt — plus berth's own `keys` and `keyFiles`. A missing default file
 * means none; a missing file that was named is an error.
 */
export async function loadIdentities(options: LoadIdentitiesOptions): Promise<AgeIdentity[]> {
  const found: AgeIdentity[] = [];
  (options.keys ?? []).forEach((text, i) => {
    found.push(...parseIdentities(text, `keys[${i}]`));
  });
  for (const file of options.keyFiles) found.push(...(await readKeyFile(file, true)));
  if (options.useSopsDefaults) {
    const inline = options.env.SOPS_AGE_KEY;
    if (inline !== undefined && inline !== '') {
      found.push(...parseIdentities(inline, 'SOPS_AGE_KEY'));
    }
    const named = options.env.SOPS_AGE_KEY_FILE;
    if (named !== undefined && named !== '') found.push(...(await readKeyFile(named, true)));
    else found.push(...(await readKeyFile(defaultSopsKeyFile(options.env), false)));
  }
  return found;
}
