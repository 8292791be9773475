import type Docker from 'dockerode';

/**
 * Turns `docker inspect` output of two deployments of the same compose file (one by berth,
 * one by docker-compose 1.29) into comparable views: names, IDs and project names are replaced
 * by tokens, empty values dropped, unordered lists sorted. What remains must be equal, except
 * for the differences ALLOWED lists explicitly.
 */

export interface Snapshot {
  project: string;
  containers: Docker.ContainerInspectInfo[];
}

/** One container's comparable fields, keyed by a dotted path. */
export type View = Record<string, unknown>;

/** `service#number` -> view. */
export type ProjectView = Map<string, View>;

const COMPOSE_LABEL = /^com\.docker\.compose\./;
const BERTH_LABEL = /^dev\.berth\./;
const ANONYMOUS_VOLUME = /^[0-9a-f]{64}$/;

/** Lists whose order carries no meaning (or differs between tools for no reason). */
const UNORDERED = new Set([
  'Config.Env',
  'Mounts',
  'HostConfig.CapAdd',
  'HostConfig.CapDrop',
  'HostConfig.ExtraHosts',
  'HostConfig.Links',
  'HostConfig.Ulimits',
  'HostConfig.SecurityOpt',
  'HostConfig.GroupAdd',
]);

interface Token {
  from: string;
  to: string;
}

function containerKey(c: Docker.ContainerInspectInfo): string {
  const labels = c.Config.Labels ?? {};
  return `${labels['com.docker.compose.service'] ?? '?'}#${labels['com.docker.compose.container-number'] ?? '?'}`;
}

/** Replacements, longest first so a container name is replaced before the project name inside it. */
function tokensFor(snapshot: Snapshot): Token[] {
  const tokens: Token[] = [];
  for (const c of snapshot.containers) {
    const key = containerKey(c).replace('#', ':');
    tokens.push({ from: c.Id, to: `<id:${key}>` });
    tokens.push({ from: c.Id.slice(0, 12), to: `<id:${key}>` });
    tokens.push({ from: c.Name.replace(/^\//, ''), to: `<name:${key}>` });
  }
  tokens.push({ from: snapshot.project, to: '<project>' });
  return tokens.sort((a, b) => b.from.length - a.from.length);
}

function normalizeString(value: string, tokens: Token[]): string {
  let out = value;
  for (const token of tokens) out = out.split(token.from).join(token.to);
  return out;
}

function normalizeDeep(value: unknown, tokens: Token[]): unknown {
  if (typeof value === 'string') return normalizeString(value, tokens);
  if (Array.isArray(value)) return value.map((v) => normalizeDeep(v, tokens));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      out[normalizeString(k, tokens)] = normalizeDeep(v, tokens);
    return out;
  }
  return value;
}

function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

function sorted(values: unknown): unknown {
  return Array.isArray(values)
    ? [...values]
        .map((v) => JSON.stringify(v))
        .sort()
        .map((v) => JSON.parse(v) as unknown)
    : values;
}

function sortedKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.keys(value).sort();
}

/** The compared fields of one container. */
function viewOf(c: Docker.ContainerInspectInfo, tokens: Token[]): View {
  const config = c.Config as Docker.ContainerInspectInfo['Config'] & Record<string, unknown>;
  const host = c.HostConfig as Record<string, unknown>;
  const userLabels = Object.fromEntries(
    Object.entries(config.Labels ?? {}).filter(
      ([k]) => !COMPOSE_LABEL.test(k) && !BERTH_LABEL.test(k),
    ),
  );
  const mounts = (c.Mounts ?? []).map((m) => ({
    Type: m.Type,
    Destination: m.Destination,
    RW: m.RW,
    // Volume sources are /var/lib/docker/volumes/<name>/_data: the name says it all.
    Source: m.Type === 'volume' ? undefined : m.Source,
    Name:
      m.Type === 'volume'
        ? m.Name !== undefined && ANONYMOUS_VOLUME.test(m.Name)
          ? '<anonymous>'
          : m.Name
        : undefined,
    Propagation: m.Propagation,
  }));
  const networks: Record<string, unknown> = {};
  for (const [name, endpoint] of Object.entries(c.NetworkSettings.Networks ?? {})) {
    const ep = endpoint as Docker.EndpointSettings;
    networks[name] = {
      Aliases: ep.Aliases ?? [],
      IPv4Address: ep.IPAMConfig?.IPv4Address,
      Links: ep.Links ?? [],
    };
  }
  const raw: View = {
    'Config.Env': config.Env,
    'Config.Cmd': config.Cmd,
    'Config.Entrypoint': config.Entrypoint,
    'Config.User': config.User,
    'Config.WorkingDir': config.WorkingDir,
    'Config.Healthcheck': config.Healthcheck,
    'Config.Hostname': config.Hostname,
    'Config.Domainname': config.Domainname,
    'Config.Tty': config.Tty,
    'Config.OpenStdin': config.OpenStdin,
    'Config.StdinOnce': config.StdinOnce,
    'Config.AttachStdin': config.AttachStdin,
    'Config.StopSignal': config.StopSignal,
    'Config.StopTimeout': config.StopTimeout,
    'Config.ExposedPorts': sortedKeys(config.ExposedPorts),
    'Config.Image': config.Image,
    'Config.Labels': userLabels,
    'Config.MacAddress': config.MacAddress,
    Mounts: mounts.map((m) => JSON.parse(JSON.stringify(m)) as unknown),
    Networks: networks,
  };
  const hostFields = [
    'RestartPolicy',
    'PortBindings',
    'CapAdd',
    'CapDrop',
    'NetworkMode',
    'Memory',
    'NanoCpus',
    'MemoryReservation',
    'CpuShares',
    'PidsLimit',
    'ShmSize',
    'Ulimits',
    'Sysctls',
    'LogConfig',
    'Init',
    'ReadonlyRootfs',
    'Privileged',
    'SecurityOpt',
    'Devices',
    'Tmpfs',
    'Dns',
    'DnsSearch',
    'DnsOptions',
    'ExtraHosts',
    'GroupAdd',
    'PidMode',
    'IpcMode',
    'VolumesFrom',
    'Links',
    'MaskedPaths',
    'ReadonlyPaths',
    'Runtime',
    'CgroupnsMode',
    'CgroupParent',
    'CpuCount',
    'CpuPercent',
    'CpuPeriod',
    'CpuQuota',
    'CpuRealtimePeriod',
    'CpuRealtimeRuntime',
    'CpusetCpus',
    'MemorySwappiness',
    'MemorySwap',
    'OomKillDisable',
    'OomScoreAdj',
    'StorageOpt',
    'UsernsMode',
    'UTSMode',
    'DeviceCgroupRules',
    'Isolation',
    'BlkioWeight',
    'BlkioWeightDevice',
    'BlkioDeviceReadBps',
    'BlkioDeviceReadIOps',
    'BlkioDeviceWriteBps',
    'BlkioDeviceWriteIOps',
    'DeviceRequests',
  ];
  for (const field of hostFields) raw[`HostConfig.${field}`] = host[field];
  const view: View = {};
  for (const [path, value] of Object.entries(raw)) {
    // Sorted after the tokens replaced IDs and names, so both sides sort the same strings.
    let normalized = normalizeDeep(value, tokens);
    if (path === 'Networks') {
      for (const ep of Object.values(normalized as Record<string, Record<string, unknown>>)) {
        ep.Aliases = sorted(ep.Aliases);
        ep.Links = sorted(ep.Links);
      }
    } else if (UNORDERED.has(path)) {
      normalized = sorted(normalized);
    }
    if (!isEmpty(normalized)) view[path] = normalized;
  }
  return view;
}

export function projectView(snapshot: Snapshot): ProjectView {
  const tokens = tokensFor(snapshot);
  const views: ProjectView = new Map();
  for (const c of snapshot.containers) views.set(containerKey(c), viewOf(c, tokens));
  return views;
}

/**
 * The differences between docker-compose v1 and Compose v2 (which berth follows) that are
 * expected. Each entry rewrites the two views of one container before they are compared.
 * Everything not listed here must be equal.
 */
export interface Allowance {
  why: string;
  apply(berth: View, v1: View, key: string): void;
}

function mapNetworks(view: View, fn: (endpoint: Record<string, unknown>) => void): void {
  const networks = view.Networks as Record<string, Record<string, unknown>> | undefined;
  for (const endpoint of Object.values(networks ?? {})) fn(endpoint);
}

export const ALLOWED: Allowance[] = [
  {
    // Container names are `<project>-<service>-<n>` in v2 and `<project>_<service>_<n>` in v1.
    // The tokens <name:service:n> absorb that everywhere a name appears; nothing to rewrite here.
    why: 'container naming `-` (v2) vs `_` (v1)',
    apply: () => undefined,
  },
  {
    // Compose v2 adds the container name as a network alias (getAliases); v1 does not.
    why: 'v2 adds the container name as alias',
    apply: (berth, _v1, key) => {
      const own = `<name:${key.replace('#', ':')}>`;
      mapNetworks(berth, (ep) => {
        ep.Aliases = (ep.Aliases as string[]).filter((a) => a !== own);
      });
    },
  },
  {
    // Links: v1 adds `<container>:<alias>`, `<container>:<container>` and
    // `<container>:<container without project>`; v2 adds `<container>:<alias>`,
    // `<container>:<service>-<n>` and `<container>:<project>-<service>-<n>` (getLinks).
    // Only the `<container>:<alias>` form both make is compared.
    why: 'legacy link names differ between v1 and v2',
    apply: (berth, v1) => {
      for (const view of [berth, v1]) {
        const keep = (link: string): boolean => {
          const alias = link.split(':').slice(1).join(':');
          return !alias.includes('<') && !alias.includes('-') && !alias.includes('_');
        };
        const hostLinks = view['HostConfig.Links'] as string[] | undefined;
        if (hostLinks !== undefined) {
          // Inspect shows `/<linked>:/<self>/<alias>`.
          const kept = hostLinks.filter((l) => keep(l.replace(/:\/[^/]+\//, ':')));
          if (kept.length > 0) view['HostConfig.Links'] = kept;
          else delete view['HostConfig.Links'];
        }
        mapNetworks(view, (ep) => {
          const links = (ep.Links as string[] | undefined)?.filter(keep) ?? [];
          if (links.length > 0) ep.Links = links;
          else delete ep.Links;
        });
      }
    },
  },
  {
    // v1 (and v2) write other containers' IDs into network_mode/ipc/pid `container:` and
    // volumes_from, and v1 spells out the default `:rw`; berth writes the container name.
    // The daemon resolves names to IDs for some of these fields itself, so both sides map
    // IDs back to names.
    why: 'container references by ID (v1) vs by name (berth)',
    apply: (berth, v1) => {
      const byName = (value: string): string => value.replace(/<id:/g, '<name:');
      for (const view of [berth, v1]) {
        for (const field of [
          'HostConfig.NetworkMode',
          'HostConfig.IpcMode',
          'HostConfig.PidMode',
        ]) {
          if (typeof view[field] === 'string') view[field] = byName(view[field]);
        }
        const from = view['HostConfig.VolumesFrom'] as string[] | undefined;
        if (from !== undefined) {
          view['HostConfig.VolumesFrom'] = from.map((f) => byName(f).replace(/:rw$/, '')).sort();
        }
      }
    },
  },
];

/** Flat list of differences, one line per field: `service#n field: v1=... berth=...`. */
export function compareViews(berth: ProjectView, v1: ProjectView): string[] {
  const diffs: string[] = [];
  const keys = [...new Set([...berth.keys(), ...v1.keys()])].sort();
  for (const key of keys) {
    const b = berth.get(key);
    const v = v1.get(key);
    if (b === undefined || v === undefined) {
      diffs.push(`${key}: container only in ${b === undefined ? 'docker-compose' : 'berth'}`);
      continue;
    }
    for (const allowance of ALLOWED) allowance.apply(b, v, key);
    const fields = [...new Set([...Object.keys(b), ...Object.keys(v)])].sort();
    for (const field of fields) {
      const bj = JSON.stringify(b[field]);
      const vj = JSON.stringify(v[field]);
      if (bj !== vj) diffs.push(`${key} ${field}: docker-compose=${vj} berth=${bj}`);
    }
  }
  return diffs;
}
