import { describe, expect, it } from 'vitest';
import { normalizeLastModified, unflatten } from '../../src/secrets/sops-metadata.js';
import {
  TagMismatch,
  formatGoFloat,
  macBytes,
  openValue,
  parseEncrypted,
  typeValue,
} from '../../src/secrets/sops-values.js';

describe('SOPS values', () => {
  it('opens the vector of sops aes/cipher_test.go TestDecrypt', () => {
    const value = parseEncrypted(
      'ENC[AES256_GCM,data:oYyi,iv:MyIDYbT718JRr11QtBkcj3Dwm4k1aCGZBVeZf0EyV8o=,tag:t5z2Z023Up0kxwCgw1gNxg==,type:str]',
    );
    if (value === undefined) throw new Error('not parsed');
    const key = Buffer.from('f'.repeat(32));
    expect(openValue(value, key, 'bar:').toString()).toBe('foo');
    // TestDecryptInvalidAad: the same value under another path does not open.
    expect(() => openValue(value, key, '')).toThrow(TagMismatch);
  });

  it('types values as sops does, and gives them its MAC bytes', () => {
    expect(typeValue('int', Buffer.from('42'))).toEqual({ type: 'int', value: 42 });
    expect(typeValue('int', Buffer.from('12345678901234567890'))).toEqual({
      type: 'int',
      value: 12345678901234567890n,
    });
    expect(typeValue('float', Buffer.from('1234.56789'))).toEqual({
      type: 'float',
      value: 1234.56789,
    });
    expect(typeValue('bool', Buffer.from('True'))).toEqual({ type: 'bool', value: true });
    expect(typeValue('bool', Buffer.from('f'))).toEqual({ type: 'bool', value: false });
    expect(typeValue('bool', Buffer.from('yes'))).toBeUndefined();
    expect(typeValue('int', Buffer.from('4.2'))).toBeUndefined();
    expect(typeValue('weird', Buffer.from('x'))).toBeUndefined();
    expect(macBytes(true).toString()).toBe('True');
    expect(macBytes(false).toString()).toBe('False');
    expect(macBytes(12345678901234567890n).toString()).toBe('12345678901234567890');
  });

  it("formats floats as Go's FormatFloat(v, 'f', -1, 64)", () => {
    expect(formatGoFloat(1234.56789)).toBe('1234.56789');
    expect(formatGoFloat(5432)).toBe('5432');
    expect(formatGoFloat(1e21)).toBe('1000000000000000000000');
    expect(formatGoFloat(1.5e22)).toBe('15000000000000000000000');
    expect(formatGoFloat(1e-7)).toBe('0.0000001');
    expect(formatGoFloat(-2.5e-8)).toBe('-0.000000025');
    expect(formatGoFloat(0.1)).toBe('0.1');
  });

  it('normalises lastmodified as Go parses and formats RFC 3339', () => {
    expect(normalizeLastModified('2021-09-30T19:49:41Z')).toBe('2021-09-30T19:49:41Z');
    expect(normalizeLastModified('2021-09-30T19:49:41.123456Z')).toBe('2021-09-30T19:49:41Z');
    expect(normalizeLastModified('2021-09-30T19:49:41+00:00')).toBe('2021-09-30T19:49:41Z');
    expect(normalizeLastModified('2021-09-30T19:49:41-07:00')).toBe('2021-09-30T19:49:41-07:00');
    expect(() => normalizeLastModified('yesterday')).toThrow();
  });

  it('unflattens dotenv/INI metadata keys as stores/flatten.go', () => {
    expect(
      unflatten([
        ['age__list_1__map_recipient', 'b'],
        ['age__list_0__map_recipient', 'a'],
        ['age__list_0__map_enc', 'x\ny'],
        ['lastmodified', 't'],
        ['key_groups__list_0__map_age__list_0__map_recipient', 'g'],
      ]),
    ).toEqual({
      age: [{ recipient: 'a', enc: 'x\ny' }, { recipient: 'b' }],
      lastmodified: 't',
      key_groups: [{ age: [{ recipient: 'g' }] }],
    });
  });
});
