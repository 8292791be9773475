import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { resolveNotifySecrets, type NotifyConfig } from '../notify/schema.js';
import type { RegistryLogin } from '../engine/registry-credentials.js';
import { ConfigError } from '../errors.js';
import { readSecretFile, settleSecretReads } from '../secret-file.js';
import { loadIdentities, type AgeIdentity } from '../secrets/index.js';
import { resolveServerSecrets, type ResolvedServerConfig } from '../server/schema.js';
import { ENV_PREFIX } from './env.js';
import type { BerthConfig } from './load.js';
import type { RegistryConfig } from './schema.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Variables berth reads that are not `BERTH_*`: the Docker client's key folder and the ssh
 * agent git may use. Either would hand a repository berth's own credentials as a bind mount.
 */
const BERTH_READS = new Set([
  'DOCKER_CERT_PATH',
  'SSH_AUTH_SOCK',
  // SOPS's own places for age keys, which berth reads (`secrets.age.sopsDefaults`).
  'SOPS_AGE_KEY',
  'SOPS_AGE_KEY_FILE',
]);

/** An age private key wherever it appears: key files, SOPS_AGE_KEY, inline keys. */
const AGE_SECRET_KEY = /AGE-SECRET-KEY-1[0-9A-Z]+/gi;

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

/** Every secret of the config, read once: for the app, the logs and interpolation alike. */
export interface ConfigSecrets extends BerthSecrets {
  /** The server section with its `…File` keys read. */
  server: ResolvedServerConfig | undefined;
  /** The notification targets with their `…File` keys read. */
  notify: NotifyConfig;
  /** The age identities that open the stacks' encrypted files (`secrets.age`). */
  identities: readonly AgeIdentity[];
  /** berth's registry logins (`registries`) with their `passwordFile`s read. */
  registries: readonly RegistryLogin[];
}

/**
 * Reads every `…File` key of the config once. Throws one ConfigError listing every file that
 * cannot be used, as the daemon would refuse to start over it (and `berth validate` says).
 */
export async function readConfigSecrets(
  config: BerthConfig,
  env: Env = process.env,
): Promise<ConfigSecrets> {
  const baseDir = config.file === undefined ? undefined : path.dirname(config.file);
  const options = { baseDir, file: config.file };
  const server =
    config.server === undefined
      ? Promise.resolve(undefined)
      : resolveServerSecrets(config.server, options);
  const notify = resolveNotifySecrets(config.notify ?? [], options);
  const identities = ageIdentitiesOf(config, env);
  const registries = registryLogins(config.registries ?? [], options);
  // Each problem names the file, as the config loader's own problems do.
  await settleSecretReads<unknown>(
    [server, notify, identities, registries],
    config.file,
    config.file ?? 'env',
  );
  const secrets = secretsOf(config, await server, await notify, await identities);
  const logins = await registries;
  const keys = await ageKeyMaterial(config, env);
  return {
    ...secrets,
    registries: logins,
    values: [...secrets.values, ...logins.map((login) => login.password), ...keys],
    files: [...secrets.files, ...registryPasswordFiles(config, baseDir)],
  };
}

/** The registry logins with their passwords: inline, or read from `passwordFile`. */
async function registryLogins(
  entries: readonly RegistryConfig[],
  options: { baseDir: string | undefined; file: string | undefined },
): Promise<RegistryLogin[]> {
  return settleSecretReads(
    entries.map(async (entry, i) => ({
      server: entry.server,
      username: entry.username,
      password:
        entry.passwordFile === undefined
          ? (entry.password ?? '')
          : await readSecretFile(entry.passwordFile, `registries[${i}].passwordFile`, options),
    })),
    options.file,
  );
}

function registryPasswordFiles(config: BerthConfig, baseDir?: string): string[] {
  return (config.registries ?? []).flatMap((entry) =>
    entry.passwordFile === undefined
      ? []
      : [path.resolve(baseDir ?? process.cwd(), entry.passwordFile)],
  );
}

/** The age settings of a config, with SOPS's defaults when the config has no `secrets`. */
function ageSettingsOf(
  config: BerthConfig | undefined,
): NonNullable<BerthConfig['secrets']>['age'] {
  return config?.secrets?.age ?? { keyFiles: [], keys: [], sopsDefaults: true };
}

/**
 * The identities for the stacks' encrypted files: `secrets.age` of the config, or SOPS's
 * defaults alone without a config (`berth validate DIR`). A key file that cannot be read is
 * the config's problem, named with its key path.
 */
export async function ageIdentitiesOf(
  config: BerthConfig | undefined,
  env: Env = process.env,
): Promise<AgeIdentity[]> {
  const age = ageSettingsOf(config);
  try {
    return await loadIdentities({
      keyFiles: age.keyFiles,
      keys: age.keys,
      env,
      useSopsDefaults: age.sopsDefaults,
    });
  } catch (err) {
    const problem = `secrets.age: ${err instanceof Error ? err.message : String(err)}`;
    throw new ConfigError(`invalid configuration: ${problem}`, [problem], {
      cause: err,
      file: config?.file,
    });
  }
}

/**
 * The private keys themselves, withheld from logs and from interpolation wherever they turn
 * up. Read here as text: the identities keep theirs out of reach. Unreadable default places
 * hold none; unreadable key files were reported by ageIdentitiesOf.
 */
async function ageKeyMaterial(config: BerthConfig, env: Env): Promise<string[]> {
  const age = ageSettingsOf(config);
  const texts = [...age.keys];
  const files = [...age.keyFiles];
  if (age.sopsDefaults) {
    if (env.SOPS_AGE_KEY !== undefined) texts.push(env.SOPS_AGE_KEY);
    if (env.SOPS_AGE_KEY_FILE !== undefined && env.SOPS_AGE_KEY_FILE !== '')
      files.push(env.SOPS_AGE_KEY_FILE);
    const xdg = env.XDG_CONFIG_HOME ?? path.join(env.HOME ?? homedir(), '.config');
    files.push(path.join(xdg, 'sops', 'age', 'keys.txt'));
  }
  for (const file of files) texts.push(await readFile(file, 'utf8').catch(() => ''));
  return texts.flatMap((text) => text.match(AGE_SECRET_KEY) ?? []);
}

function secretsOf(
  config: BerthConfig,
  server: ResolvedServerConfig | undefined,
  notify: NotifyConfig,
  identities: readonly AgeIdentity[],
): Omit<ConfigSecrets, 'registries'> {
  const baseDir = config.file === undefined ? undefined : path.dirname(config.file);
  const resolvePath = (file: string): string => path.resolve(baseDir ?? process.cwd(), file);
  const values: string[] = [];
  const files: string[] = [];
  for (const { source } of config.sources) {
    if (source.kind !== 'git') continue;
    const auth = source.git.auth;
    if (auth?.token !== undefined) values.push(auth.token, encodeURIComponent(auth.token));
    if (auth?.sshKeyFile !== undefined) files.push(auth.sshKeyFile);
  }
  if (server !== undefined) {
    values.push(...server.tokens.map((t) => t.token));
    values.push(...Object.values(server.webhooks).map((w) => w.secret));
  }
  for (const entry of config.server?.tokens ?? [])
    if (entry.tokenFile !== undefined) files.push(resolvePath(entry.tokenFile));
  for (const entry of Object.values(config.server?.webhooks ?? {}))
    if (entry?.secretFile !== undefined) files.push(resolvePath(entry.secretFile));
  for (const target of notify) {
    values.push(target.url, ...Object.values(target.headers ?? {}));
    if (target.type === 'ntfy' && target.token !== undefined) values.push(target.token);
  }
  for (const target of config.notify ?? [])
    if (target.type === 'ntfy' && target.tokenFile !== undefined)
      files.push(resolvePath(target.tokenFile));
  // age keys: inline ones are secrets as they are, key files are secrets' files.
  values.push(...(config.secrets?.age.keys ?? []));
  files.push(...(config.secrets?.age.keyFiles ?? []));
  return { server, notify, identities, values: values.filter((v) => v !== ''), files };
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
  return withoutBerthSecrets(
    env,
    config === undefined ? undefined : await readConfigSecrets(config),
  );
}
