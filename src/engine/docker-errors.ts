import type Docker from 'dockerode';
import { EngineError, type ErrorPlace } from '../errors.js';
import type { Reason } from '../reasons.js';

interface DockerLikeError {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
  message?: string;
}

function asDockerError(err: unknown): DockerLikeError {
  return typeof err === 'object' && err !== null ? err : {};
}

/** HTTP status of a failed Engine API call, when the daemon answered. */
export function statusOf(err: unknown): number | undefined {
  return asDockerError(err).statusCode;
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

/** The daemon's own message, without dockerode's "(HTTP code 404) no such container -" prefix. */
export function dockerMessage(err: unknown): string {
  const e = asDockerError(err);
  return e.json?.message ?? e.message ?? String(err);
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EACCES',
]);

/**
 * Wraps a dockerode failure in an EngineError. An unreachable daemon becomes DockerUnavailable
 * (transient, worth a retry) whatever the operation was.
 */
export function engineError(
  reason: Reason,
  message: string,
  err: unknown,
  place: ErrorPlace = {},
): EngineError {
  if (err instanceof EngineError) return err;
  const code = asDockerError(err).code;
  if (code !== undefined && UNREACHABLE.has(code)) {
    return new EngineError('DockerUnavailable', `Docker is not reachable: ${dockerMessage(err)}`, {
      cause: err,
      place,
      transient: true,
    });
  }
  const status = statusOf(err);
  return new EngineError(reason, `${message}: ${dockerMessage(err)}`, {
    cause: err,
    place,
    transient: status !== undefined && status >= 500 && status !== 501,
  });
}

/** A container's inspect answer, or undefined when it is gone. */
export async function inspectOrUndefined(
  docker: Docker,
  id: string,
): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await docker.getContainer(id).inspect();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw engineError('InspectFailed', `cannot inspect container ${id.slice(0, 12)}`, err);
  }
}
