import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { SourceError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { createScrubber, gitEnvironment, type GitAuthOptions } from './git-env.js';
import { parseLsRemoteTags, pickNewestTag } from './tags.js';
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

  function git(cwd: string, signal?: AbortSignal): SimpleGit {
    return simpleGit({
      baseDir: cwd,
      maxConcurrentProcesses: 1,
      ...(signal ? { abort: signal } : {}),
      // Both carry values berth sets itself: the auth header and the ssh command.
      unsafe: { allowUnsafeConfigEnvCount: true, allowUnsafeSshCommand: true },
    }).env(env);
  }

  async function run(
    cwd: string,
    args: string[],
    step: Step,
    signal?: AbortSignal,
  ): Promise<string> {
    try {
      return await git(cwd, signal).raw(args);
    } catch (err) {
      throw gitFailure(err, step, scrub, signal);
    }
  }

  async function resolveTarget(signal?: AbortSignal): Promise<Target> {
    if (options.tag === undefined)
      return {
        ref: branch,
        remote: `refs/heads/${branch}`,
        local: `refs/remotes/origin/${branch}`,
        kind: 'branch',
      };
    await mkdir(parent, { recursive: true });
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

  /** The remote url of an existing checkout, or undefined when there is none usable. */
  async function checkoutUrl(): Promise<string | undefined> {
    if (!existsSync(path.join(dir, '.git'))) return undefined;
    try {
      return (await git(dir).raw(['config', '--get', 'remote.origin.url'])).trim();
    } catch {
      return undefined;
    }
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

  async function fetchAndReset(target: Target, signal?: AbortSignal): Promise<void> {
    const have =
      target.commit === undefined
        ? undefined
        : await git(dir)
            .raw(['rev-parse', '--verify', '--quiet', `${target.local}^{commit}`])
            .then((out) => out.trim())
            .catch(() => undefined);
    if (have === undefined || have !== target.commit) {
      const args = ['fetch', '--no-tags'];
      if (depth > 0) args.push('--depth', String(depth));
      else if (
        (await run(dir, ['rev-parse', '--is-shallow-repository'], 'inspect')).trim() === 'true'
      )
        args.push('--unshallow');
      await run(dir, [...args, 'origin', `+${target.remote}:${target.local}`], 'fetch', signal);
    }
    // Only now, with the objects in place, does the working tree move.
    await run(
      dir,
      target.kind === 'tag'
        ? ['checkout', '--force', '--detach', `${target.local}^{commit}`]
        : ['checkout', '--force', '-B', target.ref, target.local],
      'checkout',
    );
    await run(dir, ['clean', '-ffdx'], 'checkout');
    await run(dir, ['config', REF_KEY, target.ref], 'checkout');
  }

  async function current(): Promise<SourceRevision | undefined> {
    if (!existsSync(path.join(dir, '.git'))) return undefined;
    try {
      const commit = (await git(dir).raw(['rev-parse', '--verify', 'HEAD'])).trim();
      const ref = await git(dir)
        .raw(['config', '--get', REF_KEY])
        .then((out) => out.trim())
        .catch(() => '');
      return { commit, ref: ref === '' ? (options.tag ?? branch) : ref, dir };
    } catch {
      return undefined;
    }
  }

  async function syncOnce(signal?: AbortSignal): Promise<SourceRevision> {
    const before = await current();
    const target = await resolveTarget(signal);
    const present = await checkoutUrl();
    if (present === url) await fetchAndReset(target, signal);
    else {
      if (present !== undefined)
        logger.info({ url: safeUrl, previous: scrub(present) }, 'source url changed, cloning');
      else logger.info({ url: safeUrl, ref: target.ref, dir }, 'cloning source');
      await cloneFresh(target, signal);
    }
    const commit = (await run(dir, ['rev-parse', '--verify', 'HEAD'], 'inspect')).trim();
    const fields = { url: safeUrl, ref: target.ref, commit };
    if (before?.commit !== commit || before.ref !== target.ref)
      logger.info({ ...fields, previous: before?.commit }, 'source updated');
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
