import { ensureBerthBuilt } from './berth-bin.js';

/** Tests that run the CLI as a process run the compiled one; compile it once per run. */
export function setup(): void {
  ensureBerthBuilt();
}
