import type Docker from 'dockerode';
import type { ComposeProject } from '../compose/types.js';
import { EngineError } from '../errors.js';
import { buildContainerSpec, type ContainerSpec } from './container-spec.js';
import { removeContainer } from './containers.js';
import { engineError } from './docker-errors.js';
import { uploadFiles } from './files.js';
import { serviceConfigHash } from './hash.js';
import { containerLabels, containerName, imageRef } from './naming.js';
import { LABEL, type JobRequest, type JobResult } from './types.js';

/** The output kept of a job: its end, where the error usually is. */
export const JOB_OUTPUT_LIMIT = 64 * 1024;

/** Lines asked of Docker's log; the byte cap applies after. */
const LOG_TAIL_LINES = 5000;

/** `<project>-<service>-job-<name>`: fixed per job, so a run a crash left behind is found again. */
export function jobContainerName(project: string, service: string, job: string): string {
  return `${project}-${service}-job-${job}`;
}

/**
 * The service's container, changed into a one-off: the job's command, no host ports (the
 * service's own containers hold them), no restart policy, no healthcheck, and no aliases on its
 * networks, so nothing routed to the service ever reaches it.
 */
function jobSpec(
  project: ComposeProject,
  request: JobRequest,
  name: string,
  apiVersion: string | undefined,
): ContainerSpec {
  const service = project.services[request.service];
  if (service === undefined)
    throw new EngineError('ServiceUnknown', `service ${request.service} is not in the project`, {
      place: { stack: project.name, service: request.service },
    });
  const labels = {
    ...containerLabels({
      project,
      service,
      number: 1,
      hash: serviceConfigHash(project, service, request.labels),
      image: imageRef(project.name, service),
      extra: request.labels,
    }),
    [LABEL.oneoff]: 'True',
    [LABEL.job]: request.name,
  };
  const spec = buildContainerSpec({
    project,
    service: { ...service, containerName: undefined },
    number: 1,
    containerName: name,
    labels,
    resolveServiceContainer: (other) => {
      const target = project.services[other];
      return target === undefined
        ? `${project.name}-${other}-1`
        : containerName(project.name, target, 1);
    },
    image: imageRef(project.name, service),
    serving: false,
    ...(apiVersion === undefined ? {} : { apiVersion }),
  });
  const host = { ...spec.create.HostConfig };
  delete host.PortBindings;
  delete host.RestartPolicy;
  const networks = spec.networks.map((n) => ({ ...n, endpoint: { ...n.endpoint, Aliases: [] } }));
  const first = networks[0];
  return {
    ...spec,
    networks,
    create: {
      ...spec.create,
      ...(request.command === undefined ? {} : { Cmd: request.command }),
      Healthcheck: { Test: ['NONE'] },
      HostConfig: host,
      ...(first === undefined
        ? {}
        : { NetworkingConfig: { EndpointsConfig: { [first.networkName]: first.endpoint } } }),
    },
  };
}

async function createJob(
  docker: Docker,
  project: ComposeProject,
  spec: ContainerSpec,
  place: { stack: string; service: string },
): Promise<Docker.Container> {
  const name = spec.create.name ?? '';
  let container: Docker.Container;
  try {
    container = await docker.createContainer(spec.create);
  } catch (err) {
    throw engineError('ContainerCreateFailed', `cannot create job container ${name}`, err, place);
  }
  try {
    for (const extra of spec.networks.slice(1))
      await docker
        .getNetwork(extra.networkName)
        .connect({ Container: container.id, EndpointConfig: extra.endpoint });
    await uploadFiles(container, spec.files);
  } catch (err) {
    await removeContainer(docker, { id: container.id }, { volumes: true });
    throw engineError('ContainerCreateFailed', `cannot prepare job container ${name}`, err, place);
  }
  return container;
}

/** The last `limit` bytes of a log, demultiplexed unless the container had a TTY. */
export function tailOutput(raw: Buffer, tty: boolean, limit = JOB_OUTPUT_LIMIT): string {
  let text = raw;
  if (!tty) {
    const parts: Buffer[] = [];
    for (let i = 0; i + 8 <= raw.length;) {
      const size = raw.readUInt32BE(i + 4);
      parts.push(raw.subarray(i + 8, i + 8 + size));
      i += 8 + size;
    }
    text = Buffer.concat(parts);
  }
  if (text.length <= limit) return text.toString('utf8');
  return `[… ${text.length - limit} bytes cut]\n${text.subarray(text.length - limit).toString('utf8')}`;
}

async function readOutput(container: Docker.Container, tty: boolean): Promise<string> {
  try {
    const raw = await container.logs({
      stdout: true,
      stderr: true,
      follow: false,
      tail: LOG_TAIL_LINES,
    });
    return tailOutput(raw, tty);
  } catch (err) {
    return `(the job's output could not be read: ${err instanceof Error ? err.message : String(err)})`;
  }
}

/** Waits for the container's exit; kills it at the timeout or when `signal` aborts. */
async function runToExit(
  container: Docker.Container,
  request: JobRequest,
  place: { stack: string; service: string },
): Promise<{ exitCode: number; timedOut: boolean; aborted: boolean }> {
  // Subscribed before the start, so an exit right after it is not missed.
  const exited = container.wait({ condition: 'next-exit' }) as Promise<{ StatusCode: number }>;
  let timedOut = false;
  let aborted = false;
  const kill = (): void => void container.kill().catch(() => undefined);
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, request.timeoutMs);
  const onAbort = (): void => {
    aborted = true;
    kill();
  };
  request.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    try {
      await container.start();
    } catch (err) {
      throw engineError('ContainerStartFailed', 'cannot start the job container', err, place);
    }
    const { StatusCode } = await exited;
    return { exitCode: StatusCode, timedOut, aborted };
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener('abort', onAbort);
    exited.catch(() => undefined);
  }
}

/**
 * Runs one job to its end in a one-off container of the project's service (its image,
 * environment, volumes, networks without aliases, user, working_dir) and removes it. The
 * project's networks, volumes and images must exist (`prepare`). A container of the same job a
 * crash left running is removed first.
 */
export async function runJob(
  docker: Docker,
  project: ComposeProject,
  request: JobRequest,
  apiVersion: string | undefined,
): Promise<JobResult> {
  const place = { stack: project.name, service: request.service };
  const name = jobContainerName(project.name, request.service, request.name);
  await removeContainer(docker, { id: name, place }, { volumes: true });
  const spec = jobSpec(project, request, name, apiVersion);
  const container = await createJob(docker, project, spec, place);
  const started = Date.now();
  try {
    const end = await runToExit(container, request, place);
    const durationMs = Date.now() - started;
    const output = await readOutput(container, spec.create.Tty === true);
    if (end.aborted)
      throw new EngineError('Aborted', `job ${request.name} was cancelled`, { place });
    return { exitCode: end.exitCode, output, durationMs, timedOut: end.timedOut };
  } finally {
    await removeContainer(docker, { id: container.id, place }, { volumes: true });
  }
}
