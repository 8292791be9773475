import { DOTENV_METADATA_PREFIX, parseDotenvLines } from './format-dotenv.js';
import { parseIni } from './format-ini.js';
import { jsonToPlain, parseOrderedJson } from './format-json.js';
import { parseYamlDocuments, yamlMetadata } from './format-yaml.js';
import { looksLikeMetadata, unflatten } from './sops-metadata.js';
import type { EncryptedFormat } from './types.js';

export const AGE_BINARY_HEADER = 'age-encryption.org/v1\n';
export const AGE_ARMOR_HEADER = '-----BEGIN AGE ENCRYPTED FILE-----';

function utf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function startsWith(bytes: Uint8Array, prefix: string): boolean {
  if (bytes.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

function detectJson(text: string): EncryptedFormat | undefined {
  let top;
  try {
    top = parseOrderedJson(text);
  } catch {
    return undefined;
  }
  if (top.t !== 'object') return undefined;
  const sops = top.entries.find(([k]) => k === 'sops');
  if (sops === undefined || !looksLikeMetadata(jsonToPlain(sops[1]))) return undefined;
  const others = top.entries.filter(([k]) => k !== 'sops');
  const [only] = others;
  // sops writes a binary file as exactly this envelope; a JSON file of one `data` string
  // looks the same, and is read as binary.
  const data = others.length === 1 && only?.[0] === 'data' ? only[1] : undefined;
  return data?.t === 'scalar' && typeof data.value === 'string' ? 'sops-binary' : 'sops-json';
}

function detectDotenv(text: string): boolean {
  if (!new RegExp(`^${DOTENV_METADATA_PREFIX}lastmodified=`, 'm').test(text)) return false;
  const lines = parseDotenvLines(text);
  if (lines === undefined) return false;
  const flat = lines.flatMap((l): Array<[string, string]> =>
    'key' in l && l.key.startsWith(DOTENV_METADATA_PREFIX)
      ? [[l.key.slice(DOTENV_METADATA_PREFIX.length), l.value]]
      : [],
  );
  return looksLikeMetadata(unflatten(flat));
}

function detectIni(text: string): boolean {
  if (!/^\s*\[\s*sops\s*\]/m.test(text)) return false;
  const sops = parseIni(text)?.find((s) => s.name === 'sops');
  return (
    sops !== undefined && looksLikeMetadata(unflatten(sops.keys.map((k) => [k.name, k.value])))
  );
}

function detectYaml(text: string): boolean {
  if (!/^["']?sops["']?[ \t]*:/m.test(text)) return false;
  const docs = parseYamlDocuments(text);
  return docs !== undefined && looksLikeMetadata(yamlMetadata(docs));
}

/**
 * What a file is, judged by its content (SOPS metadata, age header), never by its name.
 * undefined: a plain file — including YAML or JSON with a `sops` key that is not SOPS's.
 */
export function detectEncrypted(bytes: Uint8Array): EncryptedFormat | undefined {
  if (startsWith(bytes, AGE_BINARY_HEADER)) return 'age';
  const text = utf8(bytes);
  if (text === undefined) return undefined;
  const trimmed = text.trimStart();
  if (trimmed.startsWith(AGE_ARMOR_HEADER)) return 'age';
  if (trimmed.startsWith('{')) return detectJson(text);
  if (detectDotenv(text)) return 'sops-dotenv';
  if (detectIni(text)) return 'sops-ini';
  if (detectYaml(text)) return 'sops-yaml';
  return undefined;
}
