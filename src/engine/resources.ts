import type Docker from 'dockerode';
import type { ComposeProject, NetworkConfig, VolumeConfig } from '../compose/types.js';
import { EngineError } from '../errors.js';
import { dockerMessage, engineError, isNotFound, statusOf } from './docker-errors.js';
import { resourceLabels } from './naming.js';
import { mayUseExisting, ownedFilters } from './ownership.js';
import { settleAll } from './settle.js';
import type { ApplyProgress } from './types.js';
import { LABEL } from './types.js';

export interface EnsureOptions {
  /** berth adopts the project: its hand-run networks and volumes are used as berth's own. */
  adopt?: boolean;
  onProgress?: (progress: ApplyProgress) => void;
}

type Kind = 'network' | 'volume';

/**
 * A network or volume under the name berth would create that berth did not create: using it
 * would attach the stack to someone else's network or mount someone else's data, so berth
 * refuses, as Compose refuses a network it did not label, and says how to go on.
 */
function notOwned(
  kind: Kind,
  config: { name: string; key: string },
  labels: Record<string, string> | undefined | null,
  place: { stack: string; field: string },
): EngineError {
  const heldBy = labels?.[LABEL.project];
  const adoptable = heldBy === place.stack;
  const owner =
    heldBy === undefined ? 'berth did not create it' : `it belongs to Compose project ${heldBy}`;
  const fixes = [
    `declare it \`external: true\` (${kind}s.${config.key}) to use it as it is`,
    ...(adoptable ? [`let berth adopt project ${heldBy} (policy.adopt in berth's config)`] : []),
    `remove it`,
  ];
  return new EngineError(
    'ResourceNotOwned',
    `${kind} ${config.name} (key ${config.key}) exists but ${owner}; berth does not take it over: ${fixes.join(', or ')}`,
    { place },
  );
}

/** The labels of the network or volume of that exact name; undefined when there is none. */
async function existingLabels(
  docker: Docker,
  kind: Kind,
  name: string,
  place: { stack: string; field: string },
): Promise<Record<string, string> | undefined> {
  try {
    if (kind === 'volume') return (await docker.getVolume(name).inspect()).Labels ?? {};
    const info = await docker.getNetwork(name).inspect();
    // Docker also matches a network by ID prefix: only the same name is the same network.
    return info.Name === name ? (info.Labels ?? {}) : undefined;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    const reason = kind === 'network' ? 'NetworkFailed' : 'VolumeFailed';
    throw engineError(reason, `cannot inspect ${kind} ${name}`, err, place);
  }
}

async function ensureNetwork(
  docker: Docker,
  project: ComposeProject,
  network: NetworkConfig,
  options: EnsureOptions,
): Promise<void> {
  const onProgress = options.onProgress;
  const place = { stack: project.name, field: `networks.${network.key}` };
  const labels = await existingLabels(docker, 'network', network.name, place);
  if (labels !== undefined) {
    if (network.external || mayUseExisting(labels, project.name, options.adopt ?? false)) return;
    throw notOwned('network', network, labels, place);
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
  options: EnsureOptions,
): Promise<void> {
  const onProgress = options.onProgress;
  const place = { stack: project.name, field: `volumes.${volume.key}` };
  const labels = await existingLabels(docker, 'volume', volume.name, place);
  if (labels !== undefined) {
    if (volume.external || mayUseExisting(labels, project.name, options.adopt ?? false)) return;
    throw notOwned('volume', volume, labels, place);
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

/**
 * Creates the project's networks and named volumes that do not exist; checks external ones,
 * and that existing ones are berth's (or the adopted project's).
 */
export async function ensureResources(
  docker: Docker,
  project: ComposeProject,
  options: EnsureOptions = {},
): Promise<void> {
  await settleAll([
    ...Object.values(project.networks).map((n) => ensureNetwork(docker, project, n, options)),
    ...Object.values(project.volumes).map((v) => ensureVolume(docker, project, v, options)),
  ]);
}

/**
 * Removes the project's networks, and its named volumes when asked: berth's own (and with
 * `adopt` the adopted project's); external ones carry no project label. A network that
 * containers from outside the project still use (a proxy, a debugging shell) is kept, as
 * Compose keeps it, and returned: the next apply reuses it.
 */
export async function removeResources(
  docker: Docker,
  project: string,
  volumes: boolean,
  adopt = false,
): Promise<{ keptNetworks: string[] }> {
  const filters = { label: ownedFilters(project, adopt) };
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
