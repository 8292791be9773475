import semver from 'semver';

export interface RemoteTag {
  name: string;
  /** The commit the tag points at (peeled for annotated tags). */
  commit: string;
}

/** The commit `git ls-remote` lists for exactly `ref` (it also lists refs ending in it). */
export function parseLsRemoteRef(output: string, ref: string): string | undefined {
  for (const line of output.split('\n')) {
    const [commit, name] = line.trim().split('\t');
    if (name === ref && commit !== undefined && /^[0-9a-f]{40,64}$/.test(commit)) return commit;
  }
  return undefined;
}

/**
 * Parses `git ls-remote --tags` output. Annotated tags appear twice, as the tag object and
 * peeled (`^{}`) to their commit; the peeled line wins.
 */
export function parseLsRemoteTags(output: string): RemoteTag[] {
  const tags = new Map<string, string>();
  const peeled = new Set<string>();
  for (const line of output.split('\n')) {
    const match = /^([0-9a-f]{40,64})\trefs\/tags\/(.+?)(\^\{\})?$/.exec(line.trim());
    if (!match?.[1] || !match[2]) continue;
    const [, commit, name, peel] = match;
    if (peel) {
      tags.set(name, commit);
      peeled.add(name);
    } else if (!peeled.has(name)) tags.set(name, commit);
  }
  return [...tags].map(([name, commit]) => ({ name, commit }));
}

/**
 * The newest tag whose name matches the glob, in semver order. A tag's version is its name
 * (a leading `v` is fine) or, failing that, the name without the glob's literal prefix, so
 * `release-*` follows release-1.4.0. Tags without a version are ignored; prereleases count,
 * ordered below their release.
 */
export function pickNewestTag(tags: readonly RemoteTag[], glob: string): RemoteTag | undefined {
  const pattern = globToRegExp(glob);
  const prefix = /^[^*?[]*/.exec(glob)?.[0] ?? '';
  const candidates = tags.flatMap((tag) => {
    if (!pattern.test(tag.name)) return [];
    const version = semver.valid(tag.name) ?? semver.valid(tag.name.slice(prefix.length));
    return version === null ? [] : [{ tag, version }];
  });
  // Equal versions (v1.0.0 and 1.0.0) are ordered by name so the pick is stable.
  candidates.sort(
    (a, b) =>
      semver.rcompare(a.version, b.version) ||
      (a.tag.name < b.tag.name ? -1 : a.tag.name > b.tag.name ? 1 : 0),
  );
  return candidates[0]?.tag;
}

/**
 * Tag globs: `*` any run of characters (also `/`), `?` one character, `[...]` a class.
 * Small enough to keep here rather than pull in a matcher for one call.
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] ?? '';
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else if (char === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) source += '\\[';
      else {
        const body = glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\');
        source += `[${body}]`;
        i = end;
      }
    } else source += char.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}
