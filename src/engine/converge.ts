import type Docker from 'dockerode';
import type { ComposeProject, DependsOnConfig, ServiceConfig } from '../compose/types.js';
import { referencedServices } from '../compose/dependencies.js';
import { EngineError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  computeContainerPlan,
  type ContainerPlanEntry,
  type DesiredService,
} from './container-plan.js';
import { ACTIVE_STATES, startContainer, stopAndRemoveContainer } from './containers.js';
import { engineError, isNotFound } from './docker-errors.js';
import { openEvents, type EventFeed } from './events.js';
import { createServiceContainer } from './create.js';
import { serviceConfigHash } from './hash.js';
import { waitForDependency } from './health.js';
import { ensureServiceImages } from './images.js';
import { NO_CREDENTIALS, type RegistryCredentials } from './registry-credentials.js';
import { containerLabels, containerName, imageRef } from './naming.js';
import { emptyProject, groupByProject, listProject } from './observe.js';
import { ensureResources } from './resources.js';
import { settleAll } from './settle.js';
import { projectGraph, walkServices } from './walk.js';
import type {
  ApplyOptions,
  ApplyResult,
  ContainerPlanItem,
  ObservedContainer,
  ObservedProject,
  PlanOptions,
} from './types.js';

// Kept here for callers that know them from the engine.
export {
  dependencyLevels,
  referencedServices,
  serviceDependencies,
} from '../compose/dependencies.js';

/**
 * The container plan apply executes: desired services (hash, image, replicas) against one
 * listing. Shared by apply and the read-only `plan`, so both report the same entries.
 */
export function planContainers(
  project: ComposeProject,
  selected: string[],
  imageIdOf: Map<string, string>,
  observed: ObservedProject,
  options: Pick<ApplyOptions, 'labels' | 'removeOrphans' | 'forceRecreate'> = {},
): { plan: ContainerPlanEntry[]; hashes: Map<string, string> } {
  const stack = project.name;
  const extraLabels = options.labels ?? {};
  const hashes = new Map<string, string>();
  const desired: DesiredService[] = selected.map((name) => {
    const service = project.services[name]!;
    const hash = serviceConfigHash(project, service, extraLabels);
    hashes.set(name, hash);
    return {
      service: name,
      hash,
      imageId: imageIdOf.get(name)!,
      replicas: service.replicas,
      containerName: (n: number) => containerName(stack, service, n),
      restartWith: Object.entries(service.dependsOn)
        .filter(([, d]) => d.restart)
        .map(([dep]) => dep),
    };
  });
  const plan = computeContainerPlan(desired, observed, {
    removeOrphans: options.removeOrphans ?? true,
    forceRecreate: options.forceRecreate ?? false,
    projectServices: Object.keys(project.services),
  });
  return { plan, hashes };
}

/** Image IDs as they are locally, without pulling or building: what `plan` compares with. */
async function localImageIds(
  docker: Docker,
  project: ComposeProject,
  selected: string[],
): Promise<Map<string, string | undefined>> {
  const refs = new Map<string, Promise<string | undefined>>();
  const out = new Map<string, string | undefined>();
  await settleAll(
    selected.map(async (name) => {
      const ref = imageRef(project.name, project.services[name]!);
      let id = refs.get(ref);
      if (id === undefined) {
        id = docker
          .getImage(ref)
          .inspect()
          .then(
            (info) => info.Id,
            (err: unknown) => {
              if (isNotFound(err)) return undefined;
              throw engineError('InspectFailed', `cannot inspect image ${ref}`, err, {
                stack: project.name,
                service: name,
              });
            },
          );
        refs.set(ref, id);
      }
      out.set(name, await id);
    }),
  );
  return out;
}

/**
 * What `applyProject` would do, without doing it: one listing and image inspects, no writes.
 * An image missing locally would be pulled or built, so its containers are reported as
 * recreated (or created) with that reason.
 */
export async function planProject(
  docker: Docker,
  project: ComposeProject,
  options: PlanOptions = {},
  adopt = false,
): Promise<ContainerPlanItem[]> {
  const stack = project.name;
  const selected = (options.services ?? Object.keys(project.services)).filter(
    (s) => project.services[s] !== undefined,
  );
  const [listed, images] = await Promise.all([
    listProject(docker, stack, adopt).catch((err: unknown) => {
      throw engineError('ListFailed', 'cannot list containers', err, { stack });
    }),
    localImageIds(docker, project, selected),
  ]);
  const observed = groupByProject(listed).get(stack) ?? emptyProject(stack);
  const missingImage = new Set<string>();
  const imageIdOf = new Map<string, string>();
  for (const name of selected) {
    const id = images.get(name);
    if (id === undefined) missingImage.add(name);
    // No local image: no container can match it, as after a pull.
    imageIdOf.set(name, id ?? `missing:${imageRef(stack, project.services[name]!)}`);
  }
  const { plan } = planContainers(project, selected, imageIdOf, observed, options);
  return plan.map((e) => {
    const reason =
      e.action === 'recreate' && e.reason === 'image changed' && missingImage.has(e.service)
        ? `image ${imageRef(stack, project.services[e.service]!)} not present locally (pull or build)`
        : e.reason;
    return {
      subject: e.subject,
      action: e.action,
      reason,
      service: e.service,
      number: e.number,
      ...(e.container === undefined ? {} : { containerId: e.container.id }),
      ...(e.start === true ? { start: true } : {}),
      ...(e.restart === true ? { restart: true } : {}),
    };
  });
}

interface ServiceOutcome {
  /** IDs of the service's containers after converging. */
  containerIds: string[];
  /** True when nothing about the containers changed and the listing's state still holds. */
  untouched: boolean;
  observed: ObservedContainer[];
}

function stopSeconds(service: ServiceConfig): number | undefined {
  return service.stopGracePeriodMs === undefined
    ? undefined
    : Math.ceil(service.stopGracePeriodMs / 1000);
}

function conditionHolds(containers: ObservedContainer[], dep: DependsOnConfig): boolean {
  if (containers.length === 0) return false;
  return containers.every((c) => {
    if (dep.condition === 'service_healthy') return c.state === 'running' && c.health === 'healthy';
    if (dep.condition === 'service_completed_successfully') {
      return c.state === 'exited' && c.exitCode === 0;
    }
    return c.state === 'running' || c.state === 'exited';
  });
}

/** Whether some service will wait for a dependency this apply changes to turn healthy or exit. */
function waitsOnChanges(
  project: ComposeProject,
  selected: readonly string[],
  plan: readonly ContainerPlanEntry[],
): boolean {
  const changed = new Set(
    plan
      .filter((e) => e.action !== 'unchanged' || e.start === true || e.restart === true)
      .map((e) => e.service),
  );
  return selected.some((name) =>
    Object.entries(project.services[name]!.dependsOn).some(
      ([dep, d]) => d.condition !== 'service_started' && changed.has(dep),
    ),
  );
}

/** What the engine knows beside the apply's options: the daemon's API version, adoption. */
export interface ApplyScope {
  apiVersion?: string;
  /** The project's hand-run containers, networks and volumes count as berth's (policy.adopt). */
  adopt?: boolean;
  /** Registry logins for pulls and builds; anonymous without. */
  credentials?: RegistryCredentials;
}

/**
 * Converges the Docker host to the project like `docker compose up -d`: images, networks and
 * volumes first, then a pure container plan, executed service by service as soon as each
 * service's dependencies are up and meet their depends_on conditions.
 */
export async function applyProject(
  docker: Docker,
  logger: Logger,
  project: ComposeProject,
  options: ApplyOptions = {},
  scope: ApplyScope = {},
): Promise<ApplyResult> {
  const { apiVersion } = scope;
  const adopt = scope.adopt ?? false;
  const stack = project.name;
  const progress = options.onProgress;
  const signal = options.signal;
  const selected = (options.services ?? Object.keys(project.services)).filter(
    (s) => project.services[s] !== undefined,
  );
  const selectedSet = new Set(selected);
  const graph = projectGraph(project);
  const dependencyTimeoutMs = options.dependencyTimeoutMs ?? 120_000;
  const extraLabels = options.labels ?? {};

  // Aborted by the caller, or by the first failure so sibling services stop waiting and creating.
  const halt = new AbortController();
  const onCallerAbort = (): void => halt.abort(signal?.reason);
  if (signal?.aborted === true) halt.abort(signal.reason);
  signal?.addEventListener('abort', onCallerAbort, { once: true });

  function checkAborted(): void {
    if (halt.signal.aborted) {
      throw new EngineError('Aborted', `apply of ${stack} aborted`, {
        cause: halt.signal.reason,
        place: { stack },
      });
    }
  }

  const listing = listProject(docker, stack, adopt).catch((err: unknown) => {
    throw engineError('ListFailed', 'cannot list containers', err, { stack });
  });
  const imagesReady = ensureServiceImages({
    docker,
    credentials: scope.credentials ?? NO_CREDENTIALS,
    logger,
    project,
    services: selected,
    ...(progress === undefined ? {} : { onProgress: progress }),
  });
  try {
    await settleAll<unknown>([
      listing,
      imagesReady,
      ensureResources(docker, project, {
        adopt,
        ...(progress === undefined ? {} : { onProgress: progress }),
      }),
    ]);
  } catch (err) {
    signal?.removeEventListener('abort', onCallerAbort);
    throw err;
  }
  const listed = await listing;
  const imageIdOf = await imagesReady;
  checkAborted();
  const observed = groupByProject(listed).get(stack) ?? emptyProject(stack);

  const { plan, hashes } = planContainers(project, selected, imageIdOf, observed, options);
  for (const entry of plan) {
    if (entry.action !== 'unchanged' || entry.start === true || entry.restart === true) {
      logger.debug(
        { stack, container: entry.subject, action: entry.action, reason: entry.reason },
        'container plan',
      );
    }
  }

  let feed: Promise<EventFeed> | undefined;
  const getFeed = (): Promise<EventFeed> => (feed ??= openEvents(docker, stack, adopt));

  function stopAndRemove(container: ObservedContainer, t: number | undefined): Promise<void> {
    return stopAndRemoveContainer(
      docker,
      { id: container.id, name: container.name, place: { stack, service: container.service } },
      {
        stop: ACTIVE_STATES.has(container.state),
        ...(t === undefined ? {} : { timeoutSeconds: t }),
        onStep: (step) => progress?.({ step, subject: container.name }),
      },
    );
  }

  function create(service: ServiceConfig, number: number): Promise<Docker.Container> {
    checkAborted();
    progress?.({ step: 'create', subject: containerName(stack, service, number) });
    return createServiceContainer(docker, {
      project,
      service,
      number,
      labels: containerLabels({
        project,
        service,
        number,
        hash: hashes.get(service.name)!,
        image: imageRef(stack, service),
        extra: extraLabels,
      }),
      ...(apiVersion === undefined ? {} : { apiVersion }),
    });
  }

  async function start(
    service: ServiceConfig,
    container: Docker.Container,
    number: number,
  ): Promise<string> {
    const name = containerName(stack, service, number);
    checkAborted();
    progress?.({ step: 'start', subject: name });
    try {
      await container.start();
    } catch (err) {
      throw engineError('ContainerStartFailed', `cannot start container ${name}`, err, {
        stack,
        service: service.name,
      });
    }
    return container.id;
  }

  async function createAndStart(service: ServiceConfig, number: number): Promise<string> {
    return start(service, await create(service, number), number);
  }

  async function executeEntry(
    service: ServiceConfig,
    entry: ContainerPlanEntry,
  ): Promise<string | undefined> {
    const place = { stack, service: service.name };
    switch (entry.action) {
      case 'remove':
        if (entry.container !== undefined)
          await stopAndRemove(entry.container, stopSeconds(service));
        return undefined;
      case 'recreate':
        if (entry.container !== undefined)
          await stopAndRemove(entry.container, stopSeconds(service));
        return createAndStart(service, entry.number);
      case 'create': {
        const early = precreated.get(entry.subject);
        return early === undefined
          ? createAndStart(service, entry.number)
          : start(service, await early, entry.number);
      }
      case 'unchanged': {
        const id = entry.container?.id;
        if (id === undefined) return undefined;
        if (entry.start === true) {
          progress?.({ step: 'start', subject: entry.subject });
          await startContainer(docker, { id, name: entry.subject, place });
        } else if (entry.restart === true) {
          progress?.({ step: 'start', subject: entry.subject, detail: 'restart' });
          const t = stopSeconds(service);
          try {
            await docker.getContainer(id).restart(t === undefined ? {} : { t });
          } catch (err) {
            throw engineError('ContainerStartFailed', `cannot start ${entry.subject}`, err, place);
          }
        }
        return id;
      }
      default:
        return entry.container?.id;
    }
  }

  const precreated = new Map<string, Promise<Docker.Container>>();

  /** Outcomes of the services converged so far; the walk converges dependencies first. */
  const outcomes = new Map<string, ServiceOutcome>();
  const dependencyWaits = new Map<string, Promise<void>>();
  async function awaitDependency(
    service: ServiceConfig,
    depName: string,
    dep: DependsOnConfig,
  ): Promise<void> {
    const depService = project.services[depName];
    if (depService === undefined) {
      if (!dep.required) return;
      throw new EngineError(
        'DependencyMissing',
        `service ${service.name} depends on missing service ${depName}`,
        {
          place: { stack, service: service.name, field: 'depends_on' },
        },
      );
    }
    if (depService.replicas === 0) return;
    const outcome = outcomes.get(depName) ?? {
      containerIds: (observed.services[depName]?.containers ?? []).map((c) => c.id),
      untouched: true,
      observed: observed.services[depName]?.containers ?? [],
    };
    if (outcome.untouched && conditionHolds(outcome.observed, dep)) return;
    if (outcome.containerIds.length === 0) {
      if (!dep.required) return;
      throw new EngineError(
        'DependencyFailed',
        `service ${service.name}: dependency ${depName} has no container`,
        {
          place: { stack, service: service.name },
        },
      );
    }
    if (dep.condition === 'service_started') return;
    progress?.({ step: 'wait', subject: service.name, detail: `${depName} ${dep.condition}` });
    // Dependents of the same service share one wait: fewer inspects while containers start.
    const key = `${depName}\0${dep.condition}`;
    let shared = dependencyWaits.get(key);
    if (shared === undefined) {
      shared = getFeed().then((feed) =>
        waitForDependency({
          docker,
          feed,
          stack,
          service: service.name,
          dependency: depName,
          containerIds: outcome.containerIds,
          condition: dep.condition,
          timeoutMs: dependencyTimeoutMs,
          signal: halt.signal,
        }),
      );
      dependencyWaits.set(key, shared);
    }
    try {
      await shared;
    } catch (err) {
      if (err instanceof EngineError && err.place.service !== service.name) {
        throw new EngineError(
          err.reason,
          err.message.replace(/^service [^:]+:/, `service ${service.name}:`),
          {
            cause: err.cause,
            place: { ...err.place, service: service.name },
            transient: err.transient,
          },
        );
      }
      throw err;
    }
  }

  async function convergeService(service: ServiceConfig): Promise<ServiceOutcome> {
    await Promise.all(
      Object.entries(service.dependsOn).map(([depName, dep]) =>
        awaitDependency(service, depName, dep),
      ),
    );
    checkAborted();
    const entries = plan.filter((e) => e.service === service.name);
    const ids = await settleAll(entries.map((e) => executeEntry(service, e)));
    const untouched = entries.every(
      (e) => e.action === 'unchanged' && e.start !== true && e.restart !== true,
    );
    return {
      containerIds: ids.filter((id): id is string => id !== undefined),
      untouched,
      observed: entries.flatMap((e) => (e.container === undefined ? [] : [e.container])),
    };
  }

  try {
    // Opened while the first containers are created, not once a dependency has started.
    if (waitsOnChanges(project, selected, plan)) getFeed().catch(() => undefined);
    const orphans = plan.filter((e) => !selectedSet.has(e.service) && e.action === 'remove');
    await settleAll(orphans.map((e) => stopAndRemove(e.container!, undefined)));

    /*
     * Like Compose v2, new containers are created up front and only started once their
     * dependencies are up, which takes creation off the dependency chain. Services whose create
     * body names another service's container wait, since that container may still be replaced.
     */
    for (const entry of plan) {
      if (entry.action !== 'create' || !selectedSet.has(entry.service)) continue;
      const service = project.services[entry.service]!;
      if (referencedServices(service).length > 0) continue;
      const pending = create(service, entry.number);
      // Awaited when the entry runs; a dependency failing first must not leave it unhandled.
      pending.catch(() => undefined);
      precreated.set(entry.subject, pending);
    }

    // Let every started operation finish before reporting, so nothing runs on after apply
    // returns; report the failure that came first, not a sibling's abort it caused.
    let firstError: { err: unknown } | undefined;
    const fail = (err: unknown): void => {
      if (firstError !== undefined) return;
      firstError = { err };
      halt.abort(err);
    };
    const settled = [...precreated.values()].map((p) => p.then(() => undefined, fail));
    await walkServices(
      graph,
      async (name) => {
        try {
          outcomes.set(name, await convergeService(project.services[name]!));
        } catch (err) {
          fail(err);
          throw err;
        }
      },
      { only: selectedSet },
    ).catch(() => undefined);
    await Promise.all(settled);
    if (firstError !== undefined) throw firstError.err;
  } finally {
    signal?.removeEventListener('abort', onCallerAbort);
    if (feed !== undefined) {
      await feed.then(
        (f) => f.close(),
        () => undefined,
      );
    }
  }
  return { plan: plan.map((e) => ({ subject: e.subject, action: e.action, reason: e.reason })) };
}
