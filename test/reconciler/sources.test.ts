import { describe, expect, it } from 'vitest';
import { LABEL, type ObservedProject } from '../../src/engine/types.js';
import { SourceError, StackError, UsageError } from '../../src/errors.js';
import { computePlan } from '../../src/plan/stack-plan.js';
import {
  mergeDiscoveries,
  ownedBy,
  withPrefix,
  type SourceDiscovery,
} from '../../src/reconciler/discovery.js';
import {
  leftScopeOf,
  ownerOf,
  recordedSource,
  revisionOf,
  selectSources,
  sourceErrorOf,
} from '../../src/reconciler/sources.js';
import type { NamedSource, PassContext, SourceResult } from '../../src/reconciler/types.js';
import type { DiscoveredStack, Discovery } from '../../src/stack/types.js';
import type { StackRecord } from '../../src/state/types.js';
import { DEFAULTS } from '../helpers/harness.js';

const V1 = 'a'.repeat(64);

function stack(root: string, folder: string, name = folder.split('/').pop()!): DiscoveredStack {
  return {
    name,
    dir: `${root}/${folder}`,
    relPath: folder,
    composeFiles: [`${root}/${folder}/compose.yaml`],
    version: V1,
    settings: { ...DEFAULTS, compose: {}, origin: 'defaults' },
  };
}

function part(source: string, folders: string[], prefix?: string): SourceDiscovery {
  const root = `/data/repos/${source}`;
  return {
    source,
    root,
    ...(prefix === undefined ? {} : { prefix }),
    discovery: { stacks: folders.map((f) => stack(root, f)), broken: [] },
  };
}

function record(name: string, source?: string): StackRecord {
  return {
    name,
    state: 'AVAILABLE',
    suspended: false,
    running: { version: V1, commit: 'c1' },
    conditions: [],
    ...(source === undefined ? {} : { source }),
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

function running(name: string): ObservedProject {
  const labels = { [LABEL.stackVersion]: V1 };
  return {
    name,
    services: {
      web: {
        containers: [
          {
            id: `id-${name}`,
            name: `${name}-web-1`,
            service: 'web',
            number: 1,
            state: 'running',
            labels,
          },
        ],
      },
    },
  } as unknown as ObservedProject;
}

const REV = (name: string): SourceResult['revision'] => ({
  commit: `commit-${name}`,
  ref: 'main',
  dir: `/data/repos/${name}`,
});

describe('merging the discoveries of several sources', () => {
  it('keeps every stack with one source and records its owner', () => {
    const merged = mergeDiscoveries([part('a', ['stacks/web', 'stacks/db']), part('b', ['x/api'])]);
    expect(merged.discovery.stacks.map((s) => s.name)).toEqual(['api', 'db', 'web']);
    expect(merged.discovery.broken).toEqual([]);
    expect(Object.fromEntries(merged.owners)).toEqual({ web: ['a'], db: ['a'], api: ['b'] });
  });

  it('breaks both stacks of a name two sources claim, naming both folders and sources', () => {
    const merged = mergeDiscoveries([
      part('a', ['stacks/web', 'stacks/db']),
      part('b', ['apps/web', 'apps/api']),
    ]);
    expect(merged.discovery.stacks.map((s) => s.name)).toEqual(['api', 'db']);
    expect(merged.discovery.broken).toHaveLength(2);
    for (const broken of merged.discovery.broken) {
      expect(broken.name).toBe('web');
      expect(broken.version).toBe(V1);
      expect(broken.error).toBeInstanceOf(StackError);
      expect(broken.error.reason).toBe('DuplicateStackName');
      expect(broken.error.message).toBe(
        'stack name "web" is used by several sources: apps/web of source b, stacks/web of source a; rename a folder, or give a source a prefix',
      );
    }
    expect(merged.discovery.broken.map((b) => b.dir).sort()).toEqual([
      '/data/repos/a/stacks/web',
      '/data/repos/b/apps/web',
    ]);
    expect(merged.owners.get('web')).toEqual(['a', 'b']);
  });

  it('tells the same folder names apart by a prefix', () => {
    const merged = mergeDiscoveries([part('a', ['stacks/web']), part('b', ['apps/web'], 'b-')]);
    expect(merged.discovery.stacks.map((s) => s.name)).toEqual(['b-web', 'web']);
    expect(merged.discovery.broken).toEqual([]);
    expect(merged.owners.get('b-web')).toEqual(['b']);
  });

  it('prefixes broken stacks too, and keeps a clash inside one source as it was', () => {
    const error = new StackError('DuplicateStackName', 'used by several folders');
    const discovery: Discovery = {
      stacks: [],
      broken: [
        { name: 'web', dir: '/r/a/web', error },
        { name: 'web', dir: '/r/b/web', error },
      ],
    };
    expect(withPrefix(discovery, 'p-').broken.map((b) => b.name)).toEqual(['p-web', 'p-web']);
    const merged = mergeDiscoveries([{ source: 'a', root: '/r', discovery }]);
    expect(merged.discovery.broken.map((b) => b.error)).toEqual([error, error]);
  });

  it('plans only the selected sources (a clashing name is each of its sources)', () => {
    const merged = mergeDiscoveries([
      part('a', ['stacks/web', 'stacks/db']),
      part('b', ['apps/web', 'apps/api']),
    ]);
    const onlyB = ownedBy(merged, new Set(['b']));
    expect(onlyB.stacks.map((s) => s.name)).toEqual(['api']);
    expect(onlyB.broken.map((s) => s.name)).toEqual(['web', 'web']);
  });
});

describe('selecting sources', () => {
  const named = (name: string): NamedSource => ({
    name,
    source: {
      sync: () => Promise.reject(new Error('x')),
      current: () => Promise.resolve(undefined),
    },
    paths: ['*'],
    defaults: DEFAULTS,
  });
  const all = [named('a'), named('b'), named('c')];

  it('keeps the config order and defaults to all', () => {
    expect(selectSources(all).map((s) => s.name)).toEqual(['a', 'b', 'c']);
    expect(selectSources(all, ['c', 'a']).map((s) => s.name)).toEqual(['a', 'c']);
  });

  it('refuses an unknown name as a usage error naming the known ones', () => {
    expect(() => selectSources(all, ['a', 'z'])).toThrow(UsageError);
    expect(() => selectSources(all, ['z'])).toThrow(
      'no source named z; the configured sources are: a, b, c',
    );
  });
});

describe('what a pass knows per stack', () => {
  const failure = new SourceError('FetchFailed', 'unreachable');
  const pass: PassContext = {
    revision: REV('a')!,
    sourceError: failure,
    sources: [
      { name: 'a', revision: REV('a') },
      { name: 'b', revision: REV('b'), error: failure },
    ],
    owners: new Map([
      ['web', ['a']],
      ['api', ['b']],
      ['both', ['a', 'b']],
    ]),
    discovery: { stacks: [], broken: [] },
  };

  it("gives each stack its own source's revision and error", () => {
    expect(revisionOf(pass, 'web').commit).toBe('commit-a');
    expect(revisionOf(pass, 'api').commit).toBe('commit-b');
    expect(sourceErrorOf(pass, 'web')).toBeUndefined();
    expect(sourceErrorOf(pass, 'api')).toBe(failure);
    expect(ownerOf(pass, 'api')).toBe('b');
    expect(ownerOf(pass, 'both')).toBeUndefined();
  });

  it('counts a stack recorded before several sources as the default one', () => {
    expect(recordedSource(undefined)).toBe('default');
    expect(recordedSource(record('x'))).toBe('default');
    expect(recordedSource(record('x', 'b'))).toBe('b');
  });
});

describe('prune, scoped to the source a stack came from', () => {
  /** A pass over `results` whose discovery holds none of the recorded stacks. */
  function plan(results: SourceResult[], records: StackRecord[], prune = true): string[] {
    const byName = new Map(records.map((r) => [r.name, r] as const));
    const scope = { sources: results, owners: new Map([['elsewhere', ['c']]]) };
    const entries = computePlan({
      discovery: { stacks: [], broken: [] },
      observed: new Map(records.map((r) => [r.name, running(r.name)] as const)),
      records: byName,
      bad: () => undefined,
      runningVersions: new Map(),
      prune,
      left: leftScopeOf(scope, byName),
    });
    return entries.map((e) => `${e.stack}:${e.action}${e.skip === undefined ? '' : `/${e.skip}`}`);
  }

  const records = [
    record('legacy'),
    record('of-a', 'a'),
    record('of-b', 'b'),
    record('of-gone', 'gone'),
    record('elsewhere', 'a'),
  ];

  it('prunes only stacks of sources that synced in this pass', () => {
    expect(plan([{ name: 'a', revision: REV('a') }], records)).toEqual(['of-a:remove']);
    expect(plan([{ name: 'default', revision: REV('default') }], records)).toEqual([
      'legacy:remove',
    ]);
  });

  it('keeps the stacks of a source that failed to sync, even with prune on', () => {
    const failed = new SourceError('FetchFailed', 'unreachable');
    const entries = plan(
      [
        { name: 'a', revision: REV('a') },
        { name: 'b', revision: REV('b'), error: failed },
      ],
      records,
    );
    expect(entries).toEqual(['of-a:remove', 'of-b:skip/kept']);
    const reason = computePlan({
      discovery: { stacks: [], broken: [] },
      observed: new Map([['of-b', running('of-b')]]),
      records: new Map([['of-b', record('of-b', 'b')]]),
      bad: () => undefined,
      runningVersions: new Map(),
      prune: true,
      left: leftScopeOf(
        { sources: [{ name: 'b', error: failed }], owners: new Map() },
        new Map([['of-b', record('of-b', 'b')]]),
      ),
    })[0]?.reason;
    expect(reason).toBe('folder not found; source b could not be synced; kept running');
  });

  it('leaves stacks of unselected sources, and a name another source holds, alone', () => {
    expect(plan([{ name: 'b', revision: REV('b') }], records)).toEqual(['of-b:remove']);
    expect(plan([{ name: 'a', revision: REV('a') }], records, false)).toEqual(['of-a:skip/kept']);
  });

  it('without a scope, treats every stack as the one source (as before)', () => {
    const entries = computePlan({
      discovery: { stacks: [], broken: [] },
      observed: new Map([['x', running('x')]]),
      records: new Map([['x', record('x', 'whatever')]]),
      bad: () => undefined,
      runningVersions: new Map(),
      prune: true,
    });
    expect(entries.map((e) => e.action)).toEqual(['remove']);
  });
});
