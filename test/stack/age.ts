import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** An age key made by the real `age-keygen`: its keys.txt file and its public recipient. */
export interface AgeKey {
  /** keys.txt as age-keygen wrote it (comments and the AGE-SECRET-KEY-1 line). */
  file: string;
  /** The AGE-SECRET-KEY-1… line alone. */
  secret: string;
  recipient: string;
}

/** Makes a fresh key with `age-keygen` into `dir`. */
export function ageKeygen(dir: string, name = 'keys.txt'): AgeKey {
  const file = path.join(dir, name);
  execFileSync('age-keygen', ['-o', file], { stdio: ['ignore', 'ignore', 'ignore'] });
  const secret = readFileSync(file, 'utf8')
    .split('\n')
    .find((line) => line.startsWith('AGE-SECRET-KEY-1'));
  if (secret === undefined) throw new Error(`age-keygen wrote no key to ${file}`);
  const recipient = execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' }).trim();
  return { file, secret, recipient };
}

/** Encrypts `plaintext` with the real `age` CLI for the recipients; armored or binary. */
export function ageEncrypt(
  plaintext: string | Uint8Array,
  recipients: readonly string[],
  options: { armor?: boolean } = {},
): Buffer {
  const scratch = mkdtempSync(path.join(tmpdir(), 'berth-age-'));
  try {
    const input = path.join(scratch, 'in');
    const output = path.join(scratch, 'out');
    writeFileSync(input, plaintext);
    const args = [...(options.armor === true ? ['-a'] : [])];
    for (const recipient of recipients) args.push('-r', recipient);
    execFileSync('age', [...args, '-o', output, input]);
    return readFileSync(output);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
