import { execFileSync } from 'node:child_process';

/** A fresh X25519 key from the real age-keygen: its keys.txt text and its recipient. */
export function ageKeygen(): { text: string; recipient: string; secret: string } {
  const text = execFileSync('age-keygen', {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const recipient = /# public key: (age1\S+)/.exec(text)?.[1] ?? '';
  const secret = /^(AGE-SECRET-KEY-1\S+)$/m.exec(text)?.[1] ?? '';
  return { text, recipient, secret };
}
