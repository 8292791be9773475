import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { BuildConfig, ComposeProject, ServiceConfig } from '../compose/types.js';
import { EngineError, type ErrorPlace } from '../errors.js';
import type { Logger } from '../log.js';
import { packBuildContext } from './build-context.js';
import { dockerMessage, engineError, isNotFound, statusOf } from './docker-errors.js';
import { imageRef } from './naming.js';
import {
  authConfigOf,
  baseImagesOf,
  isAuthFailure,
  parseImageRef,
  secretsOf,
  serverAddress,
} from './registry-auth.js';
import { type FoundCredential, type RegistryCredentials } from './registry-credentials.js';
import { settleAll } from './settle.js';
import type { ApplyProgress } from './types.js';

/** X-Registry-Auth for a pull or digest look-up: none when no credential was found. */
function authOptions(found: FoundCredential | undefined): { authconfig?: Docker.AuthConfig } {
  return found === undefined ? {} : { authconfig: authConfigOf(found.credential, found.registry) };
}

interface ProgressMessage {
  error?: string;
  errorDetail?: { message?: string };
  stream?: string;
}

async function inspectImageId(docker: Docker, ref: string): Promise<string | undefined> {
  try {
    const info = await docker.getImage(ref).inspect();
    return info.Id;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Runs a pull or build stream to its end; the daemon reports failures inside the stream. */
async function follow(docker: Docker, stream: NodeJS.ReadableStream): Promise<ProgressMessage[]> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, output: ProgressMessage[]) => {
      if (err !== null) {
        reject(err);
        return;
      }
      const failed = output.find((m) => m.error !== undefined || m.errorDetail !== undefined);
      if (failed !== undefined) reject(new Error(failed.errorDetail?.message ?? failed.error));
      else resolve(output);
    });
  });
}

async function pull(docker: Docker, ref: string, found?: FoundCredential): Promise<void> {
  const stream = await docker.pull(ref, authOptions(found));
  await follow(docker, stream);
}

/**
 * The registry refused the credentials (or wanted some): the message names the registry, the
 * image, the stack and where credentials are read from; the daemon's text is kept, without
 * any secret that might echo in it.
 */
export function registryAuthError(input: {
  registry: string;
  image: string;
  place: ErrorPlace;
  found: FoundCredential | undefined;
  sources: string;
  cause: unknown;
  /** Who asked, put first: `service web`, `service web: building app`. */
  doing?: string;
}): EngineError {
  const { registry, image, place, found } = input;
  // The daemon's own words, without dockerode's "(HTTP code 500) server error - ".
  let why = dockerMessage(input.cause)
    .replace(/^\(HTTP code \d+\) [^-]*- /, '')
    .trim();
  for (const secret of found === undefined ? [] : secretsOf(found.credential))
    why = why.split(secret).join('[redacted]');
  const used =
    found === undefined
      ? `no credentials for ${registry} were found`
      : `credentials from ${found.credential.source}`;
  const stack = place.stack === undefined ? '' : ` (stack ${place.stack})`;
  const doing = input.doing === undefined ? '' : `${input.doing}: `;
  return new EngineError(
    'RegistryAuthFailed',
    `${doing}registry ${registry} refused access to image ${image}${stack}: ${why} (${used}); ` +
      `berth reads registry credentials from ${input.sources}`,
    { place, cause: input.cause },
  );
}

/**
 * Builds with the context streamed as it is packed. A context that cannot be read stops the
 * upload, and its error (naming the file) is reported rather than the aborted request's.
 */
async function build(
  docker: Docker,
  service: ServiceConfig,
  ref: string,
  registryconfig: Docker.RegistryConfig | undefined,
): Promise<void> {
  const spec = service.build;
  if (spec === undefined) throw new Error('service has no build section');
  const abort = new AbortController();
  const context = await packBuildContext(spec.context, spec.dockerfile, (err) => abort.abort(err));
  try {
    const stream = await docker.buildImage(context.stream, {
      t: ref,
      dockerfile: context.dockerfile,
      buildargs: spec.args,
      ...(spec.target === undefined ? {} : { target: spec.target }),
      ...(spec.labels === undefined ? {} : { labels: spec.labels }),
      ...(spec.network === undefined ? {} : { networkmode: spec.network }),
      ...(spec.extraHosts === undefined ? {} : { extrahosts: spec.extraHosts.join(',') }),
      ...(spec.shmSize === undefined ? {} : { shmsize: spec.shmSize }),
      nocache: spec.noCache ?? false,
      pull: spec.pull ?? false,
      ...(registryconfig === undefined ? {} : { registryconfig }),
      rm: true,
      forcerm: true,
      abortSignal: abort.signal,
    });
    await follow(docker, stream);
  } catch (err) {
    if (abort.signal.aborted) throw contextError(spec.context, await context.done, err);
    throw err;
  } finally {
    // The daemon read all it wanted; a tar it stopped reading must not wait forever.
    context.stop();
  }
}

/** What a build needs to pull its base images: the credentials of each one's registry. */
async function buildCredentials(
  credentials: RegistryCredentials,
  spec: BuildConfig,
): Promise<{ bases: string[]; found: FoundCredential[] }> {
  const text = await readFile(path.resolve(spec.context, spec.dockerfile), 'utf8').catch(
    () => undefined,
  );
  // An unreadable Dockerfile fails the build itself, with the daemon's message.
  const bases = text === undefined ? [] : baseImagesOf(text, spec.args);
  const found = await Promise.all(bases.map((base) => credentials.forImage(base)));
  return { bases, found: found.filter((f): f is FoundCredential => f !== undefined) };
}

/** X-Registry-Config: one auth config per registry, keyed as the daemon looks them up. */
function registryConfigOf(found: readonly FoundCredential[]): Docker.RegistryConfig | undefined {
  if (found.length === 0) return undefined;
  const entries = found.map((f) => [
    serverAddress(f.registry),
    authConfigOf(f.credential, f.registry),
  ]);
  // dockerode's type knows username/password only; the daemon takes identity tokens too.
  return Object.fromEntries(entries) as Docker.RegistryConfig;
}

function contextError(context: string, failed: Error | undefined, cause: unknown): Error {
  const why = failed?.message ?? dockerMessage(cause);
  return new Error(`cannot send build context ${context}: ${why}`, { cause });
}

interface ImageInput {
  docker: Docker;
  /** The engine's registry logins (berth's `registries`, then config.json). */
  credentials: RegistryCredentials;
  logger: Logger;
  stack: string;
  service: ServiceConfig;
  ref: string;
  onProgress?: (progress: ApplyProgress) => void;
}

/**
 * Resolves a service's image as `docker compose up` does, honouring pull_policy and build,
 * and returns the image ID. Failures become ImageUnavailable / ImageBuildFailed naming the
 * service and the image, RegistryAuthFailed when a registry refuses the credentials.
 */
export async function ensureImage(input: ImageInput): Promise<string> {
  const { docker, service, ref } = input;
  const place = { stack: input.stack, service: service.name, field: 'image' };
  const unavailable = (why: string): EngineError =>
    new EngineError(
      'ImageUnavailable',
      `service ${service.name}: image ${ref} is not available: ${why}`,
      { place },
    );
  try {
    const policy = service.pullPolicy;
    const local =
      policy === 'always' || policy === 'build' ? undefined : await inspectImageId(docker, ref);
    if (local !== undefined) return local;
    if (
      service.build !== undefined &&
      (policy === 'build' || policy === 'missing' || policy === 'never')
    ) {
      await buildService(input);
    } else if (policy === 'never') {
      throw unavailable('not present locally and pull_policy is never');
    } else {
      const fallback = await pullService(input);
      if (fallback !== undefined) return fallback;
    }
    const id = await inspectImageId(docker, ref);
    if (id === undefined) throw unavailable('not present after pull or build');
    return id;
  } catch (err) {
    throw engineError('ImageUnavailable', `service ${service.name}: image ${ref}`, err, place);
  }
}

/**
 * Pulls the service's image with its registry's credentials. A failed `always` pull keeps the
 * local copy, as Compose does (its ID is returned) unless the registry refused the credentials:
 * that is the operator's to fix, not to paper over with a stale image.
 */
async function pullService(input: ImageInput): Promise<string | undefined> {
  const { docker, credentials, service, ref, stack } = input;
  const place = { stack, service: service.name, field: 'image' };
  input.onProgress?.({ step: 'pull', subject: service.name, detail: ref });
  const found = await credentials.forImage(ref);
  try {
    await pull(docker, ref, found);
    return undefined;
  } catch (err) {
    input.logger.warn({ stack, service: service.name, image: ref, err }, 'image pull failed');
    if (isAuthFailure(dockerMessage(err), statusOf(err))) {
      const registry = parseImageRef(ref).registry;
      throw registryAuthError({
        registry,
        image: ref,
        place,
        found,
        sources: credentials.sources(),
        cause: err,
        doing: `service ${service.name}`,
      });
    }
    const fallback =
      service.pullPolicy === 'always' ? await inspectImageId(docker, ref) : undefined;
    if (fallback !== undefined) return fallback;
    throw new EngineError(
      'ImageUnavailable',
      `service ${service.name}: image ${ref} is not available: pull failed: ${dockerMessage(err)}`,
      { place, cause: err },
    );
  }
}

/** Builds the service's image, with the credentials of its base images' registries. */
async function buildService(input: ImageInput): Promise<void> {
  const { docker, credentials, service, ref, stack } = input;
  const place = { stack, service: service.name, field: 'build' };
  input.onProgress?.({ step: 'build', subject: service.name, detail: ref });
  const { bases, found } =
    service.build === undefined
      ? { bases: [], found: [] }
      : await buildCredentials(credentials, service.build);
  try {
    await build(docker, service, ref, registryConfigOf(found));
  } catch (err) {
    const why = dockerMessage(err);
    if (isAuthFailure(why, statusOf(err))) {
      const registries = [...new Set(bases.map((base) => parseImageRef(base).registry))];
      throw registryAuthError({
        registry: registries.join(', ') || 'unknown',
        image: bases.join(', ') || ref,
        place,
        found: found[0],
        sources: credentials.sources(),
        cause: err,
        doing: `service ${service.name}: building ${ref}`,
      });
    }
    throw new EngineError(
      'ImageBuildFailed',
      `service ${service.name}: building ${ref} failed: ${why}`,
      { place, cause: err },
    );
  }
}

/**
 * The manifest digest (`sha256:…`) the registry holds for a tagged reference, asked with the
 * registry's credentials. undefined when the reference pins a digest already, when the image
 * is only known locally (present, and never pulled from or pushed to that repository), or when
 * the registry does not have the tag.
 */
export async function resolveImageDigest(
  docker: Docker,
  credentials: RegistryCredentials,
  ref: string,
  place: ErrorPlace = {},
): Promise<string | undefined> {
  const name = parseImageRef(ref);
  if (name.digest !== undefined) return undefined;
  const local = await docker
    .getImage(ref)
    .inspect()
    .catch((err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw engineError('InspectFailed', `cannot inspect image ${ref}`, err, place);
    });
  const fromRegistry = (local?.RepoDigests ?? []).some(
    (digest) => parseImageRef(digest).repository === name.repository,
  );
  if (local !== undefined && !fromRegistry) return undefined;
  const found = await credentials.forImage(ref);
  try {
    const info = await docker.getImage(ref).distribution(authOptions(found));
    return info.Descriptor.digest;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    if (isAuthFailure(dockerMessage(err), statusOf(err))) {
      const sources = credentials.sources();
      throw registryAuthError({
        registry: name.registry,
        image: ref,
        place,
        found,
        sources,
        cause: err,
      });
    }
    throw engineError('ImageUnavailable', `cannot resolve the digest of ${ref}`, err, place);
  }
}

/**
 * The image ID of each selected service, pulled or built as its pull_policy says; services
 * sharing an image reference share one pull or build.
 */
export async function ensureServiceImages(input: {
  docker: Docker;
  credentials: RegistryCredentials;
  logger: Logger;
  project: ComposeProject;
  services: string[];
  onProgress?: (progress: ApplyProgress) => void;
}): Promise<Map<string, string>> {
  const { project } = input;
  const byRef = new Map<string, Promise<string>>();
  const ids = await settleAll(
    input.services.map(async (name) => {
      const service = project.services[name]!;
      const ref = imageRef(project.name, service);
      let id = byRef.get(ref);
      if (id === undefined) {
        id = ensureImage({
          docker: input.docker,
          credentials: input.credentials,
          logger: input.logger,
          stack: project.name,
          service,
          ref,
          ...(input.onProgress === undefined ? {} : { onProgress: input.onProgress }),
        });
        byRef.set(ref, id);
      }
      return [name, await id] as const;
    }),
  );
  return new Map(ids);
}
