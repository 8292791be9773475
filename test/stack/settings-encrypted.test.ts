import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SettingsError } from '../../src/errors.js';
import { readDeploySettings } from '../../src/stack/settings.js';
import { methodNames } from '../../src/strategies/index.js';
import { ageEncrypt, ageKeygen } from './age.js';
import { COMPOSE, DEFAULTS, removeDir, tempDir } from './fixtures.js';

let dir: string;
let recipient: string;

beforeEach(async () => {
  dir = await tempDir();
  recipient = ageKeygen(dir, 'key.txt').recipient;
});
afterEach(() => removeDir(dir));

async function refusal(): Promise<SettingsError> {
  const err = await readDeploySettings(
    dir,
    join(dir, 'compose.yaml'),
    DEFAULTS,
    methodNames(),
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SettingsError);
  return err as SettingsError;
}

describe('encrypted deploy settings', () => {
  it.each([
    ['armored', true],
    ['binary', false],
  ])(
    'refuses an %s age-encrypted deploy.yaml: settings must be readable without keys',
    async (_n, armor) => {
      await writeFile(join(dir, 'compose.yaml'), COMPOSE);
      await writeFile(
        join(dir, 'deploy.yaml'),
        ageEncrypt('method: blind\n', [recipient], { armor }),
      );
      const err = await refusal();
      expect(err.reason).toBe('SettingsEncrypted');
      expect(err.message).toContain(join(dir, 'deploy.yaml'));
      expect(err.message).toContain('readable without keys');
    },
  );

  it('refuses a SOPS-encrypted compose file holding x-berth', async () => {
    // A SOPS YAML file keeps its keys and encrypts the values: x-berth stays visible.
    const sopsLike = [
      'services:',
      '    web:',
      '        image: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]',
      'x-berth:',
      '    method: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]',
      'sops:',
      '    age:',
      `        - recipient: ${recipient}`,
      '          enc: |',
      '            -----BEGIN AGE ENCRYPTED FILE-----',
      '            YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==',
      '            -----END AGE ENCRYPTED FILE-----',
      '    lastmodified: "2024-01-01T00:00:00Z"',
      '    mac: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]',
      '    unencrypted_suffix: _unencrypted',
      '    version: 3.9.0',
      '',
    ].join('\n');
    await writeFile(join(dir, 'compose.yaml'), sopsLike);
    const err = await refusal();
    expect(err.reason).toBe('SettingsEncrypted');
    expect(err.message).toContain('sops-yaml');
  });

  it('leaves an encrypted file that holds no settings to the compose loader', async () => {
    await writeFile(join(dir, 'compose.yaml'), COMPOSE);
    await writeFile(join(dir, 'secret.env'), ageEncrypt('A=b\n', [recipient]));
    const settings = await readDeploySettings(
      dir,
      join(dir, 'compose.yaml'),
      DEFAULTS,
      methodNames(),
    );
    expect(settings.origin).toBe('defaults');
  });
});
