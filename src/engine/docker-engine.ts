import Docker from 'dockerode';
import type { ComposeProject } from '../compose/types.js';
import type { Logger } from '../log.js';
import { countCalls } from './call-counter.js';
import { applyProject, planProject } from './converge.js';
import { ACTIVE_STATES, restartContainer, startContainer } from './containers.js';
import { engineError } from './docker-errors.js';
import { waitProjectHealthy } from './health.js';
import { watchManagedEvents } from './managed-events.js';
import { emptyProject, groupByProject, listForeign, listProject } from './observe.js';
import { ADOPTS_NOTHING, type Adopts } from './ownership.js';
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
import { takeDown, targetOf } from './take-down.js';

export interface DockerEngineOptions {
  logger: Logger;
  /** Defaults to the local socket (DOCKER_HOST is honoured by dockerode). */
  docker?: Docker;
  /**
   * Projects whose hand-run containers, networks and volumes berth takes as its own (the
   * operator's policy.adopt). Default: none, so berth touches only what carries its label.
   */
  adopts?: Adopts;
}

/** berth's ContainerEngine over dockerode: Compose v2 behaviour without the compose CLI. */
export function createDockerEngine(options: DockerEngineOptions): ContainerEngine {
  const docker = options.docker ?? new Docker();
  const logger = options.logger;
  const calls = countCalls(docker);
  const adopts = options.adopts ?? ADOPTS_NOTHING;

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
      return await listProject(docker, projectName, adopts(projectName));
    } catch (err) {
      throw engineError('ListFailed', 'cannot list containers', err, { stack: projectName });
    }
  }

  return {
    ...createRolloutSteps(docker, logger, daemonApiVersion, adopts),

    async apply(project: ComposeProject, applyOptions?: ApplyOptions): Promise<ApplyResult> {
      const apiVersion = await daemonApiVersion();
      return applyProject(docker, logger, project, applyOptions, {
        adopt: adopts(project.name),
        ...(apiVersion === undefined ? {} : { apiVersion }),
      });
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

    async foreignContainers(projectName: string): Promise<string[]> {
      try {
        return await listForeign(docker, projectName);
      } catch (err) {
        throw engineError('ListFailed', 'cannot list containers', err, { stack: projectName });
      }
    },

    async stop(projectName: string, stopOptions: { timeoutMs?: number } = {}): Promise<void> {
      const adopt = adopts(projectName);
      await takeDown(docker, projectName, await list(projectName), { ...stopOptions, adopt });
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
              ? !ACTIVE_STATES.has(c.State) && c.Labels[LABEL.oneoff] !== 'True'
              : only.has(c.Id),
          )
          .map((c) => startContainer(docker, targetOf(projectName, c))),
      );
    },

    async restartContainers(projectName: string, containerIds: string[]): Promise<void> {
      await settleAll(
        containerIds.map((id) => restartContainer(docker, { id, place: { stack: projectName } })),
      );
    },

    async down(projectName: string, downOptions: DownOptions = {}): Promise<void> {
      const adopt = adopts(projectName);
      const listed = await list(projectName);
      await takeDown(docker, projectName, listed, { ...downOptions, remove: true, adopt });
      const { keptNetworks } = await removeResources(
        docker,
        projectName,
        downOptions.volumes ?? false,
        adopt,
      );
      if (keptNetworks.length > 0)
        logger.warn(
          { stack: projectName, networks: keptNetworks },
          'networks kept: containers outside the project still use them',
        );
      logger.debug({ stack: projectName, containers: listed.length }, 'project down');
    },

    plan(project: ComposeProject, planOptions?: PlanOptions): Promise<ContainerPlanItem[]> {
      return planProject(docker, project, planOptions, adopts(project.name));
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
