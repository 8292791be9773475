import { rolloutStrategy } from '../rollout/index.js';

/** Seed 000's blue-green: every changed service's new containers at once, beside the old ones. */
export const blueGreenStrategy = rolloutStrategy({ method: 'blue-green' });
