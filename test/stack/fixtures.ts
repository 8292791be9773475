import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { SettingsDefaults } from '../../src/stack/types.js';

export const DEFAULTS: SettingsDefaults = {
  deploy: true,
  method: 'simple',
  healthTimeoutMs: 60_000,
  stabilityMs: 5_000,
  markBad: true,
  redeployGood: true,
  hooks: { timeoutMs: 300_000 },
  updates: { images: false },
};

export const COMPOSE = 'services:\n  web:\n    image: berth-fixture/busybox:latest\n';

export async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'berth-stack-'));
}

/** Writes `files` (relative path -> content) under root. */
export async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}
