import type { Logger } from '../log.js';
import { createSource, type SourceSettings } from './registry.js';
import type { StackSource } from './types.js';

export {
  createGitSource,
  classifyGitFailure,
  pickNewestTag,
  parseLsRemoteTags,
  repoDir,
  type GitAuthOptions,
  type GitSourceOptions,
  type RemoteTag,
} from './git/index.js';
export { createLocalSource, LOCAL_REF, type LocalSourceOptions } from './local/index.js';
export {
  SOURCE_KINDS,
  sourceRootOf,
  trackedRefOf,
  watchedFolderOf,
  type SourceSettings,
} from './registry.js';
export type { TrackedRef } from './types.js';

/** What of the loaded config a source is built from (BerthConfig has it). */
export interface SourceSetup {
  source: SourceSettings;
  /** A git source clones into dataDir/repo. */
  dataDir: string;
}

/** Builds the source a loaded config describes: a clone in dataDir/repo, or the local folder. */
export function createSourceFromConfig(config: SourceSetup, logger: Logger): StackSource {
  return createSource(config.source, {
    dataDir: config.dataDir,
    paths: config.source.paths,
    logger,
  });
}
