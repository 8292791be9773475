import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Logger } from '../log.js';
import {
  credentialSteps,
  normalizeRegistry,
  parseDockerConfig,
  parseHelperAnswer,
  parseImageRef,
  secretsOf,
  serverAddress,
  type DockerConfig,
  type RegistryCredential,
} from './registry-auth.js';

type Env = Readonly<Record<string, string | undefined>>;

/** A login of berth's own config (`registries`), its password already read. */
export interface RegistryLogin {
  /** As written: `registry.example.com:5000`, `https://ghcr.io`, `docker.io`. */
  server: string;
  username: string;
  password: string;
}

export interface FoundCredential {
  /** The registry host it is for (`docker.io` for Docker Hub). */
  registry: string;
  credential: RegistryCredential;
}

/** Credentials for pulls, builds and digest look-ups; one per engine. */
export interface RegistryCredentials {
  /** The credential for the registry of `ref`, or undefined: Docker goes anonymously. */
  forImage(ref: string): Promise<FoundCredential | undefined>;
  /** Where credentials are read from, for messages (never a secret). */
  sources(): string;
}

/** Anonymous pulls only: the engine's default, so tests never read the user's Docker config. */
export const NO_CREDENTIALS: RegistryCredentials = {
  forImage: () => Promise.resolve(undefined),
  sources: () => 'nowhere (no credentials were configured)',
};

export interface RegistryCredentialsOptions {
  /** berth's `registries`, looked at first. */
  logins?: readonly RegistryLogin[];
  /** The Docker config.json to read (see dockerConfigFile); none when undefined. */
  dockerConfig?: string;
  /** PATH for credential helpers, and the environment they run with. */
  env?: Env;
  logger?: Logger;
  /** Told every secret found (config.json, helpers), so logs can withhold it. */
  onSecret?: (values: readonly string[]) => void;
  /** How long a credential helper may take. Default 30 s. */
  helperTimeoutMs?: number;
}

/** The config.json berth's user would use: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigFile(env: Env = process.env, home: string = homedir()): string {
  const dir = env.DOCKER_CONFIG;
  return dir !== undefined && dir !== ''
    ? path.join(dir, 'config.json')
    : path.join(env.HOME ?? home, '.docker', 'config.json');
}

/**
 * Looks credentials up in berth's `registries`, then the Docker config (credential helpers
 * found on PATH, then `auths`). The config is read once and again only when it changes; helpers
 * run per look-up, since the tokens they hand out may expire.
 */
export function createRegistryCredentials(
  options: RegistryCredentialsOptions,
): RegistryCredentials {
  const logins = new Map<string, RegistryCredential>();
  for (const login of options.logins ?? []) {
    const registry = normalizeRegistry(login.server);
    if (!logins.has(registry))
      logins.set(registry, {
        username: login.username,
        password: login.password,
        source: "berth's config (registries)",
      });
  }
  const readConfig = configReader(options);
  const env = options.env ?? process.env;
  const timeoutMs = options.helperTimeoutMs ?? 30_000;

  return {
    async forImage(ref: string): Promise<FoundCredential | undefined> {
      const registry = normalizeRegistry(parseImageRef(ref).registry);
      const config = logins.has(registry) ? undefined : await readConfig();
      for (const step of credentialSteps(registry, logins, config)) {
        const credential =
          step.kind === 'found'
            ? step.credential
            : await runHelper(step.helper, registry, { env, timeoutMs, logger: options.logger });
        if (credential === undefined) continue;
        if (step.kind === 'helper') options.onSecret?.(secretsOf(credential));
        options.logger?.debug({ registry, source: credential.source }, 'registry credentials');
        return { registry, credential };
      }
      return undefined;
    },
    sources(): string {
      const config = options.dockerConfig;
      const own = "berth's config (registries)";
      return config === undefined ? own : `${own}, then ${config} (credHelpers, credsStore, auths)`;
    },
  };
}

interface ConfigState {
  /** mtime and size of the file read; a change of either reads it again. */
  key: string;
  config: Promise<DockerConfig | undefined>;
}

/** The Docker config, read when first needed and again only when its mtime or size changes. */
function configReader(
  options: RegistryCredentialsOptions,
): () => Promise<DockerConfig | undefined> {
  const file = options.dockerConfig;
  let state: ConfigState | undefined;
  return async () => {
    if (file === undefined) return undefined;
    const info = await stat(file).catch((err: NodeJS.ErrnoException) => err);
    if (info instanceof Error) {
      if (info.code !== 'ENOENT')
        options.logger?.warn({ file, code: info.code }, 'docker config unreadable');
      state = undefined;
      return undefined;
    }
    const key = `${info.mtimeMs}:${info.size}`;
    if (state?.key !== key) state = { key, config: readDockerConfig(file, options) };
    return state.config;
  };
}

async function readDockerConfig(
  file: string,
  options: RegistryCredentialsOptions,
): Promise<DockerConfig | undefined> {
  try {
    const config = parseDockerConfig(await readFile(file, 'utf8'), file);
    options.onSecret?.([...config.auths.values()].flatMap(secretsOf));
    return config;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    options.logger?.warn({ file, why }, 'docker config unreadable');
    return undefined;
  }
}

/** The path of an executable `name` on PATH, or undefined. */
async function onPath(name: string, env: Env): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    const ok = await access(candidate, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (ok) return candidate;
  }
  return undefined;
}

/**
 * Runs `docker-credential-<helper> get` with the registry's server address on stdin. Absent,
 * failing, slow or unparsable helpers give nothing: the look-up goes on to the next step.
 */
async function runHelper(
  helper: string,
  registry: string,
  context: { env: Env; timeoutMs: number; logger: Logger | undefined },
): Promise<RegistryCredential | undefined> {
  const program = `docker-credential-${helper}`;
  const binary = await onPath(program, context.env);
  if (binary === undefined) {
    context.logger?.debug({ registry, helper: program }, 'credential helper not on PATH');
    return undefined;
  }
  const result = await runWithInput(binary, ['get'], serverAddress(registry), context);
  if (result.code !== 0) {
    // Helpers exit 1 with "credentials not found" for a registry they hold nothing for.
    context.logger?.debug(
      { registry, helper: program, code: result.code },
      'credential helper gave nothing',
    );
    return undefined;
  }
  return parseHelperAnswer(result.stdout, `credential helper ${program}`);
}

function runWithInput(
  binary: string,
  args: string[],
  input: string,
  context: { env: Env; timeoutMs: number },
): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(binary, args, {
      env: context.env,
      stdio: ['pipe', 'pipe', 'ignore'],
      timeout: context.timeoutMs,
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < 1_000_000) stdout += chunk;
    });
    child.once('error', () => resolve({ code: -1, stdout: '' }));
    child.once('close', (code) => resolve({ code: code ?? -1, stdout }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}
