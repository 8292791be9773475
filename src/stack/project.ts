import { loadProject } from '../compose/load.js';
import type { LoadResult } from '../compose/types.js';

/**
 * Loads a stack's compose project the one way berth does everywhere (validate, plan, prepare,
 * deploy, recovery, diff), so what is checked is what is deployed. `file` picks a compose
 * file other than the one found by name.
 */
export type StackLoader = (dir: string, stack: string, file?: string) => Promise<LoadResult>;

export interface StackLoaderOptions {
  /**
   * What `${VAR}` interpolation may read besides the stack's own `.env`: the process
   * environment without berth's own secrets (see interpolationEnv in src/config/).
   */
  env: Readonly<Record<string, string | undefined>>;
}

export function createStackLoader(options: StackLoaderOptions): StackLoader {
  const env = { ...options.env };
  return (dir, stack, file) =>
    loadProject(dir, { projectName: stack, env, ...(file === undefined ? {} : { file }) });
}
