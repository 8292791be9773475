import path from 'node:path';
import { resolveNotifySecrets } from '../notify/schema.js';
import { resolveServerSecrets } from '../server/schema.js';
import { ENV_PREFIX } from './env.js';
import type { BerthConfig } from './load.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Variables berth reads that are not `BERTH_*`: the Docker client's key folder and the ssh
 * agent git may use. Either would hand a repository berth's own credentials as a bind mount.
 */
const BERTH_READS = new Set(['DOCKER_CERT_PATH', 'SSH_AUTH_SOCK']);

/**
 * A secret shorter than this is only withheld where a variable equals it: looking for it
 * inside values would drop ordinary variables that happen to contain a few common letters.
 */
const MIN_CONTAINED = 8;

/** What berth holds that compose interpolation must never see. */
export interface BerthSecrets {
  /** Secret values: tokens, webhook secrets, notification URLs and header values. */
  values: readonly string[];
  /** Absolute paths of the files secrets are read from. */
  files: readonly string[];
}

/**
 * Every secret the config holds or names, with the `…File` keys read (throws the ConfigError
 * of a file that cannot be read, as the daemon would on start).
 */
export async function berthSecrets(config: BerthConfig): Promise<BerthSecrets> {
  const baseDir = config.file === undefined ? undefined : path.dirname(config.file);
  const resolvePath = (file: string): string => path.resolve(baseDir ?? process.cwd(), file);
  const values: string[] = [];
  const files: string[] = [];
  if (config.source.kind === 'git') {
    const auth = config.source.git.auth;
    if (auth?.token !== undefined) values.push(auth.token, encodeURIComponent(auth.token));
    if (auth?.sshKeyFile !== undefined) files.push(auth.sshKeyFile);
  }
  if (config.server !== undefined) {
    const server = await resolveServerSecrets(config.server, { baseDir, file: config.file });
    values.push(...server.tokens.map((t) => t.token));
    values.push(...Object.values(server.webhooks).map((w) => w.secret));
    for (const entry of config.server.tokens)
      if (entry.tokenFile !== undefined) files.push(resolvePath(entry.tokenFile));
    for (const entry of Object.values(config.server.webhooks))
      if (entry?.secretFile !== undefined) files.push(resolvePath(entry.secretFile));
  }
  const notify = await resolveNotifySecrets(config.notify ?? [], { baseDir, file: config.file });
  for (const target of notify) {
    values.push(target.url, ...Object.values(target.headers ?? {}));
    if (target.type === 'ntfy' && target.token !== undefined) values.push(target.token);
  }
  for (const target of config.notify ?? [])
    if (target.type === 'ntfy' && target.tokenFile !== undefined)
      files.push(resolvePath(target.tokenFile));
  return { values: values.filter((v) => v !== ''), files };
}

/**
 * `env` without berth's own variables (`BERTH_*` and those in BERTH_READS), without any
 * variable that holds one of `secrets` (under whatever name) and without any that names a
 * secret's file.
 */
export function withoutBerthSecrets(
  env: Env,
  secrets: BerthSecrets = { values: [], files: [] },
): Record<string, string | undefined> {
  const exact = new Set(secrets.values);
  const contained = secrets.values.filter((v) => v.length >= MIN_CONTAINED);
  const files = new Set(secrets.files.map((f) => path.resolve(f)));
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith(ENV_PREFIX) || BERTH_READS.has(key)) continue;
    if (value !== undefined && value !== '') {
      if (exact.has(value) || contained.some((secret) => value.includes(secret))) continue;
      if (path.isAbsolute(value) && files.has(path.resolve(value))) continue;
    }
    out[key] = value;
  }
  return out;
}

/**
 * The environment compose interpolation (`${VAR}`, and bare `KEY` entries of `environment:`)
 * may read: berth's process environment without berth's own variables and secrets, so a
 * repository cannot copy berth's credentials into a container with `LEAK: ${BERTH_GIT_TOKEN}`
 * or through an innocent-looking name that carries the same value. Without a config, only the
 * names are withheld.
 */
export async function interpolationEnv(
  config?: BerthConfig,
  env: Env = process.env,
): Promise<Record<string, string | undefined>> {
  return withoutBerthSecrets(env, config === undefined ? undefined : await berthSecrets(config));
}
