/**
 * The `sops` metadata of a file (stores/stores.go, stores/metadata.go): the data key wrapped
 * for each master key, the MAC, and the rules saying which values are encrypted.
 */
export interface AgeStanza {
  recipient: string;
  /** An armored age file holding the 32-byte data key. */
  enc: string;
}

export interface KeyGroup {
  age: AgeStanza[];
  /** The other master keys, named for messages: `pgp FBC7…`, `kms arn:…`. */
  others: string[];
}

export interface SopsMetadata {
  lastModified: string;
  mac: string;
  groups: KeyGroup[];
  shamirThreshold: number;
  unencryptedSuffix?: string;
  encryptedSuffix?: string;
  unencryptedRegex?: string;
  encryptedRegex?: string;
  unencryptedCommentRegex?: string;
  encryptedCommentRegex?: string;
  macOnlyEncrypted: boolean;
  version?: string;
}

/** The metadata is not what SOPS writes; the message says what is wrong. */
export class MetadataInvalid extends Error {}

type Raw = Record<string, unknown>;

function isRecord(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(raw: Raw, key: string): string | undefined {
  const value = raw[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new MetadataInvalid(`sops.${key} is not a string`);
}

function list(raw: Raw, key: string): Raw[] {
  const value = raw[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new MetadataInvalid(`sops.${key} is not a list`);
  return value.map((entry) => {
    if (!isRecord(entry)) throw new MetadataInvalid(`an entry of sops.${key} is not a mapping`);
    return entry;
  });
}

/** What identifies each kind of non-age master key, for messages. */
const OTHER_KEYS: ReadonlyArray<[string, string]> = [
  ['pgp', 'fp'],
  ['kms', 'arn'],
  ['gcp_kms', 'resource_id'],
  ['azure_kv', 'vault_url'],
  ['hc_vault', 'vault_address'],
];

function groupOf(raw: Raw): KeyGroup {
  const age = list(raw, 'age').map((entry) => ({
    recipient: text(entry, 'recipient') ?? '',
    enc: text(entry, 'enc') ?? '',
  }));
  const others = OTHER_KEYS.flatMap(([kind, id]) =>
    list(raw, kind).map((entry) => `${kind} ${text(entry, id) ?? '?'}`),
  );
  return { age, others };
}

function hasKeys(group: KeyGroup): boolean {
  return group.age.length > 0 || group.others.length > 0;
}

/** Go's time.Parse then Format(time.RFC3339): the additional data the MAC is sealed with. */
export function normalizeLastModified(value: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.exec(
    value,
  );
  if (match === null) throw new MetadataInvalid('sops.lastmodified is not an RFC 3339 time');
  const [, date, time, zone = 'Z'] = match;
  const offset = /^[Zz]$|^[+-]00:00$/.test(zone) ? 'Z' : zone;
  return `${date}T${time}${offset}`;
}

function flag(raw: Raw, key: string): boolean {
  const value = raw[key];
  return value === true || value === 'true' || value === 'True' || value === '1';
}

/** Reads the metadata mapping (already unflattened for dotenv and INI). */
export function parseMetadata(raw: unknown): SopsMetadata {
  if (!isRecord(raw)) throw new MetadataInvalid('sops metadata is not a mapping');
  const top = groupOf(raw);
  const groups = hasKeys(top) ? [top] : list(raw, 'key_groups').map(groupOf);
  if (!groups.some(hasKeys)) throw new MetadataInvalid('sops metadata names no keys');
  const rules = ['unencrypted_suffix', 'encrypted_suffix', 'unencrypted_regex', 'encrypted_regex'];
  const ruleCount = rules.filter((r) => (text(raw, r) ?? '') !== '').length;
  if (ruleCount > 1) throw new MetadataInvalid('sops metadata has more than one encryption rule');
  const lastModified = text(raw, 'lastmodified');
  if (lastModified === undefined) throw new MetadataInvalid('sops.lastmodified is missing');
  const threshold = Number(text(raw, 'shamir_threshold') ?? '0');
  return {
    lastModified: normalizeLastModified(lastModified),
    mac: text(raw, 'mac') ?? '',
    groups,
    shamirThreshold: Number.isInteger(threshold) ? threshold : 0,
    // With no rule at all, sops encrypts all but keys ending in _unencrypted.
    unencryptedSuffix: ruleCount === 0 ? '_unencrypted' : text(raw, 'unencrypted_suffix'),
    encryptedSuffix: text(raw, 'encrypted_suffix'),
    unencryptedRegex: text(raw, 'unencrypted_regex'),
    encryptedRegex: text(raw, 'encrypted_regex'),
    unencryptedCommentRegex: text(raw, 'unencrypted_comment_regex'),
    encryptedCommentRegex: text(raw, 'encrypted_comment_regex'),
    macOnlyEncrypted: flag(raw, 'mac_only_encrypted'),
    version: text(raw, 'version'),
  };
}

/** Whether a mapping looks like SOPS metadata (for detection: a `sops` key of one's own). */
export function looksLikeMetadata(raw: unknown): boolean {
  if (!isRecord(raw)) return false;
  const keys = ['age', 'pgp', 'kms', 'gcp_kms', 'azure_kv', 'hc_vault', 'key_groups'];
  return (
    typeof raw.mac === 'string' &&
    raw.lastmodified !== undefined &&
    keys.some((k) => raw[k] !== undefined)
  );
}

type Token = { map: string } | { list: number };

/** stores/flatten.go's tokenize: `age__list_0__map_enc` → age, [0], enc. */
function tokenize(path: string): Token[] {
  const parts = path.split(/(__map_|__list_)/);
  const tokens: Token[] = [{ map: parts[0] ?? '' }];
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const rest = parts[i + 1] ?? '';
    tokens.push(parts[i] === '__list_' ? { list: Number.parseInt(rest, 10) } : { map: rest });
  }
  return tokens;
}

/** stores/flatten.go's Unflatten, for the `sops_*` keys of dotenv and the `[sops]` section of INI. */
export function unflatten(flat: ReadonlyArray<[string, string]>): Raw {
  const root: Raw = {};
  for (const [path, value] of flat) {
    const tokens = tokenize(path);
    let node: Raw | unknown[] = root;
    tokens.forEach((token, i) => {
      const next = tokens[i + 1];
      const slot = 'map' in token ? token.map : token.list;
      const container = node as Record<string | number, unknown>;
      if (next === undefined) {
        container[slot] = value;
        return;
      }
      if (container[slot] === undefined) container[slot] = 'list' in next ? [] : {};
      node = container[slot] as Raw | unknown[];
    });
  }
  return root;
}
