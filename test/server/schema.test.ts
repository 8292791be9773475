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

describe('ServerConfig', () => {
  it('fills defaults', () => {
    expect(ServerConfig.parse({})).toEqual({ listen: '127.0.0.1:7070', tokens: [], webhooks: {} });
  });

  it('accepts tokens and webhook secrets inline or from files', () => {
    const config = ServerConfig.parse({
      listen: '0.0.0.0:9000',
      tokens: [
        { name: 'ci', token: 'abc' },
        { name: 'ops', tokenFile: '/run/secrets/ops' },
      ],
      webhooks: { github: { secret: 's' }, generic: { secretFile: 'gen.txt' } },
    });
    expect(config.tokens).toHaveLength(2);
    expect(config.webhooks.generic).toEqual({ secretFile: 'gen.txt' });
  });

  it('rejects unknown keys, both or neither of token and tokenFile, duplicate names, bad listen', () => {
    const bad = [
      { port: 1 },
      { listen: 'nope' },
      { tokens: [{ name: 'ci' }] },
      { tokens: [{ name: 'ci', token: 'a', tokenFile: 'b' }] },
      { tokens: [{ name: 'ci', token: 'a', extra: 1 }] },
      { tokens: [{ name: 'bad name', token: 'a' }] },
      {
        tokens: [
          { name: 'ci', token: 'a' },
          { name: 'ci', token: 'b' },
        ],
      },
      { webhooks: { github: {} } },
      { webhooks: { bitbucket: { secret: 'x' } } },
      { webhooks: { gitlab: { secret: '' } } },
    ];
    for (const input of bad) {
      expect(ServerConfig.safeParse(input).success, JSON.stringify(input)).toBe(false);
    }
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
    await writeFile(join(dir, 'gh.secret'), 'gh-secret-value\r\n');
    const config = ServerConfig.parse({
      listen: '127.0.0.1:1',
      tokens: [
        { name: 'ci', token: 'inline' },
        { name: 'ops', tokenFile: 'ops.token' },
      ],
      webhooks: { github: { secretFile: join(dir, 'gh.secret') }, gitlab: { secret: 'gl' } },
    });
    expect(await resolveServerSecrets(config, { baseDir: dir })).toEqual({
      listen: '127.0.0.1:1',
      tokens: [
        { name: 'ci', token: 'inline' },
        { name: 'ops', token: 'ops-secret-value' },
      ],
      webhooks: { github: { secret: 'gh-secret-value' }, gitlab: { secret: 'gl' } },
    });
  });

  it('fails with a ConfigError naming the field for a missing or empty file', async () => {
    const missing = ServerConfig.parse({ tokens: [{ name: 'ops', tokenFile: 'absent' }] });
    const err = await resolveServerSecrets(missing, { baseDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]).toContain('server.tokens.0.tokenFile');

    await writeFile(join(dir, 'empty'), '\n');
    const empty = ServerConfig.parse({ webhooks: { gitea: { secretFile: 'empty' } } });
    const err2 = await resolveServerSecrets(empty, { baseDir: dir }).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(ConfigError);
    expect((err2 as ConfigError).problems[0]).toContain('server.webhooks.gitea.secretFile');
  });
});
