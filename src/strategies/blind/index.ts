import { runSimple } from '../simple/run.js';
import type { Strategy } from '../types.js';

/** Seed 002's `blind`: replace and apply, no health gate, no rollback. */
export const blindStrategy: Strategy<'blind'> = {
  method: 'blind',
  run: (ctx) => runSimple(ctx, { checkHealth: false }),
};
