import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import { loadConfig, type LoadConfigOptions } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

/** A fresh folder per test (with an empty `stacks/`) to write config files into. */
export interface ConfigDir {
  /** The folder of the running test. */
  readonly path: string;
  /** Writes `text` to `name` inside the folder and returns the file's path. */
  write: (name: string, text: string) => string;
  /** The problems loadConfig reports (it must fail with a ConfigError). */
  problems: (options: LoadConfigOptions) => Promise<string[]>;
}

export function useConfigDir(prefix: string): ConfigDir {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), prefix));
    mkdirSync(path.join(dir, 'stacks'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get path() {
      return dir;
    },
    write: (name, text) => {
      const file = path.join(dir, name);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, text);
      return file;
    },
    problems: async (options) => {
      const err = await loadConfig({ cwd: dir, env: {}, ...options }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    },
  };
}
