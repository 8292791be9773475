import { appendFileSync } from 'node:fs';

/**
 * Test hook for the crash-recovery tests, inert unless the environment asks for it.
 *
 * With `BERTH_FAILPOINT=<step>` (a journal step name such as `apply`, or `<stack>:<step>`),
 * the process stops for good right after journaling that step: it writes the line
 * `berth-failpoint <stack> <step>` to the file named by `BERTH_FAILPOINT_FILE` (or to stderr)
 * and then never continues, so a test can SIGKILL it at exactly that point. A crash can
 * happen anywhere; this only makes the "anywhere" reproducible.
 */
export const FAILPOINT_ENV = 'BERTH_FAILPOINT';
export const FAILPOINT_FILE_ENV = 'BERTH_FAILPOINT_FILE';
export const FAILPOINT_MARKER = 'berth-failpoint';

export function failpointMatches(wanted: string | undefined, stack: string, step: string): boolean {
  if (wanted === undefined || wanted === '') return false;
  return wanted === step || wanted === `${stack}:${step}`;
}

/** Blocks forever after a journaled step when the failpoint names it; resolves at once otherwise. */
export async function failpoint(stack: string, step: string): Promise<void> {
  if (!failpointMatches(process.env[FAILPOINT_ENV], stack, step)) return;
  const line = `${FAILPOINT_MARKER} ${stack} ${step}\n`;
  const file = process.env[FAILPOINT_FILE_ENV];
  if (file !== undefined && file !== '') appendFileSync(file, line);
  else process.stderr.write(line);
  // A pending promise alone lets Node exit; the timer keeps the process alive until killed.
  await new Promise<never>(() => {
    setInterval(() => undefined, 1 << 30);
  });
}
