import type Docker from 'dockerode';
import type { ComposeProject, ServiceConfig } from '../compose/types.js';

/**
 * Pure mapping from a normalized compose service to the Engine API's container create body.
 * No I/O here: the engine adapter feeds it names it already resolved, and acts on the result.
 */
export interface ContainerSpecInput {
  project: ComposeProject;
  service: ServiceConfig;
  /** 1-based replica number. */
  number: number;
  /** The container name (`<project>-<service>-<n>` or the service's container_name). */
  containerName: string;
  /** Every label to put on the container (user labels, Compose labels, berth labels). */
  labels: Record<string, string>;
  /** Container name of another service's first container (for volumes_from, links, network_mode service:). */
  resolveServiceContainer: (service: string) => string;
  /** Image reference to run (the service's image, or the tag berth built). */
  image: string;
}

/** A file copied into the container after create and before start (secrets and configs with content). */
export interface ContainerFile {
  path: string;
  content: string;
  uid?: string;
  gid?: string;
  mode: number;
}

export interface NetworkAttachment {
  /** Docker network name. */
  networkName: string;
  endpoint: Docker.EndpointSettings;
}

export interface ContainerSpec {
  create: Docker.ContainerCreateOptions;
  /** The first network is attached at create; the engine connects the rest before start. */
  networks: NetworkAttachment[];
  files: ContainerFile[];
}

/** Builds the create body, network attachments and files for one container of a service. */
export function buildContainerSpec(input: ContainerSpecInput): ContainerSpec {
  const { project, service } = input;
  const networks: NetworkAttachment[] = Object.entries(service.networks).map(
    ([key, attachment]) => {
      const network = project.networks[key];
      if (network === undefined)
        throw new Error(`service ${service.name} uses undeclared network ${key}`);
      return {
        networkName: network.name,
        endpoint: {
          Aliases: [service.name, ...attachment.aliases],
          ...(attachment.ipv4Address === undefined
            ? {}
            : { IPAMConfig: { IPv4Address: attachment.ipv4Address } }),
        },
      };
    },
  );
  const first = networks[0];
  const create: Docker.ContainerCreateOptions = {
    name: input.containerName,
    Image: input.image,
    Labels: input.labels,
    Env: Object.entries(service.environment).map(([k, v]) => `${k}=${v}`),
    ...(service.command === undefined ? {} : { Cmd: service.command }),
    ...(service.entrypoint === undefined ? {} : { Entrypoint: service.entrypoint }),
    HostConfig: {
      NetworkMode: service.networkMode ?? first?.networkName ?? 'none',
    },
    ...(first === undefined
      ? {}
      : { NetworkingConfig: { EndpointsConfig: { [first.networkName]: first.endpoint } } }),
  };
  return { create, networks, files: [] };
}
