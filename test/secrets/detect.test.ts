import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectEncrypted } from '../../src/secrets/index.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));
const detect = (text: string | Buffer): ReturnType<typeof detectEncrypted> =>
  detectEncrypted(typeof text === 'string' ? Buffer.from(text) : text);

const MAC = 'ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]';

describe('detectEncrypted', () => {
  it('recognises files written by real SOPS, by content', () => {
    expect(detect(fixture('sops-nix-secrets.yaml.sops'))).toBe('sops-yaml');
    expect(detect(fixture('sops-nix-secrets.json.sops'))).toBe('sops-json');
    expect(detect(fixture('sops-nix-secrets.env.sops'))).toBe('sops-dotenv');
    expect(detect(fixture('sops-nix-secrets.ini.sops'))).toBe('sops-ini');
    expect(detect(fixture('sops-nix-secrets.bin.sops'))).toBe('sops-binary');
  });

  it('recognises age files, binary and armored', () => {
    expect(detect('age-encryption.org/v1\n-> X25519 abc\nxyz\n--- mac\n\u0000\u0001')).toBe('age');
    expect(
      detect('\n  -----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n'),
    ).toBe('age');
  });

  it('takes JSON with other keys beside data for sops-json, not binary', () => {
    const sops = {
      age: [{ recipient: 'age1x', enc: 'e' }],
      lastmodified: '2024-01-01T00:00:00Z',
      mac: MAC,
    };
    expect(detect(JSON.stringify({ data: 'ENC[...]', sops }))).toBe('sops-binary');
    expect(detect(JSON.stringify({ data: 'x', other: 1, sops }))).toBe('sops-json');
    expect(detect(JSON.stringify({ data: { nested: 1 }, sops }))).toBe('sops-json');
  });

  it('leaves plain files plain, including a `sops` key that is not SOPS metadata', () => {
    expect(detect('')).toBeUndefined();
    expect(detect(Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x02]))).toBeUndefined();
    expect(detect('services:\n  web:\n    image: nginx\n')).toBeUndefined();
    expect(detect('sops:\n  enabled: true\n  mac: yes\n')).toBeUndefined();
    expect(detect('sops: [1, 2]\n')).toBeUndefined();
    expect(detect('{"sops": {"mac": "x"}, "a": 1}')).toBeUndefined();
    expect(detect('{"sops": "not metadata"}')).toBeUndefined();
    expect(detect('[1, 2, 3]')).toBeUndefined();
    expect(detect('{ not json')).toBeUndefined();
    expect(detect('SOPS_VERSION=1\nsops_lastmodified=yes\n')).toBeUndefined();
    expect(detect('[sops]\nenabled = true\n')).toBeUndefined();
    expect(detect('KEY=value\n# sops_mac=nothing\n')).toBeUndefined();
    expect(detect('-----BEGIN PGP MESSAGE-----\nabc\n')).toBeUndefined();
  });

  it('does not take a file with a broken header for age', () => {
    expect(detect('age-encryption.org/v2\n')).toBeUndefined();
    expect(detect('# age-encryption.org/v1\n')).toBeUndefined();
  });
});
