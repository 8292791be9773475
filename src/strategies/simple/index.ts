import type { Strategy } from '../types.js';
import { runSimple } from './run.js';

/** Seed 002's `simple`: stop, replace, gate on health, go back to the good version on failure. */
export const simpleStrategy: Strategy<'simple'> = {
  method: 'simple',
  run: (ctx) => runSimple(ctx, { checkHealth: true }),
};
