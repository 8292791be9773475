import type Docker from 'dockerode';
import {
  ACTIVE_STATES,
  removeContainer,
  stopContainer,
  type ContainerTarget,
} from './containers.js';
import { openEvents, type ContainerEvent, type EventFeed } from './events.js';
import { LABEL } from './types.js';
import { labelGraph, walkServices } from './walk.js';

export interface TakeDownOptions {
  /** Overrides each container's stop_grace_period. */
  timeoutMs?: number;
  /** Remove the containers once stopped (down), instead of keeping them (stop). */
  remove?: boolean;
  /** With `remove`: their anonymous volumes too. */
  volumes?: boolean;
  /** The listing holds the adopted project's hand-run containers: follow their events too. */
  adopt?: boolean;
}

/** A listed container as the helpers of containers.ts name it in errors. */
export function targetOf(projectName: string, c: Docker.ContainerInfo): ContainerTarget {
  return {
    id: c.Id,
    name: c.Names[0] ?? c.Id,
    place: { stack: projectName, service: c.Labels[LABEL.service] },
  };
}

/** Docker's die event, or a kill with SIGKILL: after either the process runs no more code. */
function processEnded(e: ContainerEvent): boolean {
  if (e.action === 'die') return true;
  const signal = e.attributes.signal;
  return e.action === 'kill' && (signal === '9' || signal === 'SIGKILL' || signal === 'KILL');
}

/**
 * Stops a container. `exited` resolves once its process has ended, before Docker has released
 * its mounts and network (about half the stop call's time), which is all a service stopped
 * after it needs; `done` settles with the stop call itself.
 */
function stopUntilExited(
  docker: Docker,
  feed: EventFeed | undefined,
  target: ContainerTarget,
  timeoutSeconds: number | undefined,
): { exited: Promise<void>; done: Promise<'stopped' | 'gone'> } {
  let unsubscribe = (): void => undefined;
  const died = new Promise<void>((resolve) => {
    const off = feed?.subscribe((e) => {
      if (e.containerId === target.id && processEnded(e)) resolve();
    });
    if (off !== undefined) unsubscribe = (): void => void off();
  });
  const done = stopContainer(docker, target, timeoutSeconds).finally(() => unsubscribe());
  return { exited: Promise.race([died, done.then(() => undefined)]), done };
}

/**
 * Stops (and with `remove`, removes) a listing's containers service by service, dependents
 * before what they depend on, as Compose v2 does, so no service loses a dependency while it
 * shuts down. Every Docker call has finished when it returns; the first failure is thrown.
 */
export async function takeDown(
  docker: Docker,
  projectName: string,
  listed: Docker.ContainerInfo[],
  options: TakeDownOptions = {},
): Promise<void> {
  const t = options.timeoutMs === undefined ? undefined : Math.ceil(options.timeoutMs / 1000);
  const volumes = { volumes: options.volumes ?? false };
  const anyActive = listed.some((c) => ACTIVE_STATES.has(c.State));
  // Without the feed each step waits for the stop calls: slower, no less correct.
  const feed = anyActive
    ? await openEvents(docker, projectName, options.adopt ?? false).catch(() => undefined)
    : undefined;
  const finishing: Promise<unknown>[] = [];
  const one = async (c: Docker.ContainerInfo): Promise<void> => {
    const target = targetOf(projectName, c);
    if (!ACTIVE_STATES.has(c.State)) {
      if (options.remove === true) finishing.push(removeContainer(docker, target, volumes));
      return;
    }
    const { exited, done } = stopUntilExited(docker, feed, target, t);
    finishing.push(
      done.then((r) =>
        options.remove === true && r !== 'gone'
          ? removeContainer(docker, target, volumes)
          : undefined,
      ),
    );
    await exited;
  };
  try {
    const walked = walkServices(
      labelGraph(listed.map((c) => c.Labels)),
      async (service) => {
        await Promise.all(
          listed.filter((c) => (c.Labels?.[LABEL.service] ?? '') === service).map(one),
        );
      },
      { order: 'stop' },
    );
    const [walk] = await Promise.allSettled([walked]);
    const rest = await Promise.allSettled(finishing);
    for (const result of [walk, ...rest]) if (result?.status === 'rejected') throw result.reason;
  } finally {
    feed?.close();
  }
}
