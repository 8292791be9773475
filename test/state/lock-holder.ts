/**
 * A second process for test/state/lock.test.ts: takes the data dir's lock, says `locked` on
 * stdout, and holds it until stdin says `release` (or it is killed).
 */
import { createInterface } from 'node:readline';
import { lockDataDir } from '../../src/state/lock.js';

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error('usage: lock-holder.ts <dataDir>');
const lock = await lockDataDir(dataDir, { role: 'daemon', command: 'daemon' }, { waitMs: 0 });
process.stdout.write('locked\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'release') {
    lock.release();
    process.stdout.write('released\n');
    break;
  }
}
