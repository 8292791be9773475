import { runSimple } from './simple.js';
import type { Strategy } from './types.js';

/** Seed 002's `blind`: replace and apply, no health gate, no rollback. */
export const blindStrategy: Strategy = {
  method: 'blind',
  run: (ctx) => runSimple(ctx, { checkHealth: false }),
};
