import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ENV_ALIASES } from '../../src/config/env.js';
import { SourceConfig } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { createSourceFromConfig, repoDir } from '../../src/source/index.js';
import { SOURCE_KINDS } from '../../src/source/registry.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-registry-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('source kinds as plugins', () => {
  it('give the config its source keys and env short names', () => {
    const keys = Object.keys(SourceConfig.shape).sort();
    expect(keys).toEqual([...SOURCE_KINDS.map((k) => k.configKey), 'paths'].sort());
    for (const kind of SOURCE_KINDS) {
      for (const [name, keys] of Object.entries(kind.env?.aliases ?? {}))
        expect(ENV_ALIASES[name]).toEqual(['source', kind.configKey, ...keys]);
    }
  });

  it('have distinct kinds and keys', () => {
    expect(new Set(SOURCE_KINDS.map((k) => k.kind)).size).toBe(SOURCE_KINDS.length);
    expect(new Set(SOURCE_KINDS.map((k) => k.configKey)).size).toBe(SOURCE_KINDS.length);
  });

  it('build the source the loaded settings describe', async () => {
    const local = createSourceFromConfig(
      { source: { kind: 'local', path: dir, paths: ['*'] }, dataDir: path.join(dir, 'data') },
      silentLogger(),
    );
    expect(await local.sync()).toMatchObject({ ref: 'local', dir });

    const dataDir = path.join(dir, 'data');
    const git = createSourceFromConfig(
      {
        source: { kind: 'git', git: { url: 'file:///nowhere.git', depth: 1 }, paths: ['*'] },
        dataDir,
      },
      silentLogger(),
    );
    // Nothing cloned yet into dataDir/repo: nothing to report, and no network asked.
    expect(repoDir(dataDir)).toBe(path.join(dataDir, 'repo'));
    expect(await git.current()).toBeUndefined();
  });
});
