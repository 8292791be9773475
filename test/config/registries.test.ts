import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { redactConfig, REDACTED } from '../../src/config/index.js';
import { readConfigSecrets, withoutBerthSecrets } from '../../src/config/interpolation-env.js';
import { loadConfig, type BerthConfig } from '../../src/config/load.js';
import { ConfigFile, type RegistryConfig } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors.js';
import { useConfigDir } from './config-dir.js';

const cfg = useConfigDir('berth-config-registries-');

/** No SOPS default place may hold a key: the test's home is the temp folder. */
const env = (): Record<string, string> => ({
  HOME: cfg.path,
  XDG_CONFIG_HOME: path.join(cfg.path, 'xdg'),
});

/** A loaded config with `registries` as the schema parsed them. */
async function configWith(registries: RegistryConfig[]): Promise<BerthConfig> {
  const file = cfg.write('conf/berth.yaml', 'source: { path: .. }\n');
  return { ...(await loadConfig({ file, env: {} })), registries };
}

describe('registries in the config', () => {
  it('takes servers as people write them, with a password or a password file', () => {
    const parsed = ConfigFile.parse({
      source: { path: '.' },
      registries: [
        { server: 'registry.example.com:5000', username: 'ci', passwordFile: 'pw.txt' },
        { server: 'https://ghcr.io', username: 'bot', password: 'ghp_x' },
        { server: 'docker.io', username: 'me', password: 'p' },
      ],
    });
    expect(parsed.registries).toHaveLength(3);
    expect(ConfigFile.parse({ source: { path: '.' } }).registries).toEqual([]);
  });

  it('refuses an entry with both or neither password keys, or a server listed twice', async () => {
    const file = cfg.write(
      'berth.yaml',
      [
        'source: { path: . }',
        'registries:',
        '  - { server: a.example.com, username: u }',
        '  - { server: b.example.com, username: u, password: p, passwordFile: f }',
        '  - { server: index.docker.io, username: u, password: p }',
        '  - { server: "https://index.docker.io/v1/", username: v, password: q }',
        '  - { server: "https://", username: u, password: p, token: x }',
        '',
      ].join('\n'),
    );
    const problems = (await cfg.problems({ file })).join('\n');
    expect(problems).toContain('berth.yaml:3: registries[0]: set either password or passwordFile');
    expect(problems).toContain('berth.yaml:4: registries[1]: set either password or passwordFile');
    expect(problems).toContain(
      'berth.yaml:6: registries[3].server: docker.io is listed twice (also registries[2])',
    );
    expect(problems).toContain('berth.yaml:7: registries[4].server: expected a registry host');
    expect(problems).toContain('berth.yaml:7: registries[4].token: unknown key');
  });

  it('redacts inline passwords wherever the config is shown', () => {
    const shown = redactConfig({
      registries: [{ server: 'r', username: 'u', password: 'hunter2', passwordFile: 'f' }],
    });
    expect(shown).toEqual({
      registries: [{ server: 'r', username: 'u', password: REDACTED, passwordFile: 'f' }],
    });
  });
});

describe('registry passwords are berth secrets', () => {
  it('reads password files against the config folder, and withholds passwords and files', async () => {
    cfg.write('conf/secrets/registry.pw', 'from-a-file-0123\n');
    const config = await configWith([
      { server: 'registry.example.com:5000', username: 'ci', passwordFile: 'secrets/registry.pw' },
      { server: 'ghcr.io', username: 'bot', password: 'inline-secret-4567' },
    ]);
    const secrets = await readConfigSecrets(config, env());
    expect(secrets.registries).toEqual([
      { server: 'registry.example.com:5000', username: 'ci', password: 'from-a-file-0123' },
      { server: 'ghcr.io', username: 'bot', password: 'inline-secret-4567' },
    ]);
    expect(secrets.values).toEqual(
      expect.arrayContaining(['from-a-file-0123', 'inline-secret-4567']),
    );
    const pwFile = path.join(cfg.path, 'conf', 'secrets', 'registry.pw');
    expect(secrets.files).toContain(pwFile);
    const interpolation = withoutBerthSecrets(
      { A: 'from-a-file-0123', B: 'inline-secret-4567', C: pwFile, D: 'fine' },
      secrets,
    );
    expect(interpolation).toEqual({ D: 'fine' });
  });

  it('refuses a password file that cannot be read, naming the key and not a password', async () => {
    const config = await configWith([
      { server: 'a.example.com', username: 'u', password: 'inline-secret-4567' },
      { server: 'b.example.com', username: 'u', passwordFile: 'missing.pw' },
    ]);
    const err = await readConfigSecrets(config, env()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('registries[1].passwordFile');
    expect((err as ConfigError).message).toContain('missing.pw');
    expect((err as ConfigError).message).not.toContain('inline-secret-4567');
  });
});
