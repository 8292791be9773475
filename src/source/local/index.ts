import { z } from 'zod';
import { notAFolder } from '../config-files.js';
import type { SourceKind } from '../types.js';
import { createLocalSource } from './local-source.js';

export { createLocalSource, LOCAL_REF, type LocalSourceOptions } from './local-source.js';

/** `source.path`: a folder on this host, used in place. Its settings are the absolute path. */
export const localSource: SourceKind<'local', 'path', string, string> = {
  kind: 'local',
  configKey: 'path',
  schema: z.string().min(1),
  async check(raw, context) {
    if (typeof raw !== 'string' || raw === '') return [];
    const problem = await notAFolder(context.resolvePath([], raw));
    return problem === undefined ? [] : [{ path: [], message: problem }];
  },
  normalize: (value, context) => Promise.resolve(context.resolvePath([], value)),
  create: (folder, { paths }) => createLocalSource({ path: folder, paths }),
  root: (folder) => folder,
  watchedFolder: (folder) => folder,
  env: { aliases: { BERTH_SOURCE_PATH: [] }, selects: [] },
};
