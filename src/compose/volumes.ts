import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { escapeSync, type Confinement } from '../containment.js';
import { ComposeError } from '../errors.js';

const PROPAGATION = new Set(['shared', 'slave', 'private', 'rshared', 'rslave', 'rprivate']);

/** A long-form volume as the compose file spells it (snake_case), before validation. */
export interface LongVolume {
  type: 'bind' | 'volume' | 'tmpfs';
  source?: string;
  target: string;
  read_only?: boolean;
  bind?: { propagation?: string; create_host_path?: boolean; selinux?: 'z' | 'Z' };
  volume?: { nocopy?: boolean };
}

/** Expands `~` and resolves a relative host path against the project directory. */
export function resolveHostPath(path: string, baseDir: string, home: string = homedir()): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return resolve(home, path.slice(2));
  return isAbsolute(path) ? resolve(path) : resolve(baseDir, path);
}

function isHostPath(source: string): boolean {
  return source.startsWith('/') || source.startsWith('.') || source.startsWith('~');
}

/**
 * Parses the short volume syntax ("./data:/data:ro", "named:/x", "/abs:/y:rw,z", "/anon") into
 * the long form, with bind sources resolved. Returns an error text instead of throwing.
 */
export function parseShortVolume(
  spec: string,
  baseDir: string,
  home?: string,
): LongVolume | string {
  const parts = spec.split(':');
  if (parts.length > 3) return `invalid volume "${spec}": too many ":"`;
  if (parts.length === 1) {
    const target = parts[0] ?? '';
    if (target === '') return 'invalid volume "": empty target';
    return { type: 'volume', target, volume: { nocopy: false } };
  }
  const [source = '', target = '', options] = parts;
  if (source === '' || target === '') return `invalid volume "${spec}": empty source or target`;
  const bind = isHostPath(source);
  const volume: LongVolume = bind
    ? {
        type: 'bind',
        source: resolveHostPath(source, baseDir, home),
        target,
        bind: { create_host_path: true },
      }
    : { type: 'volume', source, target, volume: { nocopy: false } };
  for (const option of options === undefined || options === '' ? [] : options.split(',')) {
    if (option === 'ro') volume.read_only = true;
    else if (option === 'rw') volume.read_only = false;
    else if (bind && (option === 'z' || option === 'Z'))
      volume.bind = { ...volume.bind, selinux: option };
    else if (bind && PROPAGATION.has(option)) volume.bind = { ...volume.bind, propagation: option };
    else if (!bind && option === 'nocopy') volume.volume = { nocopy: true };
    else return `invalid volume "${spec}": unknown option "${option}"`;
  }
  return volume;
}

/** Where a compose file names a path: the file, and the service and field when there are any. */
export interface PathPlace {
  file: string;
  service?: string;
  field?: string;
}

/**
 * Refuses a path that leaves the stack folder, as written or once links are followed, with a
 * PathEscapesStack error naming the file, service, field and the path as the file spells it.
 * `stack` undefined: loading is not confined (compatibility tests against docker compose).
 */
export function confinePath(
  stack: Confinement | undefined,
  path: string,
  place: PathPlace,
  given?: string,
): void {
  if (stack === undefined) return;
  const where = escapeSync(stack, path);
  if (where === undefined) return;
  const at = [
    `${place.file}:`,
    place.service === undefined ? undefined : `service "${place.service}":`,
    place.field === undefined ? undefined : `field "${place.field}":`,
    given === undefined ? undefined : `path "${given}"`,
    where.how === 'lexical' && given !== undefined && given !== path ? `(${path})` : undefined,
  ].filter((part) => part !== undefined);
  const how = where.how === 'real' ? `resolves to ${where.real},` : 'is';
  throw new ComposeError(
    'PathEscapesStack',
    `${at.join(' ')} ${how} outside the stack folder ${stack.root}`,
    { place: { ...place } },
  );
}

/**
 * The host path of a bind mount as written, when it is relative ("./data:/data", or a long
 * form `type: bind` source neither absolute nor under `~`): those must stay in the stack
 * folder. Absolute and `~` sources are the operator's policy to allow, not containment's.
 */
export function relativeBindSource(entry: unknown): string | undefined {
  if (typeof entry === 'string') {
    const parts = entry.split(':');
    const source = parts[0] ?? '';
    return parts.length >= 2 && source.startsWith('.') ? source : undefined;
  }
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return undefined;
  const { type, source } = entry as Record<string, unknown>;
  if (type !== 'bind' || typeof source !== 'string' || source === '') return undefined;
  return isAbsolute(source) || source.startsWith('~') ? undefined : source;
}
