import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { SourceError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { createScrubber, gitEnvironment, type GitAuthOptions } from './git-env.js';
import { runGit } from './run-git.js';
import { parseLsRemoteRef, parseLsRemoteTags, pickNewestTag } from './tags.js';
import type { SourceRevision, StackSource } from '../types.js';
import type { Reason } from '../../reasons.js';

export interface GitSourceOptions {
  /** https://, http://, ssh://, user@host:path or file://; never with credentials in it. */
  url: string;
  /** The branch followed; main unless `tag` is set. */
  branch?: string;
  /** A glob over tag names: the newest matching semver tag is checked out. */
  tag?: string;
  /** Commits fetched; 1 by default, 0 = full history. */
  depth?: number;
  auth?: GitAuthOptions;
  /** The checkout, dataDir/repo. */
  dir: string;
  logger: Logger;
  /**
   * known_hosts for ssh remotes when auth.knownHostsFile is not set: the host key seen on
   * first contact is kept there and must not change. Default: known_hosts next to `dir`.
   */
  defaultKnownHostsFile?: string;
}

interface Target {
  /** What SourceRevision.ref reports: the branch or tag name. */
  ref: string;
  /** The ref on the remote and where the fetch stores it locally. */
  remote: string;
  local: string;
  kind: 'branch' | 'tag';
  /** Known up front for tags (from ls-remote). */
  commit?: string;
}

type Step = 'clone' | 'fetch' | 'ls-remote' | 'checkout' | 'inspect';

/** Where berth notes the ref it checked out, so current() needs no network. */
const REF_KEY = 'berth.ref';
const CHECKOUT_KEYS = '^(remote\\.origin\\.url|berth\\.ref)$';

export interface TreeState {
  /** HEAD's commit; undefined before the first commit or when git could not tell. */
  head?: string;
  /** The branch HEAD is on; undefined when detached. */
  branch?: string;
  /** No tracked file changed and no untracked or ignored file present. */
  clean: boolean;
}

interface Checkout {
  url: string;
  /** Unset in a checkout made before berth noted refs. */
  ref: string | undefined;
}

/**
 * A git checkout that follows a branch or the newest matching tag. Every sync fetches into
 * the object store first and only then moves the working tree, so a failed fetch leaves the
 * checkout exactly at the last fetched revision. Syncs never overlap.
 */
export function createGitSource(options: GitSourceOptions): StackSource {
  const { url, auth, logger } = options;
  if (options.branch !== undefined && options.tag !== undefined)
    throw new SourceError('InvalidSource', 'branch and tag are mutually exclusive', {
      transient: false,
      place: { field: 'source.git.tag' },
    });
  const dir = path.resolve(options.dir);
  const parent = path.dirname(dir);
  const depth = options.depth ?? 1;
  const branch = options.branch ?? 'main';
  const scrub = createScrubber(auth);
  const safeUrl = scrub(url);
  const env = gitEnvironment(
    url,
    auth,
    options.defaultKnownHostsFile ?? path.join(parent, 'known_hosts'),
  );
  let queue: Promise<unknown> = Promise.resolve();

  /** One git process; undefined when it fails (for questions whose failure is an answer). */
  function ask(args: string[]): Promise<string | undefined> {
    return runGit(dir, args, env).catch(() => undefined);
  }

  async function run(
    cwd: string,
    args: string[],
    step: Step,
    signal?: AbortSignal,
  ): Promise<string> {
    try {
      return await runGit(cwd, args, env, signal);
    } catch (err) {
      throw gitFailure(err, step, scrub, signal);
    }
  }

  /**
   * The branch or newest matching tag and the commit the remote has for it, from one
   * ls-remote: a sync that finds the commit already fetched skips the fetch.
   */
  async function resolveTarget(signal?: AbortSignal): Promise<Target> {
    await mkdir(parent, { recursive: true });
    if (options.tag === undefined) return resolveBranch(signal);
    const listing = await run(parent, ['ls-remote', '--tags', '--', url], 'ls-remote', signal);
    const newest = pickNewestTag(parseLsRemoteTags(listing), options.tag);
    if (newest === undefined)
      throw new SourceError(
        'NoMatchingTag',
        `no semver tag on ${safeUrl} matches ${JSON.stringify(options.tag)}`,
        { transient: false, place: { field: 'source.git.tag' } },
      );
    return {
      ref: newest.name,
      remote: `refs/tags/${newest.name}`,
      local: `refs/tags/${newest.name}`,
      kind: 'tag',
      commit: newest.commit,
    };
  }

  async function resolveBranch(signal?: AbortSignal): Promise<Target> {
    const remote = `refs/heads/${branch}`;
    const listing = await run(parent, ['ls-remote', '--', url, remote], 'ls-remote', signal);
    const commit = parseLsRemoteRef(listing, remote);
    if (commit === undefined)
      throw new SourceError('RefNotFound', `branch ${branch} not found on ${safeUrl}`, {
        transient: false,
        place: { field: 'source.git.branch' },
      });
    return { ref: branch, remote, local: `refs/remotes/origin/${branch}`, kind: 'branch', commit };
  }

  /**
   * The remote url and the ref berth noted in an existing checkout, read with one git process
   * (a no-op sync spends most of its time starting processes); undefined when there is none.
   */
  async function readCheckout(): Promise<Checkout | undefined> {
    if (!existsSync(path.join(dir, '.git'))) return undefined;
    const out = await ask(['config', '--local', '--get-regexp', CHECKOUT_KEYS]);
    const found = parseCheckoutConfig(out ?? '');
    return found.url === undefined ? undefined : { url: found.url, ref: found.ref };
  }

  /** Clones next to the checkout and swaps it in only once the clone is complete. */
  async function cloneFresh(target: Target, signal?: AbortSignal): Promise<void> {
    await mkdir(parent, { recursive: true });
    const prefix = `.${path.basename(dir)}-clone-`;
    // A clone cut short by a crash leaves its temp folder behind; nothing else uses them.
    for (const name of await readdir(parent)) {
      if (name.startsWith(prefix))
        await rm(path.join(parent, name), { recursive: true, force: true });
    }
    const temp = await mkdtemp(path.join(parent, prefix));
    try {
      const args = ['clone', '--single-branch', '--no-tags', '--branch', target.ref];
      if (depth > 0) args.push('--depth', String(depth));
      await run(parent, [...args, '--', url, temp], 'clone', signal);
      await run(temp, ['config', REF_KEY, target.ref], 'checkout');
      await rm(dir, { recursive: true, force: true });
      await rename(temp, dir);
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      throw err;
    }
  }

  /** git marks a shallow repository with this file (what --is-shallow-repository reads). */
  function shallow(): boolean {
    return existsSync(path.join(dir, '.git', 'shallow'));
  }

  /** Fetches the target's ref and returns the commit it points at now. */
  async function fetchTarget(target: Target, signal?: AbortSignal): Promise<string> {
    const args = ['fetch', '--no-tags'];
    if (depth > 0) args.push('--depth', String(depth));
    else if (shallow()) args.push('--unshallow');
    await run(dir, [...args, 'origin', `+${target.remote}:${target.local}`], 'fetch', signal);
    return (
      await run(dir, ['rev-parse', '--verify', `${target.local}^{commit}`], 'inspect')
    ).trim();
  }

  /**
   * Where HEAD is and whether the working tree is exactly it, in one process. A no-op sync
   * is this, the ls-remote and the config read: the checkout already holds the remote's commit.
   */
  async function lookAtTree(): Promise<TreeState> {
    const out = await ask([
      'status',
      '--porcelain=v2',
      '--branch',
      '--ignored',
      '--untracked-files=all',
    ]);
    return out === undefined ? { clean: false } : parseStatus(out);
  }

  /** Whether HEAD is the target's commit, on the target's branch (or detached, for a tag). */
  function isAt(tree: TreeState, target: Target, checkout: Checkout): boolean {
    const onRef = target.kind === 'tag' ? tree.branch === undefined : tree.branch === target.ref;
    return (
      tree.head !== undefined && tree.head === target.commit && onRef && checkout.ref === target.ref
    );
  }

  /**
   * Fetches unless HEAD already is the remote's commit, then moves the working tree unless it
   * is already exactly that commit; returns the commit HEAD was at before.
   */
  async function update(
    target: Target,
    checkout: Checkout,
    signal?: AbortSignal,
  ): Promise<{ before?: string; commit: string }> {
    const tree = await lookAtTree();
    const before = tree.head === undefined ? {} : { before: tree.head };
    const settled = isAt(tree, target, checkout) && !(depth === 0 && shallow());
    if (settled && tree.clean) return { ...before, commit: tree.head! };
    const commit = settled ? tree.head! : await fetchTarget(target, signal);
    // Only now, with the objects in place, does the working tree move.
    await run(
      dir,
      target.kind === 'tag'
        ? ['checkout', '--force', '--detach', commit]
        : ['checkout', '--force', '-B', target.ref, commit],
      'checkout',
    );
    await run(dir, ['clean', '-ffdx'], 'checkout');
    if (checkout.ref !== target.ref) await run(dir, ['config', REF_KEY, target.ref], 'checkout');
    return { ...before, commit };
  }

  async function current(): Promise<SourceRevision | undefined> {
    const checkout = await readCheckout();
    if (checkout === undefined) return undefined;
    const commit = (await ask(['rev-parse', '--verify', 'HEAD']))?.trim();
    return commit ? { commit, ref: checkout.ref ?? options.tag ?? branch, dir } : undefined;
  }

  /** Clones (or re-clones, when the url changed); returns the commit checked out. */
  async function replace(
    target: Target,
    present: Checkout | undefined,
    signal?: AbortSignal,
  ): Promise<string> {
    if (present !== undefined)
      logger.info({ url: safeUrl, previous: scrub(present.url) }, 'source url changed, cloning');
    else logger.info({ url: safeUrl, ref: target.ref, dir }, 'cloning source');
    await cloneFresh(target, signal);
    return (await run(dir, ['rev-parse', '--verify', 'HEAD'], 'inspect')).trim();
  }

  async function syncOnce(signal?: AbortSignal): Promise<SourceRevision> {
    const target = await resolveTarget(signal);
    const present = await readCheckout();
    let before: { commit?: string; ref?: string } = {};
    let commit: string;
    if (present?.url === url) {
      const moved = await update(target, present, signal);
      before = {
        ...(moved.before === undefined ? {} : { commit: moved.before }),
        ...(present.ref === undefined ? {} : { ref: present.ref }),
      };
      commit = moved.commit;
    } else commit = await replace(target, present, signal);
    const fields = { url: safeUrl, ref: target.ref, commit };
    if (before.commit !== commit || before.ref !== target.ref)
      logger.info({ ...fields, previous: before.commit }, 'source updated');
    else logger.debug(fields, 'source unchanged');
    return { commit, ref: target.ref, dir };
  }

  return {
    sync(signal?: AbortSignal): Promise<SourceRevision> {
      const next = queue.then(
        () => syncOnce(signal),
        () => syncOnce(signal),
      );
      queue = next.catch(() => undefined);
      return next;
    },
    current,
  };
}

/** How git's complaints map to reasons; anything unrecognised counts as a failed fetch. */
export function classifyGitFailure(text: string): { reason: Reason; transient: boolean } {
  if (
    /Authentication failed|could not read (Username|Password)|terminal prompts disabled|HTTP Basic: Access denied|Permission denied \(|returned error: 40[13]|Host key verification failed|No (ED25519|RSA|ECDSA)? ?host key is known/i.test(
      text,
    )
  )
    return { reason: 'AuthFailed', transient: false };
  if (
    /couldn't find remote ref|Remote branch .* not found|not found in upstream|invalid refspec/i.test(
      text,
    )
  )
    return { reason: 'RefNotFound', transient: false };
  return { reason: 'FetchFailed', transient: true };
}

function gitFailure(
  err: unknown,
  step: Step,
  scrub: (text: string) => string,
  signal: AbortSignal | undefined,
): SourceError {
  const raw = scrub(err instanceof Error ? err.message : String(err));
  const lines = raw
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^(hint:|Cloning into|@+$)/.test(line));
  // git and ssh wrap the cause in banners and advice; the fatal/error lines carry it.
  const telling = lines.filter((line) =>
    /^(fatal|error):|denied|verification failed|refused|timed out|not found/i.test(line),
  );
  const text = (telling.length > 0 ? telling : lines).slice(0, 4).join(' / ');
  if (signal?.aborted)
    return new SourceError('Aborted', `git ${step} aborted`, { transient: true });
  const { reason, transient } =
    step === 'checkout' || step === 'inspect'
      ? { reason: 'CheckoutFailed' as const, transient: false }
      : classifyGitFailure(raw);
  // The original error is not attached as cause: its message is git's unscrubbed output.
  return new SourceError(reason, `git ${step} failed: ${text}`, {
    transient,
    place: { field: 'source.git.url' },
  });
}

/** `git config --get-regexp` output: one "key value" line per key. */
export function parseCheckoutConfig(out: string): { url?: string; ref?: string } {
  const found: { url?: string; ref?: string } = {};
  for (const line of out.split('\n')) {
    const space = line.indexOf(' ');
    if (space < 0) continue;
    const key = line.slice(0, space).toLowerCase();
    const value = line.slice(space + 1).trim();
    if (key === 'remote.origin.url') found.url = value;
    else if (key === REF_KEY) found.ref = value;
  }
  return found;
}

/** `git status --porcelain=v2 --branch` output: `# branch.*` headers, then one line per change. */
export function parseStatus(out: string): TreeState {
  const state: TreeState = { clean: true };
  for (const line of out.split('\n')) {
    if (line === '') continue;
    if (!line.startsWith('# ')) {
      state.clean = false;
      continue;
    }
    const [key, value] = line.slice(2).split(' ', 2);
    if (key === 'branch.oid' && value !== undefined && /^[0-9a-f]{40,64}$/.test(value))
      state.head = value;
    else if (key === 'branch.head' && value !== undefined && value !== '(detached)')
      state.branch = value;
  }
  return state;
}
