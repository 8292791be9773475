import path from 'node:path';
import type { BerthConfig } from '../config/load.js';
import type { Logger } from '../log.js';
import { createGitSource } from './git-source.js';
import { createLocalSource } from './local-source.js';
import type { StackSource } from './types.js';

export { createGitSource, classifyGitFailure, type GitSourceOptions } from './git-source.js';
export { createLocalSource, LOCAL_REF, type LocalSourceOptions } from './local-source.js';
export { type GitAuthOptions } from './git-env.js';
export { pickNewestTag, parseLsRemoteTags, type RemoteTag } from './tags.js';

/** The checkout of a git source inside the data dir. */
export function repoDir(dataDir: string): string {
  return path.join(dataDir, 'repo');
}

/** Builds the source a loaded config describes: a clone in dataDir/repo, or the local folder. */
export function createSourceFromConfig(config: BerthConfig, logger: Logger): StackSource {
  const { source } = config;
  if (source.kind === 'local') return createLocalSource({ path: source.path, paths: source.paths });
  return createGitSource({
    ...source.git,
    dir: repoDir(config.dataDir),
    defaultKnownHostsFile: path.join(config.dataDir, 'known_hosts'),
    logger,
  });
}
