import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  readConfigSecrets,
  interpolationEnv,
  withoutBerthSecrets,
} from '../../src/config/interpolation-env.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger, withholdFromLogs } from '../../src/log.js';
import { stackLoaderFor } from '../../src/main.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-secrets-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

/** A config holding every kind of secret berth knows, inline and from files. */
async function configWithEverySecret(): Promise<string> {
  await write('api-token', 'SECRET-api-from-file\n');
  await write('gitea-secret', 'SECRET-gitea-from-file\n');
  await write('ntfy-token', 'SECRET-ntfy-from-file\n');
  return write(
    'berth.yaml',
    [
      'source:',
      '  git:',
      '    url: https://git.example.org/ops/stacks.git',
      '    auth: { token: "SECRET-git-inline" }',
      'server:',
      '  tokens:',
      '    - { name: ci, token: "SECRET-api-inline" }',
      '    - { name: ops, tokenFile: api-token }',
      '  webhooks:',
      '    generic: { secret: "SECRET-generic-inline" }',
      '    gitea: { secretFile: gitea-secret }',
      'notify:',
      '  - type: slack',
      '    url: "https://hooks.example.org/services/SECRET-slack-url"',
      '    headers: { authorization: "Bearer SECRET-header" }',
      '  - { type: ntfy, url: "https://ntfy.example.org", topic: t, tokenFile: ntfy-token }',
      'hooks:',
      '  env: [REGISTRY, DEPLOY_KEY_NAME]',
    ].join('\n'),
  );
}

describe('readConfigSecrets', () => {
  it('collects every configured secret, the ones read from files too, and their files', async () => {
    const config = await loadConfig({ file: await configWithEverySecret(), env: {} });
    const secrets = await readConfigSecrets(config);
    expect(secrets.values).toEqual(
      expect.arrayContaining([
        'SECRET-git-inline',
        'SECRET-api-inline',
        'SECRET-api-from-file',
        'SECRET-generic-inline',
        'SECRET-gitea-from-file',
        'https://hooks.example.org/services/SECRET-slack-url',
        'Bearer SECRET-header',
        'SECRET-ntfy-from-file',
      ]),
    );
    expect(secrets.files).toEqual(
      expect.arrayContaining(
        ['api-token', 'gitea-secret', 'ntfy-token'].map((f) => path.join(dir, f)),
      ),
    );
    expect(config.hooks).toEqual({ env: ['REGISTRY', 'DEPLOY_KEY_NAME'] });
  });

  it('refuses a secret file that cannot be read, naming the key', async () => {
    const config = await loadConfig({ file: await configWithEverySecret(), env: {} });
    await rm(path.join(dir, 'gitea-secret'));
    const err = await readConfigSecrets(config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('server.webhooks.gitea.secretFile');
  });

  it('refuses a hooks.env entry that is no variable name', async () => {
    const file = await write('bad.yaml', 'source: { path: . }\nhooks: { env: ["A=B"] }\n');
    const err = await loadConfig({ file, env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.join('\n')).toMatch(/hooks\.env\[0\]/);
  });
});

describe('withoutBerthSecrets', () => {
  const secrets = {
    values: ['SECRET-long-token', 'short'],
    files: ['/run/secrets/git-token'],
  };

  it("drops berth's variables, any holding or containing a secret, and secret files' paths", () => {
    const env = withoutBerthSecrets(
      {
        PATH: '/bin',
        BERTH_GIT_TOKEN: 'anything',
        BERTH_CONFIG: '/etc/berth.yaml',
        DOCKER_CERT_PATH: '/certs',
        SSH_AUTH_SOCK: '/tmp/agent',
        INNOCENT: 'SECRET-long-token',
        EMBEDDED: 'https://user:SECRET-long-token@host/',
        SHORT_EXACT: 'short',
        SHORT_INSIDE: 'a shortcut',
        TOKEN_FILE: '/run/secrets/git-token',
        EMPTY: '',
      },
      secrets,
    );
    expect(env).toEqual({ PATH: '/bin', SHORT_INSIDE: 'a shortcut', EMPTY: '' });
  });

  it('without a config, withholds the names only', async () => {
    expect(
      await interpolationEnv(undefined, { BERTH_GIT_TOKEN: 'x', HOME: '/root', OTHER: 'x' }),
    ).toEqual({ HOME: '/root', OTHER: 'x' });
  });
});

describe('stackLoaderFor', () => {
  it('interpolates neither berth variables nor secrets under innocent names', async () => {
    const file = await configWithEverySecret();
    const config = await loadConfig({ file, env: {} });
    const stackDir = path.join(dir, 'leak');
    await mkdir(stackDir);
    await writeFile(
      path.join(stackDir, 'compose.yaml'),
      [
        'services:',
        '  app:',
        '    image: busybox',
        '    environment:',
        '      - LEAK=${BERTH_GIT_TOKEN:-unset}',
        '      - ALSO=${INNOCENT_NAME:-unset}',
        '      - INNOCENT_NAME',
        '      - KEPT=${ORDINARY}',
      ].join('\n'),
    );
    const set = {
      BERTH_GIT_TOKEN: 'SECRET-git-inline',
      INNOCENT_NAME: 'SECRET-api-from-file',
      ORDINARY: 'ordinary',
    };
    Object.assign(process.env, set);
    try {
      const loaded = await stackLoaderFor(config)(stackDir, 'leak');
      const environment = loaded.project.services.app?.environment;
      expect(environment).toMatchObject({ LEAK: 'unset', ALSO: 'unset', KEPT: 'ordinary' });
      expect(JSON.stringify(loaded)).not.toContain('SECRET-');
    } finally {
      for (const name of Object.keys(set)) delete process.env[name];
    }
  });
});

describe('log redaction', () => {
  it('blanks withheld secret values wherever they appear in a line', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done): void {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ level: 'info', destination });
    withholdFromLogs(['SECRET-in-log-0123', 'SECRET-"quoted"-4567']);
    logger.info(
      { detail: 'saw SECRET-in-log-0123 here', err: new Error('bad SECRET-"quoted"-4567') },
      'something happened',
    );
    logger.info({ token: 'x', headers: { 'x-berth-signature': 'sha256=abc' } }, 'fields');
    const text = lines.join('');
    expect(text).not.toContain('SECRET-');
    expect(text).not.toContain('sha256=abc');
    expect(text).toContain('saw [redacted] here');
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });
});
