import type Docker from 'dockerode';
import type { ComposeProject, ServiceConfig } from '../compose/types.js';
import { EngineError } from '../errors.js';
import type { Logger } from '../log.js';
import { packBuildContext } from './build-context.js';
import { dockerMessage, engineError, isNotFound } from './docker-errors.js';
import { imageRef } from './naming.js';
import { settleAll } from './settle.js';
import type { ApplyProgress } from './types.js';

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

async function pull(docker: Docker, ref: string): Promise<void> {
  const stream = await docker.pull(ref);
  await follow(docker, stream);
}

/**
 * Builds with the context streamed as it is packed. A context that cannot be read stops the
 * upload, and its error (naming the file) is reported rather than the aborted request's.
 */
async function build(docker: Docker, service: ServiceConfig, ref: string): Promise<void> {
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

function contextError(context: string, failed: Error | undefined, cause: unknown): Error {
  const why = failed?.message ?? dockerMessage(cause);
  return new Error(`cannot send build context ${context}: ${why}`, { cause });
}

/**
 * Resolves a service's image as `docker compose up` does, honouring pull_policy and build,
 * and returns the image ID. Failures become ImageUnavailable / ImageBuildFailed naming the
 * service and the image.
 */
export async function ensureImage(input: {
  docker: Docker;
  logger: Logger;
  stack: string;
  service: ServiceConfig;
  ref: string;
  onProgress?: (progress: ApplyProgress) => void;
}): Promise<string> {
  const { docker, service, ref, stack } = input;
  const place = { stack, service: service.name, field: 'image' };
  const unavailable = (why: string, cause?: unknown): EngineError =>
    new EngineError(
      'ImageUnavailable',
      `service ${service.name}: image ${ref} is not available: ${why}`,
      { place, ...(cause === undefined ? {} : { cause }) },
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
      input.onProgress?.({ step: 'build', subject: service.name, detail: ref });
      try {
        await build(docker, service, ref);
      } catch (err) {
        throw new EngineError(
          'ImageBuildFailed',
          `service ${service.name}: building ${ref} failed: ${dockerMessage(err)}`,
          { place: { stack, service: service.name, field: 'build' }, cause: err },
        );
      }
    } else if (policy === 'never') {
      throw unavailable('not present locally and pull_policy is never');
    } else {
      input.onProgress?.({ step: 'pull', subject: service.name, detail: ref });
      try {
        await pull(docker, ref);
      } catch (err) {
        input.logger.warn({ stack, service: service.name, image: ref, err }, 'image pull failed');
        const fallback = policy === 'always' ? await inspectImageId(docker, ref) : undefined;
        // Compose keeps running with the local copy when an `always` pull fails.
        if (fallback !== undefined) return fallback;
        throw unavailable(`pull failed: ${dockerMessage(err)}`, err);
      }
    }
    const id = await inspectImageId(docker, ref);
    if (id === undefined) throw unavailable('not present after pull or build');
    return id;
  } catch (err) {
    throw engineError('ImageUnavailable', `service ${service.name}: image ${ref}`, err, place);
  }
}

/**
 * The image ID of each selected service, pulled or built as its pull_policy says; services
 * sharing an image reference share one pull or build.
 */
export async function ensureServiceImages(input: {
  docker: Docker;
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
