import { describe, expect, it } from 'vitest';
import { parseExpose, parseShortPort } from '../../src/compose/ports.js';
import { splitShellWords } from '../../src/compose/shellwords.js';
import { parseSize } from '../../src/compose/units.js';
import { parseShortVolume } from '../../src/compose/volumes.js';
import { normalizeProjectName } from '../../src/compose/load.js';

describe('splitShellWords', () => {
  it.each([
    ['sleep 3600', ['sleep', '3600']],
    ['  a   b\tc ', ['a', 'b', 'c']],
    [`sh -c 'echo "hi there"'`, ['sh', '-c', 'echo "hi there"']],
    [`echo "a b" c`, ['echo', 'a b', 'c']],
    ['echo a\\ b', ['echo', 'a b']],
    [`echo "say \\"x\\""`, ['echo', 'say "x"']],
    [`echo ''`, ['echo', '']],
    [`x'y'"z"`, ['xyz']],
    ['', []],
  ])('%s', (text, words) => {
    expect(splitShellWords(text)).toEqual(words);
  });

  it('returns undefined for an unterminated quote', () => {
    expect(splitShellWords(`echo 'oops`)).toBeUndefined();
  });
});

describe('parseSize', () => {
  it.each([
    ['512m', 512 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1GB', 1024 ** 3],
    ['64k', 65536],
    ['100b', 100],
    ['1.5g', 1.5 * 1024 ** 3],
    [2048, 2048],
    ['2048', 2048],
  ] as const)('%s', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('rejects garbage', () => {
    expect(parseSize('lots')).toBeUndefined();
    expect(parseSize('12x')).toBeUndefined();
  });
});

describe('parseShortPort', () => {
  it.each([
    ['80', [{ target: 80, protocol: 'tcp' }]],
    [80, [{ target: 80, protocol: 'tcp' }]],
    ['8080:80', [{ target: 80, published: 8080, protocol: 'tcp' }]],
    [
      '127.0.0.1:8080:80/udp',
      [{ target: 80, published: 8080, hostIp: '127.0.0.1', protocol: 'udp' }],
    ],
    ['127.0.0.1::80', [{ target: 80, hostIp: '127.0.0.1', protocol: 'tcp' }]],
    ['[::1]:8080:80', [{ target: 80, published: 8080, hostIp: '::1', protocol: 'tcp' }]],
    [
      '8000-8002:9000-9002',
      [
        { target: 9000, published: 8000, protocol: 'tcp' },
        { target: 9001, published: 8001, protocol: 'tcp' },
        { target: 9002, published: 8002, protocol: 'tcp' },
      ],
    ],
    [
      '3000-3001',
      [
        { target: 3000, protocol: 'tcp' },
        { target: 3001, protocol: 'tcp' },
      ],
    ],
  ] as const)('%s', (spec, expected) => {
    expect(parseShortPort(spec)).toEqual(expected);
  });

  it.each([['80/xyz'], ['abc'], ['8000-8002:80-81'], ['1:2:3:4'], ['0'], ['70000']])(
    '%s is invalid',
    (spec) => {
      expect(typeof parseShortPort(spec)).toBe('string');
    },
  );
});

describe('parseExpose', () => {
  it('adds the protocol and expands ranges', () => {
    expect(parseExpose('3000')).toEqual(['3000/tcp']);
    expect(parseExpose(53)).toEqual(['53/tcp']);
    expect(parseExpose('53/udp')).toEqual(['53/udp']);
    expect(parseExpose('4000-4001')).toEqual(['4000/tcp', '4001/tcp']);
    expect(typeof parseExpose('x')).toBe('string');
  });
});

describe('parseShortVolume', () => {
  it('parses binds, named and anonymous volumes with options', () => {
    expect(parseShortVolume('./data:/data:ro', '/stack')).toEqual({
      type: 'bind',
      source: '/stack/data',
      target: '/data',
      read_only: true,
      bind: { create_host_path: true },
    });
    expect(parseShortVolume('/abs:/y:rw,z', '/stack')).toEqual({
      type: 'bind',
      source: '/abs',
      target: '/y',
      read_only: false,
      bind: { create_host_path: true, selinux: 'z' },
    });
    expect(parseShortVolume('~/conf:/conf:rshared', '/stack', '/home/me')).toEqual({
      type: 'bind',
      source: '/home/me/conf',
      target: '/conf',
      bind: { create_host_path: true, propagation: 'rshared' },
    });
    expect(parseShortVolume('named:/x:nocopy', '/stack')).toEqual({
      type: 'volume',
      source: 'named',
      target: '/x',
      volume: { nocopy: true },
    });
    expect(parseShortVolume('/anon', '/stack')).toEqual({
      type: 'volume',
      target: '/anon',
      volume: { nocopy: false },
    });
  });

  it('reports bad specs', () => {
    expect(parseShortVolume('a:/b:bogus', '/s')).toMatch(/unknown option "bogus"/);
    expect(parseShortVolume('a:b:c:d', '/s')).toMatch(/too many/);
    expect(parseShortVolume(':/x', '/s')).toMatch(/empty/);
  });
});

describe('normalizeProjectName', () => {
  it.each([
    ['MyStack', 'mystack'],
    ['my.stack!', 'mystack'],
    ['_-lead', 'lead'],
    ['a_b-c9', 'a_b-c9'],
    ['Über', 'ber'],
  ])('%s -> %s', (input, output) => {
    expect(normalizeProjectName(input)).toBe(output);
  });
});
