import { findComposeFile } from '../compose/load.js';
import type { Logger } from '../log.js';
import { defaultSettings, readDeploySettings } from '../stack/settings.js';
import type { DeploySettings, SettingsDefaults } from '../stack/types.js';
import { methodNames } from '../strategies/index.js';

/**
 * The deploy settings of a version from its own files (a good_stacks or running_stacks copy),
 * merged over the defaults; the defaults alone when the files hold none or cannot be read, so
 * going back to a known version never fails on its settings.
 */
export async function settingsOfFiles(
  dir: string,
  defaults: SettingsDefaults,
  logger: Logger,
): Promise<DeploySettings> {
  try {
    return await readDeploySettings(dir, await findComposeFile(dir), defaults, methodNames());
  } catch (err) {
    logger.warn({ dir, err }, 'deploy settings unreadable; using the defaults');
  }
  return defaultSettings(defaults);
}
