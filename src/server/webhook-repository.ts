/**
 * Which sources a push is for: the repository a webhook payload names, against the URL each git
 * source follows. Pure, so every payload shape and URL form is tested without a server.
 *
 * A location is `host/path` in lower case, without scheme, user, port, `.git` or trailing
 * slash, so `git@github.com:Acme/App.git`, `ssh://git@github.com:22/acme/app` and
 * `https://github.com/acme/app/` all read `github.com/acme/app`. Forges treat owner and
 * repository names without regard to case, hence the path too is compared in lower case.
 */

/** What a push payload says about its repository. */
export interface PushedRepository {
  /** Locations (`host/path`) of every URL field the payload carries. */
  locations: string[];
  /** The path a forge names the repository by (`owner/repo`, `group/sub/repo`), lower case. */
  fullName?: string;
  /** How answers and logs name it: a location, else the full name; never credentials. */
  label: string;
}

/** A source a push may be for: its name and the URL it fetches from. */
export interface FollowedRepository {
  name: string;
  url: string;
}

export type RepositoryMatch =
  /** `by`: the sources were found by a URL, or (no URL matched) by the full name alone. */
  | { kind: 'matched'; sources: string[]; by: 'url' | 'name' }
  | { kind: 'none' }
  /** The full name fits sources of different repositories, and no URL told which. */
  | { kind: 'ambiguous'; sources: string[] };

const MAX_LABEL = 200;
const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
/** scp-like `user@host:path` or `host:path` (git reads `host:path` as ssh when no `//` follows). */
const SCP = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/;
const URL_SCHEMES = new Set(['http', 'https', 'ssh', 'git', 'git+ssh', 'ssh+git', 'file']);

/** URL fields of GitHub, Gitea/Forgejo/Gogs, GitLab (`project` and legacy `repository`). */
const URL_FIELDS = [
  'clone_url',
  'git_http_url',
  'http_url',
  'html_url',
  'web_url',
  'ssh_url',
  'git_ssh_url',
  'git_url',
  'url',
  'homepage',
] as const;
const NAME_FIELDS = ['full_name', 'path_with_namespace'] as const;

function segmentsOf(path: string): string[] {
  const segments = path
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  const last = segments.length - 1;
  if (last >= 0) segments[last] = segments[last]!.replace(/\.git$/i, '');
  return segments.filter((s) => s !== '').map((s) => s.toLowerCase());
}

function location(host: string, path: string): string | undefined {
  const segments = segmentsOf(path);
  return segments.length === 0 ? undefined : `${host.toLowerCase()}/${segments.join('/')}`;
}

/**
 * The location a git URL points at: `host/path`, or `/path` for a local repository (file://
 * or an absolute path); undefined for text that is not a git URL (a bare `owner/repo`).
 */
export function repositoryLocation(url: string): string | undefined {
  const text = url.trim();
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (!URL_SCHEMES.has(scheme)) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      return undefined;
    }
    return location(scheme === 'file' ? '' : parsed.hostname, parsed.pathname);
  }
  if (text.startsWith('/')) return location('', text);
  const scp = SCP.exec(text);
  return scp === null ? undefined : location(scp[1]!, scp[2]!);
}

/** The segments of a full name (`Acme/App`, `group/sub/repo.git`), or undefined with fewer than 2. */
function fullNameSegments(name: string): string[] | undefined {
  const segments = segmentsOf(name.trim());
  return segments.length >= 2 ? segments : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringsAt(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap((v) => (isRecord(v) ? stringsAt(v.href) : []));
  return isRecord(value) ? stringsAt(value.href) : [];
}

/** URLs and names of one `repository` or `project` object; Bitbucket keeps its URLs in `links`. */
function readObject(object: Record<string, unknown>, urls: string[], names: string[]): void {
  for (const field of URL_FIELDS) {
    const value = object[field];
    if (typeof value === 'string') urls.push(value);
  }
  for (const field of NAME_FIELDS) {
    const value = object[field];
    if (typeof value === 'string') names.push(value);
  }
  const links = object.links;
  if (isRecord(links)) urls.push(...stringsAt(links.clone), ...stringsAt(links.html));
}

/**
 * What a push payload says about its repository: `repository` and `project` objects of GitHub,
 * Gitea, Forgejo, GitLab and Bitbucket, or a `repository` string (a URL or a full name) of the
 * generic webhook. Undefined when the payload names no repository at all.
 */
export function pushedRepository(payload: unknown): PushedRepository | undefined {
  if (!isRecord(payload)) return undefined;
  const urls: string[] = [];
  const names: string[] = [];
  for (const key of ['repository', 'project']) {
    const value = payload[key];
    if (isRecord(value)) readObject(value, urls, names);
    else if (typeof value === 'string' && key === 'repository') {
      if (repositoryLocation(value) === undefined) names.push(value);
      else urls.push(value);
    }
  }
  const locations = [
    ...new Set(urls.map(repositoryLocation).filter((l): l is string => l !== undefined)),
  ];
  const fullName = names.map(fullNameSegments).find((s) => s !== undefined);
  if (locations.length === 0 && fullName === undefined) return undefined;
  const name = fullName?.join('/');
  const label = (locations[0] ?? name ?? '').slice(0, MAX_LABEL);
  return { locations, ...(name === undefined ? {} : { fullName: name }), label };
}

function endsWith(path: string[], tail: string[]): boolean {
  if (tail.length > path.length) return false;
  const offset = path.length - tail.length;
  return tail.every((segment, i) => path[offset + i] === segment);
}

/**
 * The sources a push is for. A source whose URL is one of the payload's locations matches;
 * when none does, the full name matches sources whose path ends with it, but only when they
 * all follow the same repository: one name on two hosts says nothing about which was pushed.
 */
export function matchRepository(
  pushed: PushedRepository,
  followed: readonly FollowedRepository[],
): RepositoryMatch {
  const located = followed.map((f) => ({ name: f.name, location: repositoryLocation(f.url) }));
  const pushedAt = new Set(pushed.locations);
  const byUrl = located.filter((f) => f.location !== undefined && pushedAt.has(f.location));
  if (byUrl.length > 0) return { kind: 'matched', sources: byUrl.map((f) => f.name), by: 'url' };
  const tail = pushed.fullName === undefined ? undefined : pushed.fullName.split('/');
  if (tail === undefined) return { kind: 'none' };
  const byName = located.filter(
    (f) => f.location !== undefined && endsWith(f.location.split('/').slice(1), tail),
  );
  if (byName.length === 0) return { kind: 'none' };
  const sources = byName.map((f) => f.name);
  return new Set(byName.map((f) => f.location)).size === 1
    ? { kind: 'matched', sources, by: 'name' }
    : { kind: 'ambiguous', sources };
}
