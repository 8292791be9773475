import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { NotifyConfig, resolveNotifySecrets } from '../../src/notify/schema.js';

describe('resolveNotifySecrets', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-notify-schema-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces an ntfy tokenFile with the token and leaves other targets alone', async () => {
    await writeFile(join(dir, 'ntfy.token'), 'tk_from_file\n');
    const config = NotifyConfig.parse([
      { type: 'slack', url: 'https://hooks.example.org/x' },
      { type: 'ntfy', url: 'https://ntfy.example.org', topic: 'ops', tokenFile: 'ntfy.token' },
    ]);
    const resolved = await resolveNotifySecrets(config, { baseDir: dir });
    expect(resolved[0]).toEqual(config[0]);
    expect(resolved[1]).toEqual({
      type: 'ntfy',
      url: 'https://ntfy.example.org',
      topic: 'ops',
      token: 'tk_from_file',
    });
  });

  it('names the field when the file is missing', async () => {
    const config = NotifyConfig.parse([
      { type: 'ntfy', url: 'https://ntfy.example.org', topic: 'ops', tokenFile: 'absent' },
    ]);
    const err = await resolveNotifySecrets(config, { baseDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems[0]).toContain('notify[0].tokenFile');
  });
});
