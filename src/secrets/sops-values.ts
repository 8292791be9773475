import { createDecipheriv } from 'node:crypto';

/**
 * One SOPS value: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, AES-256-GCM under the file's
 * data key, with the value's path as additional data (sops aes/cipher.go).
 */
export interface EncryptedValue {
  data: Buffer;
  iv: Buffer;
  tag: Buffer;
  type: string;
}

/** A decrypted value as SOPS types it: what it is and its bytes for the MAC. */
export type PlainValue =
  | { type: 'str'; value: string }
  | { type: 'int'; value: number | bigint }
  | { type: 'float'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'bytes'; value: Buffer }
  | { type: 'comment'; value: string };

const ENC_PATTERN = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A value's parts, or undefined when the text is not SOPS's encrypted form. */
export function parseEncrypted(text: string): EncryptedValue | undefined {
  const match = ENC_PATTERN.exec(text);
  if (match === null) return undefined;
  const [, data = '', iv = '', tag = '', type = ''] = match;
  if (![data, iv, tag].every((part) => BASE64.test(part))) return undefined;
  return {
    data: Buffer.from(data, 'base64'),
    iv: Buffer.from(iv, 'base64'),
    tag: Buffer.from(tag, 'base64'),
    type,
  };
}

/** Thrown when a GCM tag does not match: the value, its path or the key is not the one sealed. */
export class TagMismatch extends Error {}

/** Opens one value; throws TagMismatch when the tag does not verify. */
export function openValue(value: EncryptedValue, key: Uint8Array, aad: string): Buffer {
  if (value.iv.length === 0 || value.tag.length !== 16) throw new TagMismatch('bad iv or tag');
  const decipher = createDecipheriv('aes-256-gcm', key, value.iv);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(value.tag);
  try {
    return Buffer.concat([decipher.update(value.data), decipher.final()]);
  } catch (err) {
    throw new TagMismatch('GCM tag mismatch', { cause: err });
  }
}

/** Go's strconv.ParseBool. */
function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

/** Types decrypted bytes by the value's `type:`; undefined when they do not parse as that type. */
export function typeValue(type: string, bytes: Buffer): PlainValue | undefined {
  const text = bytes.toString('utf8');
  switch (type) {
    case 'str':
      return { type: 'str', value: text };
    case 'int':
    case 'int64': {
      if (!/^[+-]?\d+$/.test(text)) return undefined;
      const big = BigInt(text);
      const safe =
        big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= -BigInt(Number.MAX_SAFE_INTEGER);
      return { type: 'int', value: safe ? Number(big) : big };
    }
    case 'float': {
      const value = Number(text);
      return text.trim() === '' || Number.isNaN(value) ? undefined : { type: 'float', value };
    }
    case 'bool': {
      const value = parseGoBool(text);
      return value === undefined ? undefined : { type: 'bool', value };
    }
    case 'bytes':
      return { type: 'bytes', value: bytes };
    case 'comment':
      return { type: 'comment', value: text };
    default:
      return undefined;
  }
}

/** Go's strconv.FormatFloat(v, 'f', -1, 64): shortest digits, never an exponent. */
export function formatGoFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  const text = String(value);
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (match === null) return Object.is(value, -0) ? '-0' : text;
  const [, sign = '', lead = '', rest = '', exp = '0'] = match;
  const digits = lead + rest;
  const point = 1 + Number(exp);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** SOPS's ToBytes of a value already in the tree (unencrypted, or after decryption). */
export function macBytes(value: string | number | bigint | boolean | Buffer): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (typeof value === 'boolean') return Buffer.from(value ? 'True' : 'False');
  if (typeof value === 'bigint') return Buffer.from(value.toString());
  return Buffer.from(formatGoFloat(value));
}
