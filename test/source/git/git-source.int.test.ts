import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SourceError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import {
  createGitSource,
  parseCheckoutConfig,
  parseStatus,
  type GitSourceOptions,
} from '../../../src/source/git/git-source.js';
import { capturingLogger, commit, createFixture, git, type Fixture } from './git-fixture.js';

let fx: Fixture;

beforeEach(() => {
  fx = createFixture();
});

afterEach(() => {
  fx.cleanup();
});

function source(extra: Partial<GitSourceOptions> = {}): ReturnType<typeof createGitSource> {
  return createGitSource({ url: fx.url, dir: fx.checkout, logger: silentLogger(), ...extra });
}

function file(rel: string): string {
  return readFileSync(path.join(fx.checkout, rel), 'utf8');
}

describe('git source over file://', () => {
  it('clones shallow on the first sync and reports the revision without network', async () => {
    commit(fx.work, { 'stacks/db/compose.yaml': 'services: {db: {image: y}}\n' }, 'second');
    git(fx.work, 'push', '--quiet', 'origin', 'main');
    const head = git(fx.work, 'rev-parse', 'HEAD');
    const src = source();
    expect(await src.current()).toBeUndefined();

    const rev = await src.sync();

    expect(rev).toEqual({ commit: head, ref: 'main', dir: fx.checkout });
    expect(file('stacks/db/compose.yaml')).toContain('db');
    expect(git(fx.checkout, 'rev-parse', '--is-shallow-repository')).toBe('true');
    expect(git(fx.checkout, 'rev-list', '--count', 'HEAD')).toBe('1');
    expect(git(fx.checkout, 'tag', '--list')).toBe('');
    // current() reads the checkout only: it still answers with the remote gone.
    renameSync(fx.bare, `${fx.bare}.gone`);
    expect(await src.current()).toEqual(rev);
    expect(await source().current()).toEqual(rev);
  });

  it('picks up new commits, drops removed and stray files, undoes local edits', async () => {
    const src = source();
    await src.sync();
    writeFileSync(path.join(fx.checkout, 'stray.txt'), 'left behind');
    writeFileSync(path.join(fx.checkout, 'stacks/web/compose.yaml'), 'edited locally');
    const next = commit(
      fx.work,
      { 'stacks/web/compose.yaml': null, 'stacks/api/compose.yaml': 'services: {}\n' },
      'move',
    );
    git(fx.work, 'push', '--quiet', 'origin', 'main');

    const rev = await src.sync();

    expect(rev.commit).toBe(next);
    expect(existsSync(path.join(fx.checkout, 'stacks/web/compose.yaml'))).toBe(false);
    expect(existsSync(path.join(fx.checkout, 'stray.txt'))).toBe(false);
    expect(file('stacks/api/compose.yaml')).toBe('services: {}\n');
  });

  it('follows a force-push that rewrote history', async () => {
    commit(fx.work, { 'a.txt': 'a' }, 'a');
    git(fx.work, 'push', '--quiet', 'origin', 'main');
    const src = source();
    await src.sync();
    git(fx.work, 'reset', '--quiet', '--hard', 'HEAD~1');
    const rewritten = commit(fx.work, { 'b.txt': 'b' }, 'b instead of a');
    git(fx.work, 'push', '--quiet', '--force', 'origin', 'main');

    const rev = await src.sync();

    expect(rev.commit).toBe(rewritten);
    expect(existsSync(path.join(fx.checkout, 'a.txt'))).toBe(false);
    expect(file('b.txt')).toBe('b');
  });

  it('follows the configured branch and switches when it changes', async () => {
    git(fx.work, 'checkout', '--quiet', '-b', 'staging');
    const staging = commit(fx.work, { 'which.txt': 'staging' }, 'staging');
    git(fx.work, 'push', '--quiet', 'origin', 'staging');

    const rev = await source({ branch: 'staging' }).sync();
    expect(rev).toMatchObject({ commit: staging, ref: 'staging' });
    expect(file('which.txt')).toBe('staging');

    const back = await source({ branch: 'main' }).sync();
    expect(back.ref).toBe('main');
    expect(back.commit).toBe(git(fx.bare, 'rev-parse', 'main'));
    expect(existsSync(path.join(fx.checkout, 'which.txt'))).toBe(false);
  });

  it('fetches the full history with depth 0', async () => {
    commit(fx.work, { 'a.txt': 'a' }, 'a');
    git(fx.work, 'push', '--quiet', 'origin', 'main');
    await source({ depth: 0 }).sync();
    expect(git(fx.checkout, 'rev-parse', '--is-shallow-repository')).toBe('false');
    expect(git(fx.checkout, 'rev-list', '--count', 'HEAD')).toBe('2');
  });

  it('keeps the checkout at the last fetched revision when the remote is gone', async () => {
    const { logger, output } = capturingLogger();
    const src = source({ logger });
    const rev = await src.sync();
    commit(fx.work, { 'later.txt': 'later' }, 'later');
    git(fx.work, 'push', '--quiet', 'origin', 'main');
    renameSync(fx.bare, `${fx.bare}.gone`);

    const err = await src.sync().catch((e: unknown) => e);

    expect(err).toBeInstanceOf(SourceError);
    expect(err).toMatchObject({ reason: 'FetchFailed', transient: true });
    expect(await src.current()).toEqual(rev);
    expect(existsSync(path.join(fx.checkout, 'later.txt'))).toBe(false);
    expect(file('stacks/web/compose.yaml')).toContain('web');
    expect(output()).toContain('cloning source');
  });

  it('reports a missing branch as RefNotFound and keeps the checkout', async () => {
    const rev = await source().sync();
    const err = await source({ branch: 'nope' })
      .sync()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'SourceError', reason: 'RefNotFound', transient: false });
    expect(await source().current()).toEqual(rev);
  });

  it('clones afresh when the remote url changes, and not before it is reachable', async () => {
    await source().sync();
    const other = path.join(fx.root, 'other.git');
    const otherWork = path.join(fx.root, 'other-work');
    git(fx.root, 'init', '--quiet', '--bare', '--initial-branch=main', other);
    git(fx.root, 'init', '--quiet', '--initial-branch=main', otherWork);
    git(otherWork, 'remote', 'add', 'origin', other);
    const otherHead = commit(otherWork, { 'other.txt': 'other' }, 'other');

    const failed = await source({ url: `file://${other}` })
      .sync()
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(SourceError);
    expect(existsSync(path.join(fx.checkout, 'stacks/web/compose.yaml'))).toBe(true);

    git(otherWork, 'push', '--quiet', 'origin', 'main');
    const rev = await source({ url: `file://${other}` }).sync();
    expect(rev.commit).toBe(otherHead);
    expect(existsSync(path.join(fx.checkout, 'stacks'))).toBe(false);
    expect(git(fx.checkout, 'config', '--get', 'remote.origin.url')).toBe(`file://${other}`);
  });

  it('stops on an aborted signal; the next sync clears clones cut short', async () => {
    const leftover = path.join(path.dirname(fx.checkout), '.repo-clone-crashed');
    mkdirSync(leftover, { recursive: true });
    const controller = new AbortController();
    controller.abort();
    const err = await source()
      .sync(controller.signal)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'SourceError', reason: 'Aborted' });
    expect(existsSync(fx.checkout)).toBe(false);
    await source().sync();
    expect(readdirSync(path.dirname(fx.checkout))).toEqual([path.basename(fx.checkout)]);
  });

  it('spends three git processes on a sync that finds nothing new, and fetches nothing', async () => {
    // A shim ahead of git on PATH counts the processes berth starts; git itself does the work.
    const bin = path.join(fx.root, 'bin');
    const calls = path.join(fx.root, 'calls.log');
    mkdirSync(bin);
    writeFileSync(
      path.join(bin, 'git'),
      `#!/bin/sh\necho "$*" >> '${calls}'\nexec ${gitPath()} "$@"\n`,
      { mode: 0o755 },
    );
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved ?? ''}`;
    try {
      const src = source();
      const first = await src.sync();
      writeFileSync(calls, '');
      const again = await src.sync();
      expect(again).toEqual(first);
      const commands = readFileSync(calls, 'utf8')
        .trim()
        .split('\n')
        .map(
          (line) => /(ls-remote|config|fetch|rev-parse|status|checkout|clean)\b/.exec(line)?.[1],
        );
      expect(commands).toEqual(['ls-remote', 'config', 'status']);
    } finally {
      process.env.PATH = saved;
    }
  });

  it('runs overlapping syncs one after the other', async () => {
    const src = source();
    const [a, b] = await Promise.all([src.sync(), src.sync()]);
    expect(a).toEqual(b);
  });
});

describe('git source following tags', () => {
  function tag(name: string, annotated = false): void {
    if (annotated) git(fx.work, 'tag', '-a', '-m', name, name);
    else git(fx.work, 'tag', name);
    git(fx.work, 'push', '--quiet', 'origin', `refs/tags/${name}`);
  }

  it('checks out the newest semver tag matching the glob and moves with new tags', async () => {
    commit(fx.work, { 'version.txt': '1.2.0' }, '1.2.0');
    tag('v1.2.0');
    commit(fx.work, { 'version.txt': '1.10.0' }, '1.10.0');
    tag('v1.10.0', true);
    commit(fx.work, { 'version.txt': '1.9.0' }, '1.9.0');
    tag('v1.9.0');
    commit(fx.work, { 'version.txt': 'not semver' }, 'latest');
    tag('v-latest');
    tag('release-9.0.0');
    git(fx.work, 'push', '--quiet', 'origin', 'main');
    const src = source({ tag: 'v*' });

    const rev = await src.sync();

    expect(rev.ref).toBe('v1.10.0');
    expect(rev.commit).toBe(git(fx.work, 'rev-parse', 'v1.10.0^{commit}'));
    expect(file('version.txt')).toBe('1.10.0');
    expect(await src.current()).toEqual(rev);

    commit(fx.work, { 'version.txt': '2.0.0' }, '2.0.0');
    tag('v2.0.0');
    const moved = await src.sync();
    expect(moved).toMatchObject({ ref: 'v2.0.0', commit: git(fx.work, 'rev-parse', 'HEAD') });
    expect(file('version.txt')).toBe('2.0.0');
    expect(git(fx.checkout, 'rev-parse', '--is-shallow-repository')).toBe('true');
    // Nothing new: the same tag, the same commit, no change.
    expect(await src.sync()).toEqual(moved);
  });

  it('throws NoMatchingTag when no semver tag matches and leaves the checkout alone', async () => {
    tag('nightly');
    const err = await source({ tag: 'v*' })
      .sync()
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'SourceError', reason: 'NoMatchingTag', transient: false });
    expect(existsSync(fx.checkout)).toBe(false);
  });
});

describe('parseCheckoutConfig', () => {
  it('reads the url and the noted ref from git config --get-regexp output', () => {
    expect(parseCheckoutConfig('remote.origin.url file:///srv/a b.git\nberth.ref main\n')).toEqual({
      url: 'file:///srv/a b.git',
      ref: 'main',
    });
    expect(parseCheckoutConfig('remote.origin.url https://x/y.git\n')).toEqual({
      url: 'https://x/y.git',
    });
    expect(parseCheckoutConfig('')).toEqual({});
  });
});

describe('parseStatus', () => {
  const oid = 'a'.repeat(40);

  it('reads HEAD, the branch and whether anything differs', () => {
    expect(parseStatus(`# branch.oid ${oid}\n# branch.head main\n`)).toEqual({
      head: oid,
      branch: 'main',
      clean: true,
    });
    expect(parseStatus(`# branch.oid ${oid}\n# branch.head (detached)\n! stray.log\n`)).toEqual({
      head: oid,
      clean: false,
    });
    expect(parseStatus('# branch.oid (initial)\n# branch.head main\n')).toEqual({
      branch: 'main',
      clean: true,
    });
  });

  it('takes no header from a file named like one', () => {
    expect(parseStatus(`# branch.head main\n? branch.oid ${oid}\n`)).toEqual({
      branch: 'main',
      clean: false,
    });
  });
});

function gitPath(): string {
  return execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
}
