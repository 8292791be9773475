import { spawn } from 'node:child_process';
import { ROOT, berthCommand } from '../helpers/berth-bin.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI as a subprocess, the way a user does. */
export function runBerth(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliRun> {
  // Only the variables a test sets: a BERTH_* from the developer's shell must not leak in.
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('BERTH_') || key === 'BERTH_FIXTURE_IMAGE') env[key] = value;
  }
  return new Promise((resolve, reject) => {
    const berth = berthCommand(args);
    const child = spawn(berth.command, berth.args, {
      cwd: options.cwd ?? ROOT,
      env: { ...env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
