import { describe, expect, it } from 'vitest';
import { isHostGlob, matchesHostGlob, matchesName } from '../../src/policy/glob.js';

describe('host path globs', () => {
  it.each([
    ['**', '/', true],
    ['**', 'nvidia.com/gpu=all', true],
    ['/**', '/', true],
    ['/**', '/etc/passwd', true],
    ['/srv/**', '/srv', true],
    ['/srv/**', '/srv/media/films', true],
    ['/srv/**', '/srvx', false],
    ['/srv/*', '/srv/media', true],
    ['/srv/*', '/srv/media/films', false],
    ['/dev/sd?', '/dev/sda', true],
    ['/dev/sd?', '/dev/sda1', false],
    ['/var/run/docker.sock', '/var/run/docker.sock', true],
    ['/var/run/docker.sock', '/var/run/docker.sock/', true],
    ['/var/run/docker.sock', '/var/run/docker.socks', false],
    ['/home/*/media', '/home/ann/media', true],
    ['/a.b', '/aXb', false],
    ['/srv/**', 'relative/srv', false],
  ])('%s against %s: %s', (pattern, value, expected) => {
    expect(matchesHostGlob(pattern, value)).toBe(expected);
  });

  it('accepts only absolute patterns without . or .. segments, or **', () => {
    expect(['**', '/', '/srv/**', '/dev/dri/*'].every(isHostGlob)).toBe(true);
    expect(['srv/**', '*', '/srv/../etc', './x', ''].some(isHostGlob)).toBe(false);
  });
});

describe('name patterns', () => {
  it.each([
    ['*', 'ALL', true],
    ['NET_*', 'NET_ADMIN', true],
    ['NET_*', 'SYS_ADMIN', false],
    ['no-new-privileges*', 'no-new-privileges:true', true],
    ['no-new-privileges*', 'seccomp:unconfined', false],
    ['seccomp:unconfined', 'seccomp:unconfined', true],
    ['a.b', 'aXb', false],
  ])('%s against %s: %s', (pattern, value, expected) => {
    expect(matchesName(pattern, value)).toBe(expected);
  });
});
