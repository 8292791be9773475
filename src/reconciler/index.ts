export { createReconciler } from './reconciler.js';
export type * from './types.js';
