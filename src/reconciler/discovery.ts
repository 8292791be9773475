import path from 'node:path';
import { StackError } from '../errors.js';
import type { BrokenStack, DiscoveredStack, Discovery } from '../stack/types.js';

/** One source's discovery, as the pass merges it. */
export interface SourceDiscovery {
  source: string;
  /** The checkout root the discovery was read from (folders are named relative to it). */
  root: string;
  /** Put before every stack name of the source. */
  prefix?: string;
  discovery: Discovery;
}

export interface MergedDiscovery {
  discovery: Discovery;
  /** The sources each stack name comes from; several when sources clash on the name. */
  owners: Map<string, string[]>;
}

interface Claim {
  source: string;
  folder: string;
  entry: { stack: DiscoveredStack } | { broken: BrokenStack };
}

/** The source's stacks under their names in berth: the source's prefix put before each. */
export function withPrefix(discovery: Discovery, prefix: string | undefined): Discovery {
  if (prefix === undefined || prefix === '') return discovery;
  return {
    stacks: discovery.stacks.map((s) => ({ ...s, name: `${prefix}${s.name}` })),
    broken: discovery.broken.map((b) => ({ ...b, name: `${prefix}${b.name}` })),
  };
}

/**
 * The stacks of all sources as one discovery. A name two sources claim makes every such stack
 * broken, the error naming each folder with its source; the other stacks go on.
 */
export function mergeDiscoveries(parts: readonly SourceDiscovery[]): MergedDiscovery {
  const claims = new Map<string, Claim[]>();
  for (const part of parts) {
    const discovery = withPrefix(part.discovery, part.prefix);
    const claim = (name: string, dir: string, entry: Claim['entry']): void => {
      const folder = path.relative(part.root, dir).split(path.sep).join('/') || '.';
      claims.set(name, [...(claims.get(name) ?? []), { source: part.source, folder, entry }]);
    };
    for (const stack of discovery.stacks) claim(stack.name, stack.dir, { stack });
    for (const broken of discovery.broken) claim(broken.name, broken.dir, { broken });
  }
  const stacks: DiscoveredStack[] = [];
  const broken: BrokenStack[] = [];
  const owners = new Map<string, string[]>();
  for (const [name, group] of claims) {
    const sources = [...new Set(group.map((c) => c.source))];
    owners.set(name, sources);
    if (sources.length > 1) {
      broken.push(...clashing(name, group));
      continue;
    }
    for (const { entry } of group) {
      if ('stack' in entry) stacks.push(entry.stack);
      else broken.push(entry.broken);
    }
  }
  stacks.sort((a, b) => a.name.localeCompare(b.name));
  broken.sort((a, b) => a.name.localeCompare(b.name) || a.dir.localeCompare(b.dir));
  return { discovery: { stacks, broken }, owners };
}

/** Every stack of a name several sources claim, broken with one error naming them all. */
function clashing(name: string, group: readonly Claim[]): BrokenStack[] {
  const where = group
    .map((c) => `${c.folder} of source ${c.source}`)
    .sort()
    .join(', ');
  return group.map(({ entry }) => {
    const { dir, version } = 'stack' in entry ? entry.stack : entry.broken;
    const error = new StackError(
      'DuplicateStackName',
      `stack name "${name}" is used by several sources: ${where}; rename a folder, or give a source a prefix`,
      { place: { stack: name, file: dir } },
    );
    return { name, dir, ...(version === undefined ? {} : { version }), error };
  });
}

/** Only the stacks of the given sources (a clashing name belongs to each of its sources). */
export function ownedBy(merged: MergedDiscovery, sources: ReadonlySet<string>): Discovery {
  const mine = (name: string): boolean =>
    (merged.owners.get(name) ?? []).some((source) => sources.has(source));
  return {
    stacks: merged.discovery.stacks.filter((s) => mine(s.name)),
    broken: merged.discovery.broken.filter((b) => mine(b.name)),
  };
}
