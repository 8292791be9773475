import type Docker from 'dockerode';
import type { ErrorPlace } from '../errors.js';
import { engineError, statusOf } from './docker-errors.js';

/** A container acted on, and how errors name it. */
export interface ContainerTarget {
  id: string;
  /** Named in errors; the short ID when absent. */
  name?: string;
  place?: ErrorPlace;
}

/** States in which a container has a process that a stop ends. */
export const ACTIVE_STATES: ReadonlySet<string> = new Set(['running', 'restarting', 'paused']);

/*
 * Docker answers 304 when a container is already in the state asked for, 404 when it is gone,
 * and (for a forced remove) 409 when its removal is already under way. Each means the goal is
 * met, or cannot be met by anyone, so none of them is a failure of ours.
 */
const NOT_MODIFIED = 304;
const NOT_FOUND = 404;
const CONFLICT = 409;

function label(target: ContainerTarget): string {
  return target.name ?? target.id.slice(0, 12);
}

/**
 * Stops a container; `timeoutSeconds` overrides its own stop_grace_period. Resolves 'gone' when
 * Docker no longer knows it, so callers can skip what would follow.
 */
export async function stopContainer(
  docker: Docker,
  target: ContainerTarget,
  timeoutSeconds?: number,
): Promise<'stopped' | 'gone'> {
  try {
    await docker
      .getContainer(target.id)
      .stop(timeoutSeconds === undefined ? {} : { t: timeoutSeconds });
    return 'stopped';
  } catch (err) {
    const status = statusOf(err);
    if (status === NOT_MODIFIED) return 'stopped';
    if (status === NOT_FOUND) return 'gone';
    throw engineError('ContainerStopFailed', `cannot stop ${label(target)}`, err, target.place);
  }
}

/** Removes a container, killing it if it still runs; `volumes` takes its anonymous volumes too. */
export async function removeContainer(
  docker: Docker,
  target: ContainerTarget,
  options: { volumes?: boolean } = {},
): Promise<void> {
  try {
    await docker
      .getContainer(target.id)
      .remove(
        options.volumes === undefined ? { force: true } : { force: true, v: options.volumes },
      );
  } catch (err) {
    const status = statusOf(err);
    if (status === NOT_FOUND || status === CONFLICT) return;
    throw engineError('ContainerRemoveFailed', `cannot remove ${label(target)}`, err, target.place);
  }
}

export interface StopAndRemoveOptions {
  /** false when the container is known to have no process: the stop call is saved. */
  stop?: boolean;
  timeoutSeconds?: number;
  volumes?: boolean;
  /** Called before each step that is taken (apply reports them as progress). */
  onStep?: (step: 'stop' | 'remove') => void;
}

/** Stops a container gracefully (signal, grace period), then removes it; a gone one is skipped. */
export async function stopAndRemoveContainer(
  docker: Docker,
  target: ContainerTarget,
  options: StopAndRemoveOptions = {},
): Promise<void> {
  if (options.stop !== false) {
    options.onStep?.('stop');
    if ((await stopContainer(docker, target, options.timeoutSeconds)) === 'gone') return;
  }
  options.onStep?.('remove');
  await removeContainer(
    docker,
    target,
    options.volumes === undefined ? {} : { volumes: options.volumes },
  );
}

/** Starts a container; one already running is left as it is. */
export async function startContainer(docker: Docker, target: ContainerTarget): Promise<void> {
  try {
    await docker.getContainer(target.id).start();
  } catch (err) {
    if (statusOf(err) === NOT_MODIFIED) return;
    throw engineError('ContainerStartFailed', `cannot start ${label(target)}`, err, target.place);
  }
}

/** Restarts a container with its own stop signal and stop timeout; a gone one is skipped. */
export async function restartContainer(docker: Docker, target: ContainerTarget): Promise<void> {
  try {
    // No `t`: the daemon then waits the container's StopTimeout (stop_grace_period).
    await docker.getContainer(target.id).restart();
  } catch (err) {
    if (statusOf(err) === NOT_FOUND) return;
    throw engineError(
      'ContainerRestartFailed',
      `cannot restart ${label(target)}`,
      err,
      target.place,
    );
  }
}
