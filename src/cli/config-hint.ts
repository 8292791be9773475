import path from 'node:path';
import { DEFAULT_CONFIG_FILE } from '../config/index.js';
import { ConfigError } from '../errors.js';
import { UsageError } from './exit-codes.js';

/** What the config loader says when no file was found and the environment sets no source. */
const NO_SOURCE = 'env: source: required';

export interface ConfigLookup {
  /** `--config`, when given. */
  config?: string;
  env: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * A config error that only says there is no configuration, rephrased for a person: where berth
 * looked and how to write one (exit 2 still). Other errors pass unchanged.
 */
export function explainConfigError(err: unknown, lookup: ConfigLookup): unknown {
  if (!(err instanceof ConfigError)) return err;
  const cwd = lookup.cwd ?? process.cwd();
  if (err.place.file === undefined) {
    if (!err.problems.includes(NO_SOURCE)) return err;
    const others = err.problems.filter((p) => p !== NO_SOURCE);
    const also = others.length === 0 ? '' : ` (the environment also has: ${others.join('; ')})`;
    return new UsageError(
      `no configuration found: berth reads --config FILE, else $BERTH_CONFIG, else ` +
        `${path.join(cwd, DEFAULT_CONFIG_FILE)}; none is given or exists, and the environment ` +
        `sets no source (BERTH_GIT_URL or BERTH_SOURCE_PATH)${also}. Run berth init to write ` +
        `${DEFAULT_CONFIG_FILE} here (berth init --git URL for a remote repository)`,
    );
  }
  // A file that is not there is the whole story: "source: required" and the like follow from it.
  const missing = `${err.place.file}: cannot read the config file (ENOENT)`;
  if (!err.problems.includes(missing)) return err;
  const by = lookup.config !== undefined ? '--config' : '$BERTH_CONFIG';
  return new UsageError(
    `no configuration found: ${err.place.file} (named by ${by}) does not exist. ` +
      `Run berth init --config ${err.place.file} to write one`,
  );
}
