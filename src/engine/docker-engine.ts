import path from 'node:path';
import Docker from 'dockerode';
import type { ComposeProject } from '../compose/types.js';
import type { Logger } from '../log.js';
import { countCalls } from './call-counter.js';
import { applyProject, planProject } from './converge.js';
import { ACTIVE_STATES, restartContainer, startContainer } from './containers.js';
import { engineError } from './docker-errors.js';
import { resolveImageDigest } from './images.js';
import { waitProjectHealthy } from './health.js';
import { watchManagedEvents } from './managed-events.js';
import { toHostProject } from './host-paths.js';
import { emptyProject, groupByProject, listForeign, listProject } from './observe.js';
import { ADOPTS_NOTHING, type Adopts } from './ownership.js';
import { NO_CREDENTIALS, type RegistryCredentials } from './registry-credentials.js';
import { removeResources } from './resources.js';
import { createRolloutSteps } from './rollout.js';
import { runJob } from './run-job.js';
import { detectSelf, PROC_SELF, type SelfInfo, type SelfProbe } from './self.js';
import type {
  ApplyOptions,
  ApplyResult,
  ContainerEngine,
  ContainerPlanItem,
  DownOptions,
  EventSubscription,
  HealthOptions,
  HealthReport,
  JobRequest,
  JobResult,
  ManagedContainerEvent,
  ObservedContainer,
  ObservedProject,
  PlanOptions,
  SelfContainer,
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
  /**
   * berth's data dir. When berth runs in a container, bind sources inside it (the stack files
   * berth copied there) are handed to Docker as host paths, through berth's own mounts. Without
   * it nothing is translated.
   */
  dataDir?: string;
  /** How berth finds its own container (default: /proc/self/mountinfo and the hostname). */
  selfProbe?: SelfProbe;
  /**
   * Registry credentials for every pull, build and digest look-up (createRegistryCredentials).
   * Default: none, so images are pulled anonymously.
   */
  credentials?: RegistryCredentials;
}

/** berth's ContainerEngine over dockerode: Compose v2 behaviour without the compose CLI. */
export function createDockerEngine(options: DockerEngineOptions): ContainerEngine {
  const docker = options.docker ?? new Docker();
  const logger = options.logger;
  const calls = countCalls(docker);
  const adopts = options.adopts ?? ADOPTS_NOTHING;
  const credentials = options.credentials ?? NO_CREDENTIALS;

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

  let selfFound: Promise<SelfInfo | undefined> | undefined;
  /** berth's own container, looked for once; a daemon that does not answer is asked again. */
  function findSelf(): Promise<SelfInfo | undefined> {
    selfFound ??= detectSelf(docker, options.selfProbe ?? PROC_SELF).then(
      (found) => {
        logger.info(
          found === undefined
            ? { container: null }
            : {
                container: found.id,
                name: found.name,
                project: found.project,
                mounts: found.mounts.length,
              },
          'self container',
        );
        return found;
      },
      (err: unknown) => {
        selfFound = undefined;
        throw err;
      },
    );
    return selfFound;
  }

  const dataDir = options.dataDir === undefined ? undefined : path.resolve(options.dataDir);
  /**
   * The project with the paths berth produced as the Docker host sees them. Translated before
   * hashing, so the config hash covers what Docker really mounts and stays the same from one
   * apply to the next; strict callers are refused before they change anything.
   */
  async function hostProject(project: ComposeProject, strict: boolean): Promise<ComposeProject> {
    if (dataDir === undefined) return project;
    const self = await findSelf();
    if (self === undefined) return project;
    return toHostProject(project, { dataDir, mounts: self.mounts, strict });
  }

  async function list(projectName: string): Promise<Docker.ContainerInfo[]> {
    try {
      return await listProject(docker, projectName, adopts(projectName));
    } catch (err) {
      throw engineError('ListFailed', 'cannot list containers', err, { stack: projectName });
    }
  }

  const steps = createRolloutSteps(docker, logger, daemonApiVersion, adopts, credentials);
  return {
    ...steps,

    async prepare(project, prepareOptions): Promise<void> {
      return steps.prepare(await hostProject(project, true), prepareOptions);
    },

    async startCandidate(project, request): Promise<ObservedContainer> {
      return steps.startCandidate(await hostProject(project, true), request);
    },

    async apply(project: ComposeProject, applyOptions?: ApplyOptions): Promise<ApplyResult> {
      const hosted = await hostProject(project, true);
      const apiVersion = await daemonApiVersion();
      return applyProject(docker, logger, hosted, applyOptions, {
        adopt: adopts(project.name),
        credentials,
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

    async runJob(project: ComposeProject, request: JobRequest): Promise<JobResult> {
      const hosted = await hostProject(project, true);
      return runJob(docker, hosted, request, await daemonApiVersion());
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

    async plan(project: ComposeProject, planOptions?: PlanOptions): Promise<ContainerPlanItem[]> {
      const hosted = await hostProject(project, false);
      return planProject(docker, hosted, planOptions, adopts(project.name));
    },

    resolveDigest(
      ref: string,
      digestOptions: { stack?: string } = {},
    ): Promise<string | undefined> {
      const place = digestOptions.stack === undefined ? {} : { stack: digestOptions.stack };
      return resolveImageDigest(docker, credentials, ref, place);
    },

    async self(): Promise<SelfContainer | undefined> {
      const found = await findSelf();
      if (found === undefined) return undefined;
      return {
        id: found.id,
        name: found.name,
        ...(found.project === undefined ? {} : { project: found.project }),
      };
    },

    async checkHostPaths(project: ComposeProject): Promise<void> {
      await hostProject(project, true);
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
