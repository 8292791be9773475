import type Docker from 'dockerode';
import type { ComposeProject, NetworkConfig, VolumeConfig } from '../compose/types.js';
import { EngineError } from '../errors.js';
import { dockerMessage, engineError, isNotFound, statusOf } from './docker-errors.js';
import { resourceLabels } from './naming.js';
import { settleAll } from './settle.js';
import type { ApplyProgress } from './types.js';
import { LABEL } from './types.js';

async function ensureNetwork(
  docker: Docker,
  project: ComposeProject,
  network: NetworkConfig,
  onProgress?: (progress: ApplyProgress) => void,
): Promise<void> {
  const place = { stack: project.name, field: `networks.${network.key}` };
  try {
    await docker.getNetwork(network.name).inspect();
    return;
  } catch (err) {
    if (!isNotFound(err))
      throw engineError('NetworkFailed', `cannot inspect network ${network.name}`, err, place);
  }
  if (network.external) {
    throw new EngineError(
      'NetworkMissing',
      `external network ${network.name} (key ${network.key}) does not exist; create it first`,
      { place },
    );
  }
  onProgress?.({ step: 'network', subject: network.name });
  try {
    await docker.createNetwork({
      Name: network.name,
      CheckDuplicate: true,
      ...(network.driver === undefined ? {} : { Driver: network.driver }),
      Options: network.driverOpts,
      Internal: network.internal,
      Attachable: network.attachable,
      EnableIPv6: network.enableIpv6,
      Labels: resourceLabels(project.name, 'network', network.key, network.labels),
      ...(network.ipam === undefined
        ? {}
        : {
            IPAM: {
              Driver: network.ipam.driver ?? 'default',
              Config: network.ipam.config.map((c) => ({
                ...(c.subnet === undefined ? {} : { Subnet: c.subnet }),
                ...(c.gateway === undefined ? {} : { Gateway: c.gateway }),
                ...(c.ipRange === undefined ? {} : { IPRange: c.ipRange }),
                ...(c.auxAddresses === undefined ? {} : { AuxiliaryAddresses: c.auxAddresses }),
              })),
              ...(network.ipam.options === undefined ? {} : { Options: network.ipam.options }),
            },
          }),
    });
  } catch (err) {
    // Another apply of the same project may have created it meanwhile.
    if (statusOf(err) === 409) return;
    throw engineError('NetworkCreateFailed', `cannot create network ${network.name}`, err, place);
  }
}

async function ensureVolume(
  docker: Docker,
  project: ComposeProject,
  volume: VolumeConfig,
  onProgress?: (progress: ApplyProgress) => void,
): Promise<void> {
  const place = { stack: project.name, field: `volumes.${volume.key}` };
  try {
    await docker.getVolume(volume.name).inspect();
    return;
  } catch (err) {
    if (!isNotFound(err))
      throw engineError('VolumeFailed', `cannot inspect volume ${volume.name}`, err, place);
  }
  if (volume.external) {
    throw new EngineError(
      'VolumeMissing',
      `external volume ${volume.name} (key ${volume.key}) does not exist; create it first`,
      { place },
    );
  }
  onProgress?.({ step: 'volume', subject: volume.name });
  try {
    await docker.createVolume({
      Name: volume.name,
      ...(volume.driver === undefined ? {} : { Driver: volume.driver }),
      DriverOpts: volume.driverOpts,
      Labels: resourceLabels(project.name, 'volume', volume.key, volume.labels),
    });
  } catch (err) {
    throw engineError('VolumeCreateFailed', `cannot create volume ${volume.name}`, err, place);
  }
}

/** Creates the project's networks and named volumes that do not exist; checks external ones. */
export async function ensureResources(
  docker: Docker,
  project: ComposeProject,
  onProgress?: (progress: ApplyProgress) => void,
): Promise<void> {
  await settleAll([
    ...Object.values(project.networks).map((n) => ensureNetwork(docker, project, n, onProgress)),
    ...Object.values(project.volumes).map((v) => ensureVolume(docker, project, v, onProgress)),
  ]);
}

/**
 * Removes the project's networks, and its named volumes when asked; external ones carry no
 * project label. A network that containers from outside the project still use (a proxy, a
 * debugging shell) is kept, as Compose keeps it, and returned: the next apply reuses it.
 */
export async function removeResources(
  docker: Docker,
  project: string,
  volumes: boolean,
): Promise<{ keptNetworks: string[] }> {
  const filters = { label: [`${LABEL.project}=${project}`] };
  const place = { stack: project };
  const keptNetworks: string[] = [];
  try {
    const networks = await docker.listNetworks({ filters });
    await settleAll(
      networks.map(async (n) => {
        try {
          await docker.getNetwork(n.Id).remove();
        } catch (err) {
          if (isNotFound(err)) return;
          if (/active endpoints/i.test(dockerMessage(err))) {
            keptNetworks.push(n.Name);
            return;
          }
          throw err;
        }
      }),
    );
    if (!volumes) return { keptNetworks };
    const listed = await docker.listVolumes({ filters });
    await settleAll(
      (listed.Volumes ?? []).map(async (v) => {
        try {
          await docker.getVolume(v.Name).remove();
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
      }),
    );
    return { keptNetworks };
  } catch (err) {
    throw engineError(
      'RemoveFailed',
      `cannot remove networks or volumes of ${project}`,
      err,
      place,
    );
  }
}
