import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';

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
