import { execFile } from 'node:child_process';

/** What a git process that failed left: its stderr (or the spawn error's message). */
export class GitProcessError extends Error {
  override readonly name = 'GitProcessError';
}

/** Bigger than any listing berth asks for (ls-remote of a repository with many tags). */
const MAX_OUTPUT = 64 * 1024 * 1024;

/**
 * Runs one git process with exactly `env` and returns its stdout. berth calls git directly:
 * simple-git waited a further 50 ms after any command that printed nothing (a no-op fetch,
 * checkout, clean), which was most of a no-op sync's time.
 */
export function runGit(
  cwd: string,
  args: string[],
  env: Record<string, string>,
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      { cwd, env, encoding: 'utf8', maxBuffer: MAX_OUTPUT, ...(signal ? { signal } : {}) },
      (err, stdout, stderr) => {
        if (err === null) resolve(stdout);
        else reject(new GitProcessError(stderr.trim() === '' ? err.message : stderr.trim()));
      },
    );
  });
}
