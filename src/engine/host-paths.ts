import path from 'node:path';
import type { ComposeProject, SecretOrConfigDefinition, ServiceConfig } from '../compose/types.js';
import { EngineError } from '../errors.js';

/**
 * Host paths for the files berth hands to Docker when berth itself runs in a container that
 * talks to the host's daemon. Pure: the engine feeds it berth's own mounts, as inspect reports
 * them, and the data dir.
 *
 * The rule for which paths are translated: only paths inside berth's data dir. Everything berth
 * produces lies there (running_stacks/, good_stacks/, staging/, the clone), and a stack-relative
 * bind source (`./index.html`) always resolves into it. Any other absolute path is one the user
 * wrote for the host (`/var/run/docker.sock`, `/srv/media`) and reaches Docker unchanged, as it
 * would from `docker compose` on the host.
 */

/** One of berth's mounts, from its container's inspect (`Mounts[]`). */
export interface HostMount {
  /** `bind`, `volume`, `tmpfs`, ... */
  type: string;
  /**
   * Where the daemon finds the mount's content: the host folder of a bind, the Mountpoint of a
   * volume. Empty when there is none (tmpfs, and volume drivers that report no mountpoint).
   */
  source: string;
  /** Where it is mounted in berth's container. */
  destination: string;
  /** The volume's name (volumes only). */
  name?: string;
}

export interface HostPathContext {
  /** berth's data dir as berth sees it (absolute). */
  dataDir: string;
  mounts: HostMount[];
  /**
   * true: a path under the data dir that no usable mount covers throws PathNotOnMount (apply,
   * rollout). false: it is left as it is (plan, which changes nothing and only compares).
   */
  strict: boolean;
}

function clean(p: string): string {
  const normal = path.posix.normalize(p);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

/** True when `p` is `dir` or lies inside it, by whole segments (`/data` does not hold `/database`). */
export function isWithin(p: string, dir: string): boolean {
  const a = clean(p);
  const d = clean(dir);
  return d === '/' || a === d || a.startsWith(`${d}/`);
}

/** The mount whose destination is the longest whole-segment prefix of `p`, if any. */
export function coveringMount(p: string, mounts: readonly HostMount[]): HostMount | undefined {
  let best: HostMount | undefined;
  for (const mount of mounts) {
    if (!isWithin(p, mount.destination)) continue;
    if (best === undefined || clean(mount.destination).length > clean(best.destination).length) {
      best = mount;
    }
  }
  return best;
}

/** Whether the daemon can reach a mount's content by a path of its own. */
function hasHostPath(mount: HostMount): boolean {
  // A local-driver volume reports its Mountpoint on the host (`/var/lib/docker/volumes/<n>/_data`).
  // Other drivers report the path where the plugin mounts it in the daemon's namespace, which
  // the daemon can bind as well, or nothing; with nothing there is no host path to give.
  return mount.type !== 'tmpfs' && mount.source !== '';
}

/**
 * The host path of `p` (a path in berth's container): the covering mount's source plus the
 * rest of `p`. Undefined when no mount covers it or the covering mount has no host path.
 */
export function toHostPath(p: string, mounts: readonly HostMount[]): string | undefined {
  const mount = coveringMount(p, mounts);
  if (mount === undefined || !hasHostPath(mount)) return undefined;
  const destination = clean(mount.destination);
  const full = clean(p);
  const rest = destination === '/' ? full : full.slice(destination.length);
  if (rest === '' || rest === '/') return mount.source;
  return `${mount.source.endsWith('/') ? mount.source.slice(0, -1) : mount.source}${rest}`;
}

/** What a path is, for messages: `bind mount source` of a service, `secret file` of a secret. */
export interface PathSubject {
  what: 'bind mount source' | 'secret file' | 'config file';
  /** The service (binds) or the secret/config key. */
  owner: string;
}

/**
 * Maps every path the project hands to Docker as a bind source: bind volumes of its services,
 * and the files of `file:` secrets and configs a service uses. Returns the project itself when
 * nothing changed, so an unchanged project stays the same object.
 */
export function mapBindSources(
  project: ComposeProject,
  map: (p: string, subject: PathSubject) => string,
): ComposeProject {
  let changed = false;
  const services: Record<string, ServiceConfig> = {};
  for (const [name, service] of Object.entries(project.services)) {
    let touched = false;
    const volumes = service.volumes.map((volume) => {
      if (volume.type !== 'bind' || volume.source === undefined) return volume;
      const source = map(volume.source, { what: 'bind mount source', owner: name });
      if (source === volume.source) return volume;
      touched = true;
      return { ...volume, source };
    });
    services[name] = touched ? { ...service, volumes } : service;
    changed ||= touched;
  }
  const used = (kind: 'secrets' | 'configs'): Set<string> =>
    new Set(Object.values(project.services).flatMap((s) => s[kind].map((ref) => ref.source)));
  const files = (
    kind: 'secrets' | 'configs',
  ): Record<string, SecretOrConfigDefinition> | undefined => {
    const inUse = used(kind);
    let touched = false;
    const out: Record<string, SecretOrConfigDefinition> = {};
    for (const [key, definition] of Object.entries(project[kind])) {
      out[key] = definition;
      if (definition.source !== 'file' || !inUse.has(key)) continue;
      const what = kind === 'secrets' ? 'secret file' : 'config file';
      const file = map(definition.file, { what, owner: key });
      if (file === definition.file) continue;
      out[key] = { ...definition, file };
      touched = true;
    }
    return touched ? out : undefined;
  };
  const secrets = files('secrets');
  const configs = files('configs');
  if (!changed && secrets === undefined && configs === undefined) return project;
  return {
    ...project,
    services,
    ...(secrets === undefined ? {} : { secrets }),
    ...(configs === undefined ? {} : { configs }),
  };
}

/**
 * The project as the Docker host must see it: every bind source inside the data dir replaced by
 * its host path through berth's mounts. With `strict`, one that no mount can give a host path
 * is refused (PathNotOnMount) naming the path, the service or secret, and the fix.
 */
export function toHostProject(project: ComposeProject, context: HostPathContext): ComposeProject {
  return mapBindSources(project, (p, subject) => {
    if (!path.posix.isAbsolute(p) || !isWithin(p, context.dataDir)) return p;
    const host = toHostPath(p, context.mounts);
    if (host !== undefined) return host;
    if (!context.strict) return p;
    throw pathNotOnMount(project.name, p, subject, context);
  });
}

/** The refusal of a path the Docker host cannot see; the fix is a mount for the data dir. */
export function pathNotOnMount(
  stack: string,
  p: string,
  subject: PathSubject,
  context: Pick<HostPathContext, 'dataDir' | 'mounts'>,
): EngineError {
  const owner =
    subject.what === 'bind mount source'
      ? `service ${subject.owner} of stack ${stack}`
      : `${subject.what === 'secret file' ? 'secret' : 'config'} ${subject.owner} of stack ${stack}`;
  const mount = coveringMount(p, context.mounts);
  const where =
    mount === undefined
      ? `is inside berth's container on no mount`
      : `is on berth's ${mount.type} mount ${mount.destination}, which has no path on the Docker host`;
  const message =
    `${subject.what} ${p} (${owner}) ${where}, so the Docker host cannot see it; ` +
    `put berth's data dir (${context.dataDir}, BERTH_DATA_DIR) on a volume or a host folder ` +
    `mounted into berth's container`;
  return new EngineError('PathNotOnMount', message, {
    place: {
      stack,
      ...(subject.what === 'bind mount source'
        ? { service: subject.owner, field: 'volumes' }
        : { field: `${subject.what === 'secret file' ? 'secrets' : 'configs'}.${subject.owner}` }),
    },
  });
}

/** The project with every bind source under `from` moved under `to` (a copy's paths). */
export function relocateProject(project: ComposeProject, from: string, to: string): ComposeProject {
  return mapBindSources(project, (p) =>
    isWithin(p, from) ? path.posix.join(to, path.posix.relative(from, p)) : p,
  );
}
