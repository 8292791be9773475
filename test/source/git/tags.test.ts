import { describe, expect, it } from 'vitest';
import {
  globToRegExp,
  parseLsRemoteRef,
  parseLsRemoteTags,
  pickNewestTag,
} from '../../../src/source/git/tags.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

describe('parseLsRemoteRef', () => {
  it('takes the line of exactly that ref, not one that only ends in it', () => {
    const output = [`${A}\trefs/heads/team/refs/heads/main`, `${B}\trefs/heads/main`, ''].join(
      '\n',
    );
    expect(parseLsRemoteRef(output, 'refs/heads/main')).toBe(B);
    expect(parseLsRemoteRef(output, 'refs/heads/dev')).toBeUndefined();
    expect(parseLsRemoteRef('', 'refs/heads/main')).toBeUndefined();
  });
});

describe('parseLsRemoteTags', () => {
  it('reads tags and prefers the peeled commit of annotated tags', () => {
    const output = [
      `${A}\trefs/tags/v1.0.0`,
      `${B}\trefs/tags/v1.1.0`,
      `${C}\trefs/tags/v1.1.0^{}`,
      `${A}\trefs/heads/main`,
      '',
    ].join('\n');
    expect(parseLsRemoteTags(output)).toEqual([
      { name: 'v1.0.0', commit: A },
      { name: 'v1.1.0', commit: C },
    ]);
  });
});

describe('pickNewestTag', () => {
  const tags = (...names: string[]): { name: string; commit: string }[] =>
    names.map((name) => ({ name, commit: A }));

  it('orders by semver, not by text', () => {
    expect(pickNewestTag(tags('v1.2.0', 'v1.10.0', 'v1.9.9'), 'v*')?.name).toBe('v1.10.0');
  });

  it('ignores tags that are not semver or do not match the glob', () => {
    const all = tags('v1.0.0', 'v-latest', 'v2', 'release-9.0.0', 'nightly');
    expect(pickNewestTag(all, 'v*')?.name).toBe('v1.0.0');
    expect(pickNewestTag(all, 'release-*')?.name).toBe('release-9.0.0');
    expect(pickNewestTag(tags('release-1.2.0', 'release-1.10.0'), 'release-*')?.name).toBe(
      'release-1.10.0',
    );
  });

  it('puts a prerelease below its release', () => {
    expect(pickNewestTag(tags('v2.0.0-rc.1', 'v2.0.0', 'v1.9.0'), 'v*')?.name).toBe('v2.0.0');
    expect(pickNewestTag(tags('v2.0.0-rc.1', 'v1.9.0'), 'v*')?.name).toBe('v2.0.0-rc.1');
  });

  it('returns undefined when nothing matches', () => {
    expect(pickNewestTag(tags('nightly', 'v1'), 'v*')).toBeUndefined();
  });
});

describe('globToRegExp', () => {
  it.each([
    ['v*', 'v1.2.3', true],
    ['v*', 'xv1.2.3', false],
    ['v1.?.0', 'v1.5.0', true],
    ['v1.?.0', 'v1.50.0', false],
    ['v[12].*', 'v2.0.0', true],
    ['v[!12].*', 'v2.0.0', false],
    ['v1.2.3', 'v1x2x3', false],
    ['prod/*', 'prod/v1.0.0', true],
  ])('%s against %s is %s', (glob, name, expected) => {
    expect(globToRegExp(glob).test(name)).toBe(expected);
  });
});
