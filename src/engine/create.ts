import type Docker from 'dockerode';
import type { ComposeProject, ServiceConfig } from '../compose/types.js';
import { buildContainerSpec } from './container-spec.js';
import { engineError } from './docker-errors.js';
import { uploadFiles } from './files.js';
import { containerName, imageRef } from './naming.js';

export interface CreateContainerInput {
  project: ComposeProject;
  service: ServiceConfig;
  number: number;
  /** The container's name; defaults to Compose's `<project>-<service>-<n>`. */
  name?: string;
  /** Every label the container carries. */
  labels: Record<string, string>;
  /** false: only its own name on its networks, not the service's aliases. */
  serving?: boolean;
  /** First alias when serving, if not `name` (a candidate's final name). */
  aliasName?: string;
  apiVersion?: string;
}

/**
 * Creates one container of a service, attached to every network and with its injected files,
 * ready to start. Shared by apply and the rollout steps so both build the same container.
 */
export async function createServiceContainer(
  docker: Docker,
  input: CreateContainerInput,
): Promise<Docker.Container> {
  const { project, service } = input;
  const stack = project.name;
  const name = input.name ?? containerName(stack, service, input.number);
  const place = { stack, service: service.name };
  const spec = buildContainerSpec({
    project,
    service,
    number: input.number,
    containerName: name,
    labels: input.labels,
    resolveServiceContainer: (other) => {
      const target = project.services[other];
      return target === undefined ? `${stack}-${other}-1` : containerName(stack, target, 1);
    },
    image: imageRef(stack, service),
    ...(input.apiVersion === undefined ? {} : { apiVersion: input.apiVersion }),
    ...(input.serving === undefined ? {} : { serving: input.serving }),
    ...(input.aliasName === undefined ? {} : { aliasName: input.aliasName }),
  });
  let container: Docker.Container;
  try {
    container = await docker.createContainer(spec.create);
  } catch (err) {
    throw engineError('ContainerCreateFailed', `cannot create container ${name}`, err, place);
  }
  try {
    for (const extra of spec.networks.slice(1)) {
      await docker
        .getNetwork(extra.networkName)
        .connect({ Container: container.id, EndpointConfig: extra.endpoint });
    }
    await uploadFiles(container, spec.files);
  } catch (err) {
    throw engineError('ContainerCreateFailed', `cannot prepare container ${name}`, err, place);
  }
  return container;
}
