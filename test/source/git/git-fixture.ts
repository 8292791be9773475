import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../../src/log.js';

/** Runs git with a fixed identity and no user config, returning stdout. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'Test',
      GIT_AUTHOR_EMAIL: 'test@example.org',
      GIT_COMMITTER_NAME: 'Test',
      GIT_COMMITTER_EMAIL: 'test@example.org',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

export interface Fixture {
  root: string;
  /** The bare repository berth clones. */
  bare: string;
  /** A working clone tests commit in and push from. */
  work: string;
  url: string;
  /** dataDir/repo for the source under test. */
  checkout: string;
  cleanup(): void;
}

/** A bare repo with one commit on main (stacks/web/compose.yaml) and a working clone. */
export function createFixture(prefix = 'berth-src-'): Fixture {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  const bare = path.join(root, 'remote.git');
  const work = path.join(root, 'work');
  git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  git(root, 'init', '--quiet', '--initial-branch=main', work);
  git(work, 'remote', 'add', 'origin', bare);
  commit(work, { 'stacks/web/compose.yaml': 'services: {web: {image: x}}\n' }, 'first');
  git(work, 'push', '--quiet', 'origin', 'main');
  return {
    root,
    bare,
    work,
    url: `file://${bare}`,
    checkout: path.join(root, 'data', 'repo'),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Writes (string) or deletes (null) files and commits them; returns the new commit. */
export function commit(
  work: string,
  files: Record<string, string | null>,
  message: string,
): string {
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(work, rel);
    if (content === null) rmSync(full, { force: true });
    else {
      mkdirSync(path.dirname(full), { recursive: true });
      writeFileSync(full, content);
    }
  }
  git(work, 'add', '--all');
  git(work, 'commit', '--quiet', '--allow-empty', '-m', message);
  return git(work, 'rev-parse', 'HEAD');
}

/** A logger whose output the test can read back. */
export function capturingLogger(): { logger: Logger; output: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ level: 'trace', destination }), output: () => chunks.join('') };
}
