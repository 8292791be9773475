/**
 * A test-only SOPS encoder: writes yaml, json, dotenv, ini and binary SOPS files for age
 * recipients, following sops's format (aes/cipher.go, sops.go, stores/*). It is written apart
 * from src/secrets on purpose — its own walk, flattening and serialisation — so that the
 * decoder is checked against a second reading of the format, and against real SOPS files
 * (test/secrets/fixtures) too.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { Encrypter, armor } from 'age-encryption';
import type { Document } from 'yaml';
import { isMap, isScalar, isSeq, parseAllDocuments } from 'yaml';

export type SopsTestFormat = 'yaml' | 'json' | 'dotenv' | 'ini' | 'binary';

export interface SopsEncodeOptions {
  format: SopsTestFormat;
  /** age recipients (`age1…`) the data key is wrapped for. */
  recipients: readonly string[];
  /** Other master keys to list (never usable here), e.g. `{ pgp: 'FBC7…' }`. */
  pgpFingerprints?: readonly string[];
  unencryptedSuffix?: string;
  encryptedRegex?: string;
  macOnlyEncrypted?: boolean;
  lastModified?: string;
  /** Put the keys in two `key_groups` (sops's Shamir layout) instead of one group. */
  twoKeyGroups?: boolean;
  /** YAML: encrypt comments too, as sops does (they stay outside the MAC). */
  encryptComments?: boolean;
}

type Scalar = string | number | boolean;

interface Rules {
  suffix: string | undefined;
  regex: RegExp | undefined;
}

function encryptedAt(rules: Rules, path: readonly string[]): boolean {
  if (rules.regex !== undefined) return path.some((p) => rules.regex?.test(p) === true);
  return !path.some((p) => rules.suffix !== undefined && p.endsWith(rules.suffix));
}

function goBytes(value: Scalar): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}

function typeOf(value: Scalar): string {
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  return 'str';
}

function seal(plain: string, key: Buffer, aad: string, type: string): string {
  const iv = randomBytes(32);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${tag.toString('base64')},type:${type}]`;
}

/** Encrypts scalars in order, feeding the MAC as sops does; `visit` is the format's walk. */
class Sealer {
  readonly hash = createHash('sha512');
  constructor(
    readonly key: Buffer,
    readonly rules: Rules,
    readonly macOnlyEncrypted: boolean,
  ) {
    if (macOnlyEncrypted) this.hash.update(createHash('sha256').update('sops').digest());
  }

  /** The stored form of one value at `path` (list items add nothing to the path). */
  value(value: Scalar | null, path: readonly string[]): Scalar | null {
    if (value === null) return null;
    const encrypted = encryptedAt(this.rules, path);
    if (!this.macOnlyEncrypted || encrypted) this.hash.update(goBytes(value));
    if (!encrypted || value === '') return value;
    return seal(goBytes(value), this.key, `${path.join(':')}:`, typeOf(value));
  }

  mac(lastModified: string): string {
    return seal(this.hash.digest('hex').toUpperCase(), this.key, lastModified, 'str');
  }
}

async function wrapKey(key: Buffer, recipient: string): Promise<string> {
  const encrypter = new Encrypter();
  encrypter.addRecipient(recipient);
  return armor.encode(await encrypter.encrypt(key));
}

async function metadataOf(
  key: Buffer,
  sealer: Sealer,
  options: SopsEncodeOptions,
): Promise<Record<string, unknown>> {
  const lastModified = options.lastModified ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const age = await Promise.all(
    options.recipients.map(async (recipient) => ({
      recipient,
      enc: await wrapKey(key, recipient),
    })),
  );
  const pgp = (options.pgpFingerprints ?? []).map((fp) => ({
    created_at: lastModified,
    enc: '-----BEGIN PGP MESSAGE-----\n\nnot a real message\n-----END PGP MESSAGE-----\n',
    fp,
  }));
  const keys = options.twoKeyGroups
    ? { key_groups: [{ age: age.slice(0, 1) }, { age: age.slice(1), pgp }], shamir_threshold: 2 }
    : { age, ...(pgp.length > 0 ? { pgp } : {}) };
  return {
    ...keys,
    lastmodified: lastModified,
    mac: sealer.mac(lastModified),
    ...(options.encryptedRegex !== undefined
      ? { encrypted_regex: options.encryptedRegex }
      : { unencrypted_suffix: options.unencryptedSuffix ?? '_unencrypted' }),
    ...(options.macOnlyEncrypted ? { mac_only_encrypted: true } : {}),
    version: '3.9.4',
  };
}

/** stores/flatten.go: nested metadata as `a__map_b` / `a__list_0` keys. */
function flatten(value: unknown, prefix: string, out: Array<[string, string]>): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => flatten(v, `${prefix}__list_${i}`, out));
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value))
      flatten(v, prefix === '' ? k : `${prefix}__map_${k}`, out);
  } else {
    out.push([prefix, String(value).replaceAll('\n', '\\n')]);
  }
}

function sealComments(
  owner: { commentBefore?: string | null },
  sealer: Sealer,
  path: string[],
): void {
  const text = owner.commentBefore;
  if (text === undefined || text === null || text === '') return;
  const aad = `${path.join(':')}:`;
  owner.commentBefore = text
    .split('\n')
    .map((line) => seal(line, sealer.key, aad, 'comment'))
    .join('\n');
}

function sealYaml(doc: Document, sealer: Sealer, comments: boolean): void {
  const visit = (node: unknown, path: string[]): void => {
    if (isMap(node)) {
      if (comments) sealComments(node, sealer, path);
      for (const pair of node.items) {
        const key = String((pair.key as { value: unknown }).value);
        if (comments && isScalar(pair.key)) sealComments(pair.key, sealer, path);
        if (isScalar(pair.value)) {
          pair.value.value = sealer.value(pair.value.value as Scalar | null, [...path, key]);
        } else visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item) => {
        if (isScalar(item)) item.value = sealer.value(item.value as Scalar | null, path);
        else visit(item, path);
      });
    }
  };
  if (comments) sealComments(doc, sealer, []);
  visit(doc.contents, []);
}

function sealJson(value: unknown, sealer: Sealer, path: string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => sealJson(v, sealer, path));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, sealJson(v, sealer, [...path, k])]),
    );
  }
  return sealer.value(value as Scalar | null, path);
}

function iniSections(text: string): Array<[string, Array<[string, string]>]> {
  const sections: Array<[string, Array<[string, string]>]> = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) sections.push([header[1] ?? '', []]);
    else {
      const eq = line.indexOf('=');
      sections.at(-1)?.[1].push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
    }
  }
  return sections;
}

/** Encrypts `plaintext` (a file of the given format) into a SOPS file for the recipients. */
export async function encodeSops(plaintext: string, options: SopsEncodeOptions): Promise<string> {
  const key = randomBytes(32);
  const rules: Rules = {
    suffix:
      options.encryptedRegex === undefined
        ? (options.unencryptedSuffix ?? '_unencrypted')
        : undefined,
    regex: options.encryptedRegex === undefined ? undefined : new RegExp(options.encryptedRegex),
  };
  const sealer = new Sealer(key, rules, options.macOnlyEncrypted ?? false);
  switch (options.format) {
    case 'yaml': {
      // Several documents share one data key and one MAC; sops 3.13 repeats the metadata in each.
      const docs = parseAllDocuments(plaintext) as Document[];
      for (const doc of docs) sealYaml(doc, sealer, options.encryptComments ?? false);
      const metadata = await metadataOf(key, sealer, options);
      for (const doc of docs) {
        (doc.contents as { add: (pair: unknown) => void }).add(doc.createPair('sops', metadata));
      }
      return docs
        .map((doc, i) => {
          if (i > 0 && doc.directives !== undefined) doc.directives.docStart = true;
          return doc.toString({ lineWidth: 0 });
        })
        .join('');
    }
    case 'json':
    case 'binary': {
      const data: unknown = options.format === 'json' ? JSON.parse(plaintext) : { data: plaintext };
      const sealed = sealJson(data, sealer, []) as Record<string, unknown>;
      const metadata = await metadataOf(key, sealer, options);
      return `${JSON.stringify({ ...sealed, sops: metadata }, null, '\t')}\n`;
    }
    case 'dotenv': {
      const lines = plaintext.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
      const sealed = lines.map((line) => {
        const eq = line.indexOf('=');
        const name = line.slice(0, eq);
        const value = line.slice(eq + 1).replaceAll('\\n', '\n');
        const stored = String(sealer.value(value, [name]));
        return `${name}=${stored.replaceAll('\n', '\\n')}`;
      });
      const flat: Array<[string, string]> = [];
      flatten(await metadataOf(key, sealer, options), '', flat);
      return `${[...sealed, ...flat.map(([k, v]) => `sops_${k}=${v}`)].join('\n')}\n`;
    }
    case 'ini': {
      const out: string[] = [];
      for (const [section, entries] of iniSections(plaintext)) {
        out.push(`[${section}]`);
        for (const [name, value] of entries) {
          out.push(`${name} = ${String(sealer.value(value, [section, name]))}`);
        }
        out.push('');
      }
      const flat: Array<[string, string]> = [];
      flatten(await metadataOf(key, sealer, options), '', flat);
      return `${out.join('\n')}[sops]\n${flat.map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;
    }
  }
}
