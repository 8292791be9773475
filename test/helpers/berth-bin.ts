import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * berth's CLI compiled to JavaScript and run with plain node, as users run it. Tests and
 * benches that start the CLI as a process use this instead of tsx: a tsx start costs about
 * 1 s of CPU more, and the crash tests start the CLI twice a case.
 */

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The bin (package.json `bin`): what `npm run build` writes and users run. */
const MAIN = path.join(ROOT, 'dist', 'cli', 'main.js');

/** Compiles src/ as `npm run build` does (tsconfig.build.json into dist/). */
function buildBerth(): void {
  execFileSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      path.join(ROOT, 'tsconfig.build.json'),
    ],
    { cwd: ROOT, stdio: 'inherit' },
  );
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** Builds dist/ unless it is newer than every file of src/ and the tsconfigs. */
export function ensureBerthBuilt(): void {
  let built = 0;
  try {
    built = statSync(MAIN).mtimeMs;
  } catch {
    // Not built yet.
  }
  const sources = Math.max(
    newestMtime(path.join(ROOT, 'src')),
    statSync(path.join(ROOT, 'tsconfig.json')).mtimeMs,
    statSync(path.join(ROOT, 'tsconfig.build.json')).mtimeMs,
  );
  if (built <= sources) buildBerth();
}

/** Node flags from a `#!/usr/bin/env -S node --flag …` first line. */
function shebangFlags(file: string): string[] {
  const first = readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!.*\bnode((?:\s+--[\w-]+(?:=\S+)?)*)\s*$/.exec(first);
  return match?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
}

/** The command and arguments that run `berth ...args` from dist/ (see ensureBerthBuilt). */
export function berthCommand(args: string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: [...shebangFlags(MAIN), MAIN, ...args] };
}
