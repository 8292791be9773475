import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseListen, resolveServerSecrets, ServerConfig } from '../../src/server/schema.js';

describe('parseListen', () => {
  it('parses host:port and [ipv6]:port', () => {
    expect(parseListen('127.0.0.1:7070')).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(parseListen('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(parseListen('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
  });

  it('rejects anything else', () => {
    for (const text of [
      '7070',
      ':7070',
      '127.0.0.1',
      '127.0.0.1:70000',
      '::1:80',
      'a b:1',
      'host:x',
    ]) {
      expect(parseListen(text), text).toBeUndefined();
    }
  });
});

const LONG = 'secret-0123456789abcdef';

describe('ServerConfig', () => {
  it('fills defaults', () => {
    expect(ServerConfig.parse({})).toEqual({ listen: '127.0.0.1:7070', tokens: [], webhooks: {} });
  });

  it('accepts tokens and webhook secrets inline or from files', () => {
    const config = ServerConfig.parse({
      listen: '0.0.0.0:9000',
      tokens: [
        { name: 'ci', token: 'ci-token-0123456789' },
        { name: 'ops', tokenFile: '/run/secrets/ops' },
      ],
      webhooks: { github: { secret: 'gh-secret-0123456789' }, generic: { secretFile: 'gen.txt' } },
    });
    expect(config.tokens).toHaveLength(2);
    expect(config.webhooks.generic).toEqual({ secretFile: 'gen.txt' });
  });

  it('rejects unknown keys, both or neither of token and tokenFile, duplicate names, bad listen', () => {
    const bad = [
      { port: 1 },
      { listen: 'nope' },
      { tokens: [{ name: 'ci' }] },
      { tokens: [{ name: 'ci', token: LONG, tokenFile: 'b' }] },
      { tokens: [{ name: 'ci', token: LONG, extra: 1 }] },
      { tokens: [{ name: 'bad name', token: LONG }] },
      {
        tokens: [
          { name: 'ci', token: LONG },
          { name: 'ci', token: `${LONG}-2` },
        ],
      },
      { webhooks: { github: {} } },
      { webhooks: { bitbucket: { secret: LONG } } },
      { webhooks: { gitlab: { secret: '' } } },
    ];
    for (const input of bad) {
      expect(ServerConfig.safeParse(input).success, JSON.stringify(input)).toBe(false);
    }
  });

  it('refuses tokens and webhook secrets shorter than 16 characters, naming the key', () => {
    const result = ServerConfig.safeParse({
      tokens: [
        { name: 'ci', token: '0123456789abcdef' },
        { name: 'ops', token: '0123456789abcde' },
      ],
      webhooks: { github: { secret: 'short' }, gitea: { secret: 'x'.repeat(16) } },
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['tokens.1.token', 'must be at least 16 characters'],
      ['webhooks.github.secret', 'must be at least 16 characters'],
    ]);
  });
});

describe('resolveServerSecrets', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-server-schema-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads …File keys relative to baseDir and drops the trailing newline', async () => {
    await writeFile(join(dir, 'ops.token'), 'ops-secret-value\n');
    await writeFile(join(dir, 'gh.secret'), 'gh-secret-value-0\r\n');
    const config = ServerConfig.parse({
      listen: '127.0.0.1:1',
      tokens: [
        { name: 'ci', token: 'inline-token-value' },
        { name: 'ops', tokenFile: 'ops.token' },
      ],
      webhooks: {
        github: { secretFile: join(dir, 'gh.secret') },
        gitlab: { secret: 'gl-secret-0123456789' },
      },
    });
    expect(await resolveServerSecrets(config, { baseDir: dir })).toEqual({
      listen: '127.0.0.1:1',
      tokens: [
        { name: 'ci', token: 'inline-token-value' },
        { name: 'ops', token: 'ops-secret-value' },
      ],
      webhooks: {
        github: { secret: 'gh-secret-value-0' },
        gitlab: { secret: 'gl-secret-0123456789' },
      },
    });
  });

  it('fails with a ConfigError naming the field for a missing or empty file', async () => {
    const missing = ServerConfig.parse({ tokens: [{ name: 'ops', tokenFile: 'absent' }] });
    const err = await resolveServerSecrets(missing, { baseDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]).toContain('server.tokens[0].tokenFile');

    await writeFile(join(dir, 'empty'), '\n');
    const empty = ServerConfig.parse({ webhooks: { gitea: { secretFile: 'empty' } } });
    const err2 = await resolveServerSecrets(empty, { baseDir: dir }).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(ConfigError);
    expect((err2 as ConfigError).problems[0]).toContain('server.webhooks.gitea.secretFile');
  });

  it('refuses a secret read from a file when it is shorter than 16 characters', async () => {
    await writeFile(join(dir, 'short'), 'fifteen-chars-x\n');
    const short = ServerConfig.parse({ webhooks: { generic: { secretFile: 'short' } } });
    const err = await resolveServerSecrets(short, { baseDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      `server.webhooks.generic.secretFile: the secret in ${join(dir, 'short')} must be at least 16 characters`,
    ]);
    expect((err as ConfigError).message).not.toContain('fifteen-chars-x');

    await writeFile(join(dir, 'tok'), 'abc');
    const token = ServerConfig.parse({ tokens: [{ name: 'ci', tokenFile: 'tok' }] });
    const err2 = await resolveServerSecrets(token, { baseDir: dir }).catch((e: unknown) => e);
    expect((err2 as ConfigError).problems).toEqual([
      `server.tokens[0].tokenFile: the secret in ${join(dir, 'tok')} must be at least 16 characters`,
    ]);
  });
});
