import { Writable } from 'node:stream';
import type Docker from 'dockerode';
import type { ComposeProject } from '../compose/types.js';
import { EngineError } from '../errors.js';
import type { Logger } from '../log.js';
import { apiVersionAtLeast, buildContainerSpec } from './container-spec.js';
import { createServiceContainer } from './create.js';
import { removeContainer, stopAndRemoveContainer, stopContainer } from './containers.js';
import { engineError, inspectOrUndefined, isNotFound } from './docker-errors.js';
import { serviceConfigHash } from './hash.js';
import { toContainer } from './health.js';
import { ensureServiceImages } from './images.js';
import { NO_CREDENTIALS, type RegistryCredentials } from './registry-credentials.js';
import { containerLabels, containerName, imageRef } from './naming.js';
import { ADOPTS_NOTHING, type Adopts } from './ownership.js';
import { ensureResources } from './resources.js';
import { settleAll } from './settle.js';
import {
  LABEL,
  type CandidateRequest,
  type ObservedContainer,
  type ProbeResult,
  type RolloutEngine,
} from './types.js';

/**
 * Runs in the container for `canary.probe`: curl, else wget (under `timeout` when there is one,
 * since busybox's own `wget -T` is not reliable), else a clear failure.
 */
const PROBE_SCRIPT = [
  't=$1; u=$2',
  'if command -v curl >/dev/null 2>&1; then exec curl -fsS -m "$t" -o /dev/null "$u"; fi',
  'if command -v wget >/dev/null 2>&1; then',
  '  if command -v timeout >/dev/null 2>&1; then exec timeout "$t" wget -q -O /dev/null "$u"; fi',
  '  exec wget -q -O /dev/null "$u"',
  'fi',
  'echo "the container has neither curl nor wget to run canary.probe" >&2; exit 127',
].join('\n');

function serviceOf(
  project: ComposeProject,
  info: Docker.ContainerInspectInfo,
): { name: string; number: number } {
  const labels = info.Config.Labels ?? {};
  const name = labels[LABEL.service] ?? '';
  if (project.services[name] === undefined) {
    throw new EngineError(
      'ServiceUnknown',
      `container ${info.Name.replace(/^\//, '')} belongs to service ${name}, which the project does not define`,
      { place: { stack: project.name, service: name } },
    );
  }
  return { name, number: Number(labels[LABEL.containerNumber] ?? '1') || 1 };
}

/**
 * The rollout steps over dockerode; `apiVersion` is the daemon's, asked once by the engine.
 * Container IDs come from the engine's own listings, which hold only containers berth owns.
 */
export function createRolloutSteps(
  docker: Docker,
  logger: Logger,
  apiVersion: () => Promise<string | undefined>,
  adopts: Adopts = ADOPTS_NOTHING,
  credentials: RegistryCredentials = NO_CREDENTIALS,
): RolloutEngine {
  return {
    async prepare(project, options = {}): Promise<void> {
      const services = (options.services ?? Object.keys(project.services)).filter(
        (s) => project.services[s] !== undefined,
      );
      await settleAll<unknown>([
        ensureResources(docker, project, { adopt: adopts(project.name) }),
        ensureServiceImages({ docker, credentials, logger, project, services }),
      ]);
    },

    async startCandidate(project, request: CandidateRequest): Promise<ObservedContainer> {
      const service = project.services[request.service];
      if (service === undefined) {
        throw new EngineError(
          'ServiceUnknown',
          `service ${request.service} is not in the project`,
          {
            place: { stack: project.name, service: request.service },
          },
        );
      }
      const hash = serviceConfigHash(project, service, request.labels);
      const labels = {
        ...containerLabels({
          project,
          service,
          number: request.number,
          hash,
          image: imageRef(project.name, service),
          extra: request.labels,
        }),
        [LABEL.rollout]: request.rolloutId,
      };
      const version = await apiVersion();
      const container = await createServiceContainer(docker, {
        project,
        service,
        number: request.number,
        name: request.name,
        labels,
        serving: request.serving,
        aliasName: containerName(project.name, service, request.number),
        ...(version === undefined ? {} : { apiVersion: version }),
      });
      try {
        await container.start();
      } catch (err) {
        await removeContainer(docker, { id: container.id }).catch(() => undefined);
        throw engineError('ContainerStartFailed', `cannot start container ${request.name}`, err, {
          stack: project.name,
          service: service.name,
        });
      }
      const info = await inspectOrUndefined(docker, container.id);
      if (info === undefined) {
        throw new EngineError('ContainerGone', `container ${request.name} vanished after start`, {
          place: { stack: project.name, service: service.name },
          transient: true,
        });
      }
      return toContainer(info);
    },

    async setServing(project, containerId, serving): Promise<void> {
      const info = await inspectOrUndefined(docker, containerId);
      if (info === undefined) return;
      const { name: serviceName, number } = serviceOf(project, info);
      const service = project.services[serviceName]!;
      const name = info.Name.replace(/^\//, '');
      const version = await apiVersion();
      const spec = buildContainerSpec({
        project,
        service,
        number,
        containerName: name,
        labels: {},
        resolveServiceContainer: (other) => `${project.name}-${other}-1`,
        image: imageRef(project.name, service),
        serving,
        aliasName: containerName(project.name, service, number),
        ...(version === undefined ? {} : { apiVersion: version }),
      });
      const attached = info.NetworkSettings.Networks;
      const moved: { network: string; before: Docker.NetworkInfo }[] = [];
      for (const network of spec.networks) {
        const current = attached[network.networkName];
        const aliases = (current?.Aliases as string[] | null | undefined) ?? [];
        if (current !== undefined && aliases.includes(service.name) === serving) continue;
        const place = { stack: project.name, service: service.name };
        const handle = docker.getNetwork(network.networkName);
        try {
          if (current !== undefined) await handle.disconnect({ Container: containerId });
        } catch (err) {
          if (!isNotFound(err)) {
            throw engineError(
              'NetworkUpdateFailed',
              `cannot take ${name} off network ${network.networkName}`,
              err,
              place,
            );
          }
        }
        // Same address, and from API 1.44 the same MAC, so peers' ARP caches stay right and
        // connections already open to the container carry on after the reconnect.
        const mac = current?.MacAddress;
        const endpoint =
          mac !== undefined &&
          mac !== '' &&
          version !== undefined &&
          apiVersionAtLeast(version, '1.44')
            ? { ...network.endpoint, MacAddress: mac }
            : network.endpoint;
        try {
          await handle.connect({ Container: containerId, EndpointConfig: endpoint });
        } catch (err) {
          throw engineError(
            'NetworkUpdateFailed',
            `cannot put ${name} back on network ${network.networkName}`,
            err,
            place,
          );
        }
        if (current !== undefined) moved.push({ network: network.networkName, before: current });
        logger.debug(
          { stack: project.name, container: name, network: network.networkName, serving },
          'service aliases changed',
        );
      }
      if (moved.length === 0) return;
      const after = (await inspectOrUndefined(docker, containerId))?.NetworkSettings.Networks;
      for (const { network, before } of moved) {
        const now = after?.[network]?.IPAddress;
        if (now === undefined || now === before.IPAddress) continue;
        // Another container took the address in between (a shared network): open
        // connections to the old address are lost.
        logger.warn(
          { stack: project.name, container: name, network, before: before.IPAddress, after: now },
          'container address changed when its aliases changed',
        );
      }
    },

    async removeContainers(projectName, containerIds): Promise<void> {
      // No timeout: the container's own StopTimeout (stop_grace_period) and StopSignal apply.
      await settleAll(
        containerIds.map((id) =>
          stopAndRemoveContainer(docker, { id, place: { stack: projectName } }),
        ),
      );
    },

    async stopContainers(projectName, containerIds): Promise<void> {
      await settleAll(
        containerIds.map((id) => stopContainer(docker, { id, place: { stack: projectName } })),
      );
    },

    async renameContainer(containerId, name): Promise<void> {
      try {
        await docker.getContainer(containerId).rename({ name });
      } catch (err) {
        throw engineError('ContainerRenameFailed', `cannot rename a container to ${name}`, err);
      }
    },

    async probe(containerId, url, timeoutMs): Promise<ProbeResult> {
      const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
      const container = docker.getContainer(containerId);
      let output = '';
      try {
        const exec = await container.exec({
          Cmd: ['sh', '-c', PROBE_SCRIPT, 'probe', String(seconds), url],
          AttachStdout: true,
          AttachStderr: true,
        });
        const stream = await exec.start({ hijack: true, stdin: false });
        await new Promise<void>((resolve, reject) => {
          const sink = new Writable({
            write(chunk: Buffer, _encoding, done): void {
              if (output.length < 2000) output += chunk.toString('utf8');
              done();
            },
          });
          docker.modem.demuxStream(stream, sink, sink);
          // The script bounds the request itself; this only guards against a hung exec.
          const timer = setTimeout(
            () => {
              stream.destroy();
              reject(new Error(`probe did not finish within ${seconds + 5} s`));
            },
            (seconds + 5) * 1000,
          );
          stream.on('end', () => {
            clearTimeout(timer);
            resolve();
          });
          stream.on('error', (err: Error) => {
            clearTimeout(timer);
            reject(err);
          });
        });
        const result = await exec.inspect();
        const code = result.ExitCode ?? -1;
        const detail = output.trim();
        return code === 0
          ? { ok: true, detail: `${url} answered` }
          : { ok: false, detail: `${url}: exit ${code}${detail === '' ? '' : ` (${detail})`}` };
      } catch (err) {
        return {
          ok: false,
          detail: `${url}: probe could not run (${err instanceof Error ? err.message : String(err)})`,
        };
      }
    },

    async inspectContainers(containerIds): Promise<ObservedContainer[]> {
      const infos = await settleAll(containerIds.map((id) => inspectOrUndefined(docker, id)));
      return infos.flatMap((info) => (info === undefined ? [] : [toContainer(info)]));
    },
  };
}
