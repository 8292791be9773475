import { rolloutStrategy } from '../rollout/index.js';
import { observeWindow } from './window.js';

/** Seed 000's canary: batch by batch, each batch observed for a window before the next. */
export const canaryStrategy = rolloutStrategy({ method: 'canary', afterBatch: observeWindow });
