import type { Logger } from '../log.js';
import { checkoutDirOf, createSource, type SourceSettings } from './registry.js';
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
  DEFAULT_SOURCE,
  SOURCE_KINDS,
  checkoutDirOf,
  sourceRootOf,
  trackedRefOf,
  watchedFolderOf,
  type SourceSettings,
} from './registry.js';
export type { TrackedRef } from './types.js';

/** What of the loaded config a source is built from (a BerthConfig's source entry has it). */
export interface SourceSetup {
  source: SourceSettings;
  /** A git source clones into dataDir/repo, or dataDir/repos/<name> (checkoutDirOf). */
  dataDir: string;
  /** The source's name; `default` when left out. */
  name?: string;
}

/** Builds the source a loaded config describes: a clone in the data dir, or the local folder. */
export function createSourceFromConfig(config: SourceSetup, logger: Logger): StackSource {
  return createSource(config.source, {
    dataDir: config.dataDir,
    checkoutDir: checkoutDirOf(config.dataDir, config.name),
    paths: config.source.paths,
    logger,
  });
}
