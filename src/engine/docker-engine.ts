import Docker from 'dockerode';
import type { ComposeProject } from '../compose/types.js';
import type { Logger } from '../log.js';
import { countCalls } from './call-counter.js';
import { applyProject, planProject } from './converge.js';
import { engineError, isNotFound, statusOf } from './docker-errors.js';
import { waitProjectHealthy } from './health.js';
import { watchManagedEvents } from './managed-events.js';
import { emptyProject, groupByProject, listProject } from './observe.js';
import { removeResources } from './resources.js';
import { createRolloutSteps } from './rollout.js';
import type {
  ApplyOptions,
  ApplyResult,
  ContainerEngine,
  ContainerPlanItem,
  DownOptions,
  EventSubscription,
  HealthOptions,
  HealthReport,
  ManagedContainerEvent,
  ObservedProject,
  PlanOptions,
  WatchEventsOptions,
} from './types.js';
import { LABEL } from './types.js';
import { settleAll } from './settle.js';

export interface DockerEngineOptions {
  logger: Logger;
  /** Defaults to the local socket (DOCKER_HOST is honoured by dockerode). */
  docker?: Docker;
}

const ACTIVE = new Set(['running', 'restarting', 'paused']);

/** berth's ContainerEngine over dockerode: Compose v2 behaviour without the compose CLI. */
export function createDockerEngine(options: DockerEngineOptions): ContainerEngine {
  const docker = options.docker ?? new Docker();
  const logger = options.logger;
  const calls = countCalls(docker);

  let apiVersion: Promise<string | undefined> | undefined;
  /** The daemon's API version, asked once: the container spec refuses fields it does not know. */
  function daemonApiVersion(): Promise<string | undefined> {
    apiVersion ??= docker.version().then(
      (v) => v.ApiVersion,
      (err: unknown) => {
        apiVersion = undefined;
        throw engineError('DockerUnavailable', 'cannot reach Docker', err);
      },
    );
    return apiVersion;
  }

  async function list(projectName: string): Promise<Docker.ContainerInfo[]> {
    try {
      return await listProject(docker, projectName);
    } catch (err) {
      throw engineError('ListFailed', 'cannot list containers', err, { stack: projectName });
    }
  }

  async function stopAll(
    projectName: string,
    containers: Docker.ContainerInfo[],
    timeoutMs?: number,
  ): Promise<void> {
    const t = timeoutMs === undefined ? undefined : Math.ceil(timeoutMs / 1000);
    await settleAll(
      containers
        .filter((c) => ACTIVE.has(c.State))
        .map(async (c) => {
          try {
            await docker.getContainer(c.Id).stop(t === undefined ? {} : { t });
          } catch (err) {
            const status = statusOf(err);
            if (status === 304 || status === 404) return;
            throw engineError('ContainerStopFailed', `cannot stop ${c.Names[0] ?? c.Id}`, err, {
              stack: projectName,
              service: c.Labels[LABEL.service],
            });
          }
        }),
    );
  }

  return {
    ...createRolloutSteps(docker, logger, daemonApiVersion),

    async apply(project: ComposeProject, applyOptions?: ApplyOptions): Promise<ApplyResult> {
      return applyProject(docker, logger, project, applyOptions, await daemonApiVersion());
    },

    async observe(projectName: string): Promise<ObservedProject> {
      const listed = await list(projectName);
      return groupByProject(listed).get(projectName) ?? emptyProject(projectName);
    },

    async observeAll(filterLabel: string = LABEL.managed): Promise<Map<string, ObservedProject>> {
      try {
        const listed = await docker.listContainers({
          all: true,
          filters: { label: [filterLabel] },
        });
        return groupByProject(listed);
      } catch (err) {
        throw engineError('ListFailed', 'cannot list containers', err);
      }
    },

    async stop(projectName: string, stopOptions: { timeoutMs?: number } = {}): Promise<void> {
      await stopAll(projectName, await list(projectName), stopOptions.timeoutMs);
    },

    async start(
      projectName: string,
      startOptions: { containerIds?: string[] } = {},
    ): Promise<void> {
      const listed = await list(projectName);
      const only =
        startOptions.containerIds === undefined ? undefined : new Set(startOptions.containerIds);
      await settleAll(
        listed
          // Named containers are started whatever the listing says: it can lag behind a stop.
          .filter((c) =>
            only === undefined
              ? !ACTIVE.has(c.State) && c.Labels[LABEL.oneoff] !== 'True'
              : only.has(c.Id),
          )
          .map(async (c) => {
            try {
              await docker.getContainer(c.Id).start();
            } catch (err) {
              if (statusOf(err) === 304) return;
              throw engineError('ContainerStartFailed', `cannot start ${c.Names[0] ?? c.Id}`, err, {
                stack: projectName,
                service: c.Labels[LABEL.service],
              });
            }
          }),
      );
    },

    async down(projectName: string, downOptions: DownOptions = {}): Promise<void> {
      const listed = await list(projectName);
      await stopAll(projectName, listed, downOptions.timeoutMs);
      await settleAll(
        listed.map(async (c) => {
          try {
            await docker
              .getContainer(c.Id)
              .remove({ force: true, v: downOptions.volumes ?? false });
          } catch (err) {
            if (isNotFound(err) || statusOf(err) === 409) return;
            throw engineError('ContainerRemoveFailed', `cannot remove ${c.Names[0] ?? c.Id}`, err, {
              stack: projectName,
            });
          }
        }),
      );
      const { keptNetworks } = await removeResources(
        docker,
        projectName,
        downOptions.volumes ?? false,
      );
      if (keptNetworks.length > 0)
        logger.warn(
          { stack: projectName, networks: keptNetworks },
          'networks kept: containers outside the project still use them',
        );
      logger.debug({ stack: projectName, containers: listed.length }, 'project down');
    },

    plan(project: ComposeProject, planOptions?: PlanOptions): Promise<ContainerPlanItem[]> {
      return planProject(docker, project, planOptions);
    },

    watchEvents(
      listener: (event: ManagedContainerEvent) => void,
      watchOptions?: WatchEventsOptions,
    ): Promise<EventSubscription> {
      return watchManagedEvents(docker, logger, listener, watchOptions);
    },

    waitHealthy(project: ComposeProject, healthOptions: HealthOptions): Promise<HealthReport> {
      return waitProjectHealthy(docker, project, healthOptions);
    },

    callCount(): number {
      return calls();
    },

    close(): Promise<void> {
      // dockerode keeps no open connections between calls; event streams close with their waits.
      return Promise.resolve();
    },
  };
}
