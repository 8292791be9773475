import path from 'node:path';
import type { SourceKind } from '../types.js';
import { createGitSource } from './git-source.js';
import { checkGitConfig, normalizeGitConfig, GitConfig, type GitSettings } from './settings.js';

export { createGitSource, classifyGitFailure, type GitSourceOptions } from './git-source.js';
export { type GitAuthOptions } from './git-env.js';
export { pickNewestTag, parseLsRemoteTags, type RemoteTag } from './tags.js';
export { DEFAULT_TOKEN_USERNAME, GitConfig, type GitAuth, type GitSettings } from './settings.js';

/** The checkout of the `default` git source inside the data dir (checkoutDirOf has the others'). */
export function repoDir(dataDir: string): string {
  return path.join(dataDir, 'repo');
}

/** `source.git`: a clone in its checkout folder that follows a branch or the newest matching tag. */
export const gitSource: SourceKind<'git', 'git', GitConfig, GitSettings> = {
  kind: 'git',
  configKey: 'git',
  schema: GitConfig,
  check: checkGitConfig,
  normalize: normalizeGitConfig,
  create: (settings, { dataDir, checkoutDir, logger }) =>
    createGitSource({
      ...settings,
      dir: checkoutDir,
      defaultKnownHostsFile: path.join(dataDir, 'known_hosts'),
      logger,
    }),
  root: (_settings, checkoutDir) => checkoutDir,
  tracked: (settings) =>
    settings.tag === undefined ? { branch: settings.branch ?? 'main' } : { tag: settings.tag },
  env: {
    aliases: {
      BERTH_GIT_URL: ['url'],
      BERTH_GIT_BRANCH: ['branch'],
      BERTH_GIT_TAG: ['tag'],
      BERTH_GIT_TOKEN: ['auth', 'token'],
      BERTH_GIT_TOKEN_FILE: ['auth', 'tokenFile'],
      BERTH_GIT_SSH_KEY_FILE: ['auth', 'sshKeyFile'],
    },
    // A url is what a git source cannot do without; branch or auth alone switch nothing.
    selects: ['url'],
    exclusive: [
      { when: ['branch'], drop: ['tag'] },
      { when: ['tag'], drop: ['branch'] },
      { when: ['auth', 'token'], drop: ['auth', 'tokenFile'] },
      { when: ['auth', 'tokenFile'], drop: ['auth', 'token'] },
    ],
  },
};
