import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redactConfig, REDACTED } from '../../src/config/index.js';
import { readConfigSecrets, withoutBerthSecrets } from '../../src/config/interpolation-env.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { ageKeygen } from '../stack/age.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-config-secrets-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  return file;
}

/** No SOPS default place may hold a key: the test's home is the temp folder. */
const ENV = (): Record<string, string> => ({ HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'xdg') });

describe('secrets.age in the config', () => {
  it('is optional: a config without it has none', async () => {
    const config = await loadConfig({
      file: await write('berth.yaml', 'source: { path: . }\n'),
      env: {},
    });
    expect(config.secrets).toBeUndefined();
  });

  it('resolves key files against the config file, keeps inline keys and the SOPS switch', async () => {
    const file = await write(
      'conf/berth.yaml',
      'source: { path: . }\nsecrets:\n  age:\n    keyFiles: [keys/a.txt, /abs/b.txt]\n    keys: [AGE-SECRET-KEY-1XYZ]\n    sopsDefaults: false\n',
    );
    const config = await loadConfig({ file, env: {} });
    expect(config.secrets).toEqual({
      age: {
        keyFiles: [path.join(dir, 'conf', 'keys', 'a.txt'), '/abs/b.txt'],
        keys: ['AGE-SECRET-KEY-1XYZ'],
        sopsDefaults: false,
      },
    });
  });

  it('defaults sopsDefaults to true and takes key files from the environment', async () => {
    const file = await write('berth.yaml', 'source: { path: . }\n');
    const config = await loadConfig({
      file,
      cwd: dir,
      env: { BERTH_SECRETS__AGE__KEYFILES: '[k.txt]' },
    });
    expect(config.secrets).toEqual({
      age: { keyFiles: [path.join(dir, 'k.txt')], keys: [], sopsDefaults: true },
    });
  });

  it('refuses unknown keys', async () => {
    const file = await write(
      'berth.yaml',
      'source: { path: . }\nsecrets:\n  age:\n    keyFile: k.txt\n',
    );
    const err = await loadConfig({ file, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.join('\n')).toContain('secrets.age.keyFile: unknown key');
  });

  it('redacts inline keys wherever the config is shown', () => {
    const shown = redactConfig({
      secrets: { age: { keys: ['AGE-SECRET-KEY-1ABC'], keyFiles: ['/k'] } },
    });
    expect(shown).toEqual({ secrets: { age: { keys: [REDACTED], keyFiles: ['/k'] } } });
  });
});

describe('age keys are berth secrets', () => {
  it('reads the identities, and holds the keys and key files back from interpolation and logs', async () => {
    const key = ageKeygen(dir, 'keys.txt');
    const file = await write(
      'berth.yaml',
      `source: { path: . }\nsecrets:\n  age:\n    keyFiles: [keys.txt]\n    keys: ["${ageKeygen(dir, 'inline.txt').secret}"]\n`,
    );
    const config = await loadConfig({ file, env: {} });
    const secrets = await readConfigSecrets(config, ENV());
    expect(secrets.identities.map((i) => i.recipient)).toContain(key.recipient);
    expect(secrets.identities).toHaveLength(2);
    expect(secrets.values).toContain(key.secret);
    expect(secrets.values).toContain(config.secrets?.age.keys[0]);
    expect(secrets.files).toContain(key.file);
    const env = withoutBerthSecrets(
      {
        SOPS_AGE_KEY: 'AGE-SECRET-KEY-1SOMETHING',
        SOPS_AGE_KEY_FILE: '/somewhere/keys.txt',
        COPY: key.secret,
        KEYS_AT: key.file,
        PLAIN: 'fine',
      },
      secrets,
    );
    expect(env).toEqual({ PLAIN: 'fine' });
  });

  it('takes SOPS_AGE_KEY as a key and a secret value, unless sopsDefaults is off', async () => {
    const key = ageKeygen(dir, 'env-key.txt');
    const on = await loadConfig({ file: await write('on.yaml', 'source: { path: . }\n'), env: {} });
    const secrets = await readConfigSecrets(on, { ...ENV(), SOPS_AGE_KEY: key.secret });
    expect(secrets.identities.map((i) => i.recipient)).toEqual([key.recipient]);
    expect(secrets.values).toContain(key.secret);
    const off = await loadConfig({
      file: await write(
        'off.yaml',
        'source: { path: . }\nsecrets: { age: { sopsDefaults: false } }\n',
      ),
      env: {},
    });
    const none = await readConfigSecrets(off, { ...ENV(), SOPS_AGE_KEY: key.secret });
    expect(none.identities).toEqual([]);
    expect(none.values).not.toContain(key.secret);
  });

  it('refuses a key file that cannot be read, naming secrets.age', async () => {
    const file = await write(
      'berth.yaml',
      'source: { path: . }\nsecrets: { age: { keyFiles: [missing.txt] } }\n',
    );
    const config = await loadConfig({ file, env: {} });
    const err = await readConfigSecrets(config, ENV()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('secrets.age');
    expect((err as ConfigError).message).toContain('missing.txt');
  });
});
