import type Docker from 'dockerode';
import { z } from 'zod';

/**
 * Registry credentials, the pure part: which registry an image reference names (as Docker
 * derives it), how servers are keyed (as the docker CLI keys them), what a Docker config.json
 * holds and in which order credentials are looked for. The I/O (reading config.json, running
 * credential helpers) is in registry-credentials.ts.
 */

/** Docker Hub, however it is written: berth keys it by this name. */
export const DOCKER_HUB = 'docker.io';
/** The server address Docker and the credential helpers know Docker Hub by. */
export const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';

const HUB_ALIASES = new Set([
  DOCKER_HUB,
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

/**
 * A registry server as people write it (`registry.example.com:5000`, `https://ghcr.io`,
 * `https://index.docker.io/v1/`), keyed by its host: scheme and path dropped, as the docker
 * CLI's ConvertToHostname does, and every name of Docker Hub as `docker.io`.
 */
export function normalizeRegistry(server: string): string {
  const withoutScheme = server.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const host = (withoutScheme.split('/')[0] ?? '').toLowerCase();
  return HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

/** The address Docker's auth config and credential helpers use for a registry. */
export function serverAddress(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_SERVER : registry;
}

export interface ImageName {
  /** The registry host as Docker derives it: `docker.io` unless the first part names a host. */
  registry: string;
  /** The full repository, registry included (`docker.io/library/busybox`). */
  repository: string;
  tag?: string;
  /** `sha256:…` when the reference pins one. */
  digest?: string;
}

/**
 * Splits an image reference as Docker's reference parser does: the first path component is a
 * registry host when it has a dot or a colon, is `localhost`, or has upper-case letters;
 * else the image is on Docker Hub, single names under `library/`.
 */
export function parseImageRef(ref: string): ImageName {
  const at = ref.indexOf('@');
  const named = at === -1 ? ref : ref.slice(0, at);
  const digest = at === -1 ? undefined : ref.slice(at + 1);
  const colon = named.lastIndexOf(':');
  const hasTag = colon > named.lastIndexOf('/');
  const name = hasTag ? named.slice(0, colon) : named;
  const tag = hasTag ? named.slice(colon + 1) : undefined;
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  const isHost =
    slash !== -1 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase());
  const registry = !isHost || first === 'index.docker.io' ? DOCKER_HUB : first;
  let path = isHost ? name.slice(slash + 1) : name;
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  return {
    registry,
    repository: `${registry}/${path}`,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** What a registry accepts: a password, or an identity token (OAuth refresh token). */
export interface RegistryCredential {
  username?: string;
  password?: string;
  identityToken?: string;
  /** Where it was found, for logs and messages (never the secret). */
  source: string;
}

/** The parts of a Docker config.json berth uses; `auths` keyed by normalized registry. */
export interface DockerConfig {
  auths: ReadonlyMap<string, RegistryCredential>;
  credHelpers: ReadonlyMap<string, string>;
  credsStore?: string;
}

const AuthEntry = z.looseObject({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  identitytoken: z.string().optional(),
});

/** Names a helper may have: it becomes part of a program name looked up on PATH. */
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const DockerConfigFile = z.looseObject({
  auths: z.record(z.string(), AuthEntry).optional(),
  credHelpers: z.record(z.string(), z.string().regex(HELPER_NAME)).optional(),
  credsStore: z.string().regex(HELPER_NAME).optional(),
});

/**
 * Reads the text of a Docker config.json. Throws on malformed JSON or fields, with a message
 * that names the field and never a value.
 */
export function parseDockerConfig(text: string, file: string): DockerConfig {
  let json: unknown;
  try {
    json = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    throw new Error(`${file} is not valid JSON`);
  }
  const parsed = DockerConfigFile.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues.map((issue) => issue.path.join('.') || '(top)').join(', ');
    throw new Error(`${file}: unexpected value at ${where}`);
  }
  const auths = new Map<string, RegistryCredential>();
  for (const [server, entry] of Object.entries(parsed.data.auths ?? {})) {
    const credential = credentialOfEntry(entry, `${file} (auths)`);
    if (credential !== undefined) auths.set(normalizeRegistry(server), credential);
  }
  const credHelpers = new Map(
    Object.entries(parsed.data.credHelpers ?? {}).map(([server, helper]) => [
      normalizeRegistry(server),
      helper,
    ]),
  );
  const store = parsed.data.credsStore;
  return {
    auths,
    credHelpers,
    ...(store === undefined || store === '' ? {} : { credsStore: store }),
  };
}

/** An `auths` entry: `auth` (base64 of user:password), username/password, or an identity token. */
function credentialOfEntry(
  entry: z.infer<typeof AuthEntry>,
  source: string,
): RegistryCredential | undefined {
  if (entry.identitytoken !== undefined && entry.identitytoken !== '') {
    return { identityToken: entry.identitytoken, username: entry.username, source };
  }
  if (entry.auth !== undefined && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return undefined;
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source };
  }
  if (entry.username !== undefined && entry.password !== undefined) {
    return { username: entry.username, password: entry.password, source };
  }
  return undefined;
}

/** A credential helper's answer to `get` (docker-credential-helpers' protocol). */
export function parseHelperAnswer(text: string, source: string): RegistryCredential | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const answer = z.looseObject({ Username: z.string(), Secret: z.string() }).safeParse(json);
  if (!answer.success || answer.data.Secret === '') return undefined;
  const { Username, Secret } = answer.data;
  // The helpers' convention for an identity token rather than a password.
  if (Username === '<token>') return { identityToken: Secret, source };
  return { username: Username, password: Secret, source };
}

/** One place to look in: a credential already at hand, or a helper to run. */
export type CredentialStep =
  { kind: 'found'; credential: RegistryCredential } | { kind: 'helper'; helper: string };

/**
 * Where the credential of `registry` is looked for, in order: berth's own `registries`, then
 * the Docker config's `credHelpers[registry]`, its `credsStore`, its `auths[registry]`. A
 * helper that is absent or fails falls through to the next step.
 */
export function credentialSteps(
  registry: string,
  logins: ReadonlyMap<string, RegistryCredential>,
  config: DockerConfig | undefined,
): CredentialStep[] {
  const steps: CredentialStep[] = [];
  const own = logins.get(registry);
  if (own !== undefined) return [{ kind: 'found', credential: own }];
  if (config === undefined) return steps;
  const helper = config.credHelpers.get(registry);
  if (helper !== undefined) steps.push({ kind: 'helper', helper });
  if (config.credsStore !== undefined && config.credsStore !== helper)
    steps.push({ kind: 'helper', helper: config.credsStore });
  const stored = config.auths.get(registry);
  if (stored !== undefined) steps.push({ kind: 'found', credential: stored });
  return steps;
}

/** The auth config Docker takes in X-Registry-Auth (pull, distribution). */
export function authConfigOf(
  credential: RegistryCredential,
  registry: string,
): Docker.AuthConfigObject {
  const serveraddress = serverAddress(registry);
  if (credential.identityToken !== undefined) {
    return {
      identitytoken: credential.identityToken,
      serveraddress,
      ...(credential.username === undefined ? {} : { username: credential.username }),
    };
  }
  return {
    username: credential.username ?? '',
    password: credential.password ?? '',
    serveraddress,
  };
}

/** The secret values of a credential, for what logs must never show. */
export function secretsOf(credential: RegistryCredential): string[] {
  return [credential.password, credential.identityToken].filter(
    (value): value is string => value !== undefined && value !== '',
  );
}

/**
 * Whether a failure of a pull, build or digest look-up is the registry refusing the
 * credentials (or asking for some): Docker reports these as text, with 401 or 500.
 */
export function isAuthFailure(message: string, status?: number): boolean {
  if (status === 401 || status === 403) return true;
  return /unauthorized|authentication required|no basic auth credentials|access denied|denied: |access to the resource is denied|incorrect username or password/i.test(
    message,
  );
}

/**
 * The images a Dockerfile builds from: `FROM` lines (without `scratch` and earlier stages) and
 * `COPY --from=<image>`, with `ARG`s declared before the first FROM replaced by the build
 * arguments or their defaults. References still holding a variable are left out.
 */
export function baseImagesOf(
  dockerfile: string,
  buildArgs: Readonly<Record<string, string>>,
): string[] {
  const args = new Map<string, string>();
  const stages = new Set<string>();
  const images = new Set<string>();
  let seenFrom = false;
  for (const line of instructions(dockerfile)) {
    const [keyword = '', ...words] = line.split(/\s+/);
    const upper = keyword.toUpperCase();
    if (upper === 'ARG' && !seenFrom) {
      for (const word of words) {
        const eq = word.indexOf('=');
        const name = eq === -1 ? word : word.slice(0, eq);
        const value = buildArgs[name] ?? (eq === -1 ? undefined : unquote(word.slice(eq + 1)));
        if (value !== undefined) args.set(name, value);
      }
    } else if (upper === 'FROM') {
      seenFrom = true;
      const positional = words.filter((w) => !w.startsWith('--'));
      const image = substitute(positional[0] ?? '', args);
      if (positional[1]?.toUpperCase() === 'AS' && positional[2] !== undefined)
        stages.add(positional[2].toLowerCase());
      if (image !== undefined && !stages.has(image.toLowerCase()) && image !== 'scratch')
        images.add(image);
    } else if (upper === 'COPY') {
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
      const image = from === undefined ? undefined : substitute(from, args);
      if (image !== undefined && !stages.has(image.toLowerCase()) && !/^\d+$/.test(image))
        images.add(image);
    }
  }
  return [...images];
}

/** The Dockerfile's instructions, one a line: continuations joined, comments dropped. */
function instructions(dockerfile: string): string[] {
  const joined = dockerfile.replace(/\\\r?\n/g, ' ');
  return joined
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

function unquote(value: string): string {
  return value.replace(/^(["'])(.*)\1$/, '$2');
}

/** `$NAME`, `${NAME}` and `${NAME:-default}` replaced; undefined when one cannot be. */
function substitute(text: string, args: ReadonlyMap<string, string>): string | undefined {
  let unresolved = false;
  const out = text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (
      _match,
      braced: string | undefined,
      fallback: string | undefined,
      bare: string | undefined,
    ) => {
      const value = args.get(braced ?? bare ?? '');
      if (value !== undefined && value !== '') return value;
      if (fallback !== undefined) return fallback;
      unresolved = true;
      return '';
    },
  );
  return unresolved || out === '' ? undefined : out;
}
