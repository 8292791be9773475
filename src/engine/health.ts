import type Docker from 'dockerode';
import type { ComposeProject, DependsOnCondition } from '../compose/types.js';
import { EngineError } from '../errors.js';
import { engineError } from './docker-errors.js';
import type { EventFeed } from './events.js';
import { openEvents } from './events.js';
import { listProject, toObservedContainer } from './observe.js';
import type {
  HealthOptions,
  HealthReport,
  ObservedContainer,
  ServiceHealth,
  ServiceHealthStatus,
} from './types.js';
import { LABEL } from './types.js';
import { watchContainers, type InspectMap, type Verdict } from './watch.js';

type ContainerVerdict = { state: 'ok' } | { state: 'wait' } | { state: 'fail'; why: string };

function checkCondition(
  info: Docker.ContainerInspectInfo,
  condition: DependsOnCondition,
): ContainerVerdict {
  const state = info.State;
  if (condition === 'service_completed_successfully') {
    if (state.Status === 'exited' || state.Status === 'dead') {
      return state.ExitCode === 0
        ? { state: 'ok' }
        : { state: 'fail', why: `exited with code ${state.ExitCode}` };
    }
    return { state: 'wait' };
  }
  if (condition === 'service_healthy') {
    if (state.Health === undefined) return { state: 'fail', why: 'has no healthcheck' };
    if (state.Health.Status === 'healthy') return { state: 'ok' };
    if (state.Health.Status === 'unhealthy') return { state: 'fail', why: 'is unhealthy' };
    if (state.Status === 'exited' || state.Status === 'dead') {
      return { state: 'fail', why: `exited with code ${state.ExitCode}` };
    }
    return { state: 'wait' };
  }
  return state.Status === 'running' || state.Status === 'exited'
    ? { state: 'ok' }
    : { state: 'wait' };
}

/**
 * Waits until every container of a dependency meets a depends_on condition, following the
 * events feed. Throws DependencyFailed when it cannot (unhealthy, failed exit) and
 * DependencyTimeout after `timeoutMs`.
 */
export async function waitForDependency(input: {
  docker: Docker;
  feed: EventFeed;
  stack: string;
  service: string;
  dependency: string;
  containerIds: string[];
  condition: DependsOnCondition;
  timeoutMs: number;
  signal?: AbortSignal;
}): Promise<void> {
  const place = { stack: input.stack, service: input.service };
  const result = await watchContainers<{ failed?: string }>({
    docker: input.docker,
    feed: input.feed,
    initialIds: input.containerIds,
    deadline: Date.now() + input.timeoutMs,
    ...(input.signal === undefined ? {} : { signal: input.signal }),
    place,
    evaluate: (containers) => {
      let waiting = false;
      for (const info of containers.values()) {
        const verdict = checkCondition(info, input.condition);
        if (verdict.state === 'fail') {
          return {
            done: true,
            value: { failed: `${info.Name.replace(/^\//, '')} ${verdict.why}` },
          };
        }
        if (verdict.state === 'wait') waiting = true;
      }
      if (containers.size === 0) {
        return { done: true, value: { failed: 'has no container' } };
      }
      return waiting ? { done: false } : { done: true, value: {} };
    },
    onTimeout: () => {
      throw new EngineError(
        'DependencyTimeout',
        `service ${input.service}: dependency ${input.dependency} did not reach ${input.condition} within ${input.timeoutMs} ms`,
        { place },
      );
    },
  });
  if (result.failed !== undefined) {
    throw new EngineError(
      'DependencyFailed',
      `service ${input.service}: dependency ${input.dependency} failed ${input.condition}: ${result.failed}`,
      { place },
    );
  }
}

interface ContainerHealthLine {
  status: 'healthy' | 'unhealthy' | 'starting' | 'completed';
  line: string;
  wakeAt?: number;
}

function isOneShot(info: Docker.ContainerInspectInfo): boolean {
  const policy = info.HostConfig.RestartPolicy?.Name ?? '';
  return policy === '' || policy === 'no' || policy === 'on-failure';
}

function judgeContainer(
  info: Docker.ContainerInspectInfo,
  baselineRestarts: number,
  stabilityMs: number,
  now: number,
): ContainerHealthLine {
  const name = info.Name.replace(/^\//, '');
  const state = info.State;
  if (info.RestartCount > baselineRestarts || state.Restarting) {
    return {
      status: 'unhealthy',
      line: `${name}: restart loop (${info.RestartCount} restarts, last exit ${state.ExitCode})`,
    };
  }
  if (state.Status === 'exited' || state.Status === 'dead') {
    if (state.ExitCode === 0 && isOneShot(info)) {
      return { status: 'completed', line: `${name}: completed (exit 0)` };
    }
    return { status: 'unhealthy', line: `${name}: exited with code ${state.ExitCode}` };
  }
  if (state.Status !== 'running') {
    return { status: 'starting', line: `${name}: ${state.Status}` };
  }
  if (state.Health !== undefined) {
    const health = state.Health.Status;
    if (health === 'healthy') return { status: 'healthy', line: `${name}: healthy` };
    if (health === 'unhealthy') {
      const last = state.Health.Log?.at(-1)?.Output?.trim();
      return {
        status: 'unhealthy',
        line: `${name}: unhealthy${last === undefined || last === '' ? '' : ` (${last.slice(0, 200)})`}`,
      };
    }
    return { status: 'starting', line: `${name}: health ${health}` };
  }
  const startedAt = Date.parse(state.StartedAt);
  const stableAt = (Number.isNaN(startedAt) ? now : startedAt) + stabilityMs;
  if (now >= stableAt) {
    return {
      status: 'healthy',
      line: `${name}: running ${Math.round((now - startedAt) / 1000)} s without restart`,
    };
  }
  return {
    status: 'starting',
    line: `${name}: running, stable in ${stableAt - now} ms`,
    wakeAt: stableAt,
  };
}

/** An inspected container in the observed shape; `health` defaults to what the inspect says. */
export function toContainer(
  info: Docker.ContainerInspectInfo,
  health?: ObservedContainer['health'],
): ObservedContainer {
  const status = info.State.Health?.Status;
  health ??=
    status === 'healthy' || status === 'unhealthy' || status === 'starting' ? status : 'none';
  const labels = info.Config.Labels ?? {};
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    service: labels[LABEL.service] ?? '',
    number: Number(labels[LABEL.containerNumber] ?? '0') || 0,
    state: (info.State.Status as ObservedContainer['state']) ?? 'dead',
    health,
    ...(labels[LABEL.configHash] === undefined ? {} : { configHash: labels[LABEL.configHash] }),
    image: info.Config.Image,
    imageId: info.Image,
    labels,
    exitCode: info.State.ExitCode,
    restartCount: info.RestartCount,
    startedAt: info.State.StartedAt,
  };
}

function evaluateProject(
  services: { name: string; replicas: number }[],
  containers: InspectMap,
  baseline: Map<string, number>,
  stabilityMs: number,
  now: number,
): { services: ServiceHealth[]; wakeAt?: number } {
  const result: ServiceHealth[] = [];
  let wakeAt: number | undefined;
  for (const svc of services) {
    const infos = [...containers.values()]
      .filter(
        (i) =>
          i.Config.Labels?.[LABEL.service] === svc.name && i.Config.Labels[LABEL.oneoff] !== 'True',
      )
      .sort((a, b) => a.Name.localeCompare(b.Name));
    const lines: string[] = [];
    const statuses: ContainerHealthLine['status'][] = [];
    const observed: ObservedContainer[] = [];
    for (const info of infos) {
      const judged = judgeContainer(
        info,
        baseline.get(info.Id) ?? info.RestartCount,
        stabilityMs,
        now,
      );
      lines.push(judged.line);
      statuses.push(judged.status);
      if (judged.wakeAt !== undefined) wakeAt = Math.min(wakeAt ?? judged.wakeAt, judged.wakeAt);
      const health = info.State.Health?.Status;
      observed.push(
        toContainer(
          info,
          health === 'healthy' || health === 'unhealthy' || health === 'starting' ? health : 'none',
        ),
      );
    }
    let status: ServiceHealthStatus;
    if (statuses.includes('unhealthy')) status = 'unhealthy';
    else if (svc.replicas === 0) status = 'healthy';
    else if (infos.length < svc.replicas) status = 'missing';
    else if (statuses.includes('starting')) status = 'starting';
    else if (statuses.every((s) => s === 'completed')) status = 'completed';
    else status = 'healthy';
    if (status === 'missing') lines.push(`${infos.length}/${svc.replicas} containers`);
    if (svc.replicas === 0 && infos.length === 0) lines.push('scaled to 0');
    result.push({ service: svc.name, status, detail: lines.join('; '), containers: observed });
  }
  return { services: result, ...(wakeAt === undefined ? {} : { wakeAt }) };
}

function summary(outcome: HealthReport['outcome'], services: ServiceHealth[]): string {
  const bad = services.filter((s) => s.status !== 'healthy' && s.status !== 'completed');
  if (outcome === 'healthy') return `all ${services.length} services healthy`;
  const parts = bad.map((s) => `${s.service} ${s.status}: ${s.detail}`);
  return `${outcome}: ${parts.join(' | ')}`;
}

/**
 * The stack health gate: waits until every service is healthy (or completed), one turns
 * unhealthy, or the timeout passes. Never throws for an unhealthy stack.
 */
export async function waitProjectHealthy(
  docker: Docker,
  project: ComposeProject,
  options: HealthOptions,
): Promise<HealthReport> {
  const started = Date.now();
  const stabilityMs = options.stabilityMs ?? 10_000;
  const only = options.containerIds === undefined ? undefined : new Set(options.containerIds);
  const feed = await openEvents(docker, project.name);
  try {
    let listing: Docker.ContainerInfo[];
    try {
      listing = await listProject(docker, project.name);
    } catch (err) {
      throw engineError('ListFailed', 'cannot list containers', err, { stack: project.name });
    }
    const listed = listing
      .map((c) => toObservedContainer(c))
      .filter((c): c is ObservedContainer => c !== undefined);
    let services: { name: string; replicas: number }[];
    if (only === undefined) {
      services = (options.services ?? Object.keys(project.services)).map((name) => ({
        name,
        replicas: project.services[name]?.replicas ?? 1,
      }));
    } else {
      // Each service counts the containers it was given; any already gone keep the wait from passing.
      const counts = new Map<string, number>();
      for (const c of listed)
        if (only.has(c.id)) counts.set(c.service, (counts.get(c.service) ?? 0) + 1);
      services = [...counts].map(([name, replicas]) => ({ name, replicas }));
      const gone = only.size - services.reduce((n, s) => n + s.replicas, 0);
      if (gone > 0) services.push({ name: 'removed containers', replicas: gone });
    }
    const names = new Set(services.map((s) => s.name));
    const initialIds = listed
      .filter((c) => (only === undefined ? names.has(c.service) : only.has(c.id)))
      .map((c) => c.id);
    const baseline = new Map<string, number>();
    const report = (outcome: HealthReport['outcome'], svcs: ServiceHealth[]): HealthReport => ({
      healthy: outcome === 'healthy',
      outcome,
      services: svcs,
      detail: summary(outcome, svcs),
      elapsedMs: Date.now() - started,
    });
    return await watchContainers<HealthReport>({
      docker,
      feed,
      initialIds,
      adopt: (id, attributes) =>
        only === undefined
          ? names.has(attributes[LABEL.service] ?? '') && attributes[LABEL.oneoff] !== 'True'
          : only.has(id),
      deadline: started + options.timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      place: { stack: project.name },
      evaluate: (containers, now): Verdict<HealthReport> => {
        for (const [id, info] of containers)
          if (!baseline.has(id)) baseline.set(id, info.RestartCount);
        const evaluated = evaluateProject(services, containers, baseline, stabilityMs, now);
        const statuses = evaluated.services.map((s) => s.status);
        if (statuses.includes('unhealthy')) {
          return { done: true, value: report('unhealthy', evaluated.services) };
        }
        if (statuses.every((s) => s === 'healthy' || s === 'completed')) {
          return { done: true, value: report('healthy', evaluated.services) };
        }
        return {
          done: false,
          ...(evaluated.wakeAt === undefined ? {} : { wakeAt: evaluated.wakeAt }),
        };
      },
      onTimeout: (containers) =>
        report(
          'timeout',
          evaluateProject(services, containers, baseline, stabilityMs, Date.now()).services,
        ),
    });
  } finally {
    feed.close();
  }
}
