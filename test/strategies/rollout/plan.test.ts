import { describe, expect, it } from 'vitest';
import { dependencyLevels } from '../../../src/compose/dependencies.js';
import type { ComposeProject, ServiceConfig } from '../../../src/compose/types.js';
import type { ContainerPlanItem } from '../../../src/engine/types.js';
import type { PlanAction } from '../../../src/plan-entry.js';
import {
  batchCount,
  computeRolloutPlan,
  stopFirstReason,
  type RolloutPlanInput,
  rollGraph,
} from '../../../src/strategies/rollout/plan.js';
import { describePlan } from '../../../src/strategies/rollout/planner.js';
import { SettingsError } from '../../../src/errors.js';
import { assertExclusiveVolumesDeclared } from '../../../src/stack/settings.js';
import type { BatchSize, DeploySettings } from '../../../src/stack/types.js';
import { project, service, volume } from '../../engine/fixtures.js';

/** One engine plan item, named and identified the way `engine.plan` names project `p`'s containers. */
function item(
  svc: string,
  number: number,
  action: PlanAction,
  reason?: string,
  overrides: Partial<ContainerPlanItem> = {},
): ContainerPlanItem {
  const defaults: Record<PlanAction, string> = {
    create: 'missing',
    recreate: 'config hash changed',
    unchanged: 'up to date',
    remove: 'scale down',
    skip: 'orphan: service left the file (kept, removeOrphans off)',
  };
  return {
    subject: `p-${svc}-${number}`,
    service: svc,
    number,
    action,
    reason: reason ?? defaults[action],
    ...(action === 'create' ? {} : { containerId: `id-${svc}-${number}` }),
    ...overrides,
  };
}

/** Every replica of a service with the same action. */
function items(svc: string, count: number, action: PlanAction): ContainerPlanItem[] {
  return Array.from({ length: count }, (_, i) => item(svc, i + 1, action));
}

function plan(
  p: ComposeProject,
  planItems: ContainerPlanItem[],
  options: Partial<Omit<RolloutPlanInput, 'project' | 'items'>> = {},
) {
  return computeRolloutPlan({
    project: p,
    items: planItems,
    levels: options.levels ?? dependencyLevels(p),
    method: options.method ?? 'blue-green',
    exclusiveVolumes: options.exclusiveVolumes ?? [],
    ...(options.batch === undefined ? {} : { batch: options.batch }),
  });
}

function one(p: ComposeProject, svc: string, exclusive: string[] = []): string | undefined {
  return stopFirstReason(p, p.services[svc]!, exclusive);
}

describe('computeRolloutPlan: what changes', () => {
  it('lists services whose containers are all up to date as unchanged', () => {
    const p = project('p', [service('web'), service('db')]);
    const result = plan(p, [...items('web', 2, 'unchanged'), item('db', 1, 'unchanged')]);
    expect(result.services).toEqual([]);
    expect(result.removals).toEqual([]);
    expect(result.unchanged).toEqual(['db', 'web']);
    expect(result.entries).toEqual([
      { subject: 'db', action: 'unchanged', reason: 'config unchanged' },
      { subject: 'web', action: 'unchanged', reason: 'config unchanged' },
    ]);
  });

  it('counts a service whose containers are only started or restarted again as unchanged', () => {
    const p = project('p', [service('web')]);
    const result = plan(p, [
      item('web', 1, 'unchanged', 'exited: up to date, started again', { start: true }),
      item('web', 2, 'unchanged', 'restarted: dependency db recreated', { restart: true }),
    ]);
    expect(result.services).toEqual([]);
    expect(result.unchanged).toEqual(['web']);
  });

  it('turns recreate items into replacements of the old container, side by side', () => {
    const p = project('p', [service('web', { replicas: 2 })]);
    const result = plan(p, [item('web', 2, 'recreate'), item('web', 1, 'recreate')]);
    expect(result.services).toEqual([
      {
        service: 'web',
        level: 0,
        after: [],
        mode: 'side-by-side',
        reason: 'config hash changed',
        replacements: [
          { number: 1, old: { id: 'id-web-1', name: 'p-web-1' } },
          { number: 2, old: { id: 'id-web-2', name: 'p-web-2' } },
        ],
        batches: [
          [
            { number: 1, old: { id: 'id-web-1', name: 'p-web-1' } },
            { number: 2, old: { id: 'id-web-2', name: 'p-web-2' } },
          ],
        ],
      },
    ]);
    expect(result.unchanged).toEqual([]);
    expect(result.entries).toEqual([
      {
        subject: 'web',
        action: 'recreate',
        reason: 'blue-green side by side (config hash changed); 2 containers',
      },
    ]);
  });

  it('gives a new service no old container and rolls it side by side', () => {
    const p = project('p', [service('web'), service('cache', { replicas: 2 })]);
    const result = plan(p, [item('web', 1, 'unchanged'), ...items('cache', 2, 'create')]);
    expect(result.services).toHaveLength(1);
    const cache = result.services[0]!;
    expect(cache.service).toBe('cache');
    expect(cache.mode).toBe('side-by-side');
    expect(cache.reason).toBe('new service or replica');
    expect(cache.replacements).toEqual([{ number: 1 }, { number: 2 }]);
    expect(cache.replacements.every((r) => !('old' in r))).toBe(true);
    expect(result.unchanged).toEqual(['web']);
    expect(result.entries[0]).toEqual({
      subject: 'cache',
      action: 'create',
      reason: 'blue-green side by side (new service or replica); 2 containers',
    });
  });

  it('adds a new replica without touching the replicas that are up to date', () => {
    const p = project('p', [service('web', { replicas: 3 })]);
    const result = plan(p, [
      item('web', 1, 'unchanged'),
      item('web', 2, 'unchanged'),
      item('web', 3, 'create'),
    ]);
    expect(result.services).toHaveLength(1);
    expect(result.services[0]!.replacements).toEqual([{ number: 3 }]);
    expect(result.services[0]!.mode).toBe('side-by-side');
    expect(result.entries[0]).toEqual({
      subject: 'web',
      action: 'create',
      reason: 'blue-green side by side (new service or replica); 1 container',
    });
  });

  it('mixes a recreated replica and a new one: only the recreated one has an old container', () => {
    const p = project('p', [service('web', { replicas: 2 })]);
    const result = plan(p, [item('web', 1, 'recreate', 'image changed'), item('web', 2, 'create')]);
    const web = result.services[0]!;
    expect(web.replacements).toEqual([
      { number: 1, old: { id: 'id-web-1', name: 'p-web-1' } },
      { number: 2 },
    ]);
    expect(web.reason).toBe('image changed');
    expect(result.entries[0]!.action).toBe('recreate');
  });

  it('puts orphans and scale-down containers in removals, removed after the switch', () => {
    const p = project('p', [service('web', { replicas: 1 })]);
    const result = plan(p, [
      item('gone', 1, 'remove', 'orphan: service left the file'),
      item('web', 1, 'recreate'),
      item('web', 2, 'remove', 'scale down'),
      item('web', 3, 'remove', 'duplicate container number'),
    ]);
    expect(result.removals).toEqual([
      {
        service: 'gone',
        containerId: 'id-gone-1',
        name: 'p-gone-1',
        reason: 'orphan: service left the file',
      },
      { service: 'web', containerId: 'id-web-2', name: 'p-web-2', reason: 'scale down' },
      {
        service: 'web',
        containerId: 'id-web-3',
        name: 'p-web-3',
        reason: 'duplicate container number',
      },
    ]);
    // Removed containers are no replacements: web replaces only replica 1.
    expect(result.services.map((s) => [s.service, s.replacements.map((r) => r.number)])).toEqual([
      ['web', [1]],
    ]);
    // An orphan's service is no service of the project: neither rolled nor unchanged.
    expect(result.unchanged).toEqual([]);
    expect(result.entries).toEqual([
      {
        subject: 'web',
        action: 'recreate',
        reason: 'blue-green side by side (config hash changed); 1 container',
      },
      {
        subject: 'p-gone-1',
        action: 'remove',
        reason: 'orphan: service left the file, after the switch',
      },
      { subject: 'p-web-2', action: 'remove', reason: 'scale down, after the switch' },
      {
        subject: 'p-web-3',
        action: 'remove',
        reason: 'duplicate container number, after the switch',
      },
    ]);
  });

  it('keeps a scaled-down service with nothing else to do unchanged, its extra container removed', () => {
    const p = project('p', [service('web', { replicas: 1 })]);
    const result = plan(p, [item('web', 1, 'unchanged'), item('web', 2, 'remove')]);
    expect(result.services).toEqual([]);
    expect(result.unchanged).toEqual(['web']);
    expect(result.removals.map((r) => r.name)).toEqual(['p-web-2']);
  });

  it('leaves kept orphans (skip) out of the plan', () => {
    const p = project('p', [service('web')]);
    const result = plan(p, [item('gone', 1, 'skip'), item('web', 1, 'unchanged')]);
    expect(result.removals).toEqual([]);
    expect(result.services).toEqual([]);
    expect(result.unchanged).toEqual(['web']);
    expect(result.entries.map((e) => e.subject)).toEqual(['web']);
  });
});

describe('stopFirstReason', () => {
  it('is undefined for a service that can run twice', () => {
    const p = project('p', [
      service('web', {
        ports: [{ target: 8080, protocol: 'tcp' }],
        volumes: [{ type: 'volume', source: 'data', target: '/data', readOnly: false }],
        networkMode: undefined,
      }),
    ]);
    expect(one(p, 'web')).toBeUndefined();
    expect(one(p, 'web', ['other'])).toBeUndefined();
  });

  it('names a fixed container_name', () => {
    const p = project('p', [service('web', { containerName: 'x' })]);
    expect(one(p, 'web')).toBe('fixed container_name "x"');
  });

  it('names a fixed published host port, not an ephemeral one', () => {
    const p = project('p', [
      service('web', {
        ports: [
          { target: 80, protocol: 'tcp' },
          { target: 53, published: 5353, protocol: 'udp' },
        ],
      }),
    ]);
    expect(one(p, 'web')).toBe('publishes fixed host port 5353/udp');
  });

  it('names network_mode host', () => {
    const p = project('p', [service('web', { networkMode: 'host', networks: {} })]);
    expect(one(p, 'web')).toBe('network_mode: host');
  });

  it('names a joined service: or container: namespace (network, ipc, pid)', () => {
    const p = project('p', [
      service('db'),
      service('net', { networkMode: 'service:db', networks: {} }),
      service('ipc', { ipc: 'service:db' }),
      service('pid', { pid: 'container:other' }),
      service('shareable', { ipc: 'shareable', pid: 'host', networkMode: 'bridge' }),
    ]);
    expect(one(p, 'net')).toBe('joins the namespace of service:db');
    expect(one(p, 'ipc')).toBe('joins the namespace of service:db');
    expect(one(p, 'pid')).toBe('joins the namespace of container:other');
    expect(one(p, 'shareable')).toBeUndefined();
  });

  it('names the services that join a service: namespaces or mount its volumes', () => {
    const p = project('p', [
      service('db'),
      service('sidecar', { networkMode: 'service:db', networks: {} }),
      service('backup', { volumesFrom: ['service:db:ro'] }),
      service('web'),
    ]);
    expect(one(p, 'db')).toBe('sidecar, backup join its namespaces or volumes');
    expect(one(p, 'web')).toBeUndefined();
  });

  it('names a fixed ipv4 or ipv6 address', () => {
    const p = project('p', [
      service('v4', { networks: { front: { aliases: [], ipv4Address: '172.30.0.10' } } }),
      service('v6', { networks: { back: { aliases: [], ipv6Address: 'fd00::10' } } }),
    ]);
    expect(one(p, 'v4')).toBe('fixed ipv4_address on network front');
    expect(one(p, 'v6')).toBe('fixed ipv6_address on network back');
  });

  it('names a volume marked exclusive, only a named volume, only when marked', () => {
    const p = project(
      'p',
      [
        service('db', {
          volumes: [
            { type: 'bind', source: '/srv/data', target: '/bind', readOnly: false },
            { type: 'volume', target: '/anon', readOnly: false },
            { type: 'volume', source: 'data', target: '/data', readOnly: false },
          ],
        }),
      ],
      { volumes: { data: volume('p', 'data') } },
    );
    expect(one(p, 'db', ['data'])).toBe('volume data is marked exclusive in the deploy settings');
    expect(one(p, 'db', [])).toBeUndefined();
    expect(one(p, 'db', ['/srv/data'])).toBeUndefined();
  });

  it('gives the first reason in a fixed order when several apply', () => {
    const p = project('p', [
      service('web', {
        containerName: 'x',
        ports: [{ target: 80, published: 8080, protocol: 'tcp' }],
      }),
      service('api', {
        ports: [{ target: 80, published: 8081, protocol: 'tcp' }],
        networks: { default: { aliases: [], ipv4Address: '172.30.0.11' } },
      }),
    ]);
    expect(one(p, 'web')).toBe('fixed container_name "x"');
    expect(one(p, 'api')).toBe('publishes fixed host port 8081/tcp');
  });

  it('does not take volumes_from a service whose name only starts the same', () => {
    const p = project('p', [
      service('db'),
      service('db2'),
      service('backup', { volumesFrom: ['service:db2'] }),
    ]);
    expect(one(p, 'db2')).toBe('backup joins its namespaces or volumes');
    expect(one(p, 'db')).toBeUndefined();
  });
});

describe('computeRolloutPlan: stop-first', () => {
  function stopFirst(
    svc: ServiceConfig,
    extra: Partial<ComposeProject> = {},
    exclusive?: string[],
  ) {
    const p = project('p', [svc], extra);
    const result = plan(p, [item(svc.name, 1, 'recreate')], {
      ...(exclusive === undefined ? {} : { exclusiveVolumes: exclusive }),
    });
    expect(result.services).toHaveLength(1);
    const s = result.services[0]!;
    expect(s.mode).toBe('stop-first');
    expect(s.replacements).toEqual([
      { number: 1, old: { id: `id-${svc.name}-1`, name: `p-${svc.name}-1` } },
    ]);
    expect(s.batches).toEqual([s.replacements]);
    return { reason: s.reason, entry: result.entries[0]! };
  }

  it('rolls a fixed container_name stop-first, with the dry-run line', () => {
    const { reason, entry } = stopFirst(service('web', { containerName: 'x' }));
    expect(reason).toBe('fixed container_name "x"');
    expect(entry).toEqual({
      subject: 'web',
      action: 'recreate',
      reason:
        'stop-first (fixed container_name "x"): old containers stop before the new start; 1 container',
    });
  });

  it('rolls a fixed published port, network_mode host, ipv4_address and exclusive volume stop-first', () => {
    expect(
      stopFirst(service('web', { ports: [{ target: 80, published: 8080, protocol: 'tcp' }] }))
        .reason,
    ).toBe('publishes fixed host port 8080/tcp');
    expect(stopFirst(service('web', { networkMode: 'host', networks: {} })).reason).toBe(
      'network_mode: host',
    );
    expect(
      stopFirst(service('web', { networks: { default: { aliases: [], ipv4Address: '10.5.0.2' } } }))
        .reason,
    ).toBe('fixed ipv4_address on network default');
    expect(
      stopFirst(
        service('db', {
          volumes: [{ type: 'volume', source: 'data', target: '/data', readOnly: false }],
        }),
        { volumes: { data: volume('p', 'data') } },
        ['data'],
      ).reason,
    ).toBe('volume data is marked exclusive in the deploy settings');
  });

  it('rolls both the joiner and the joined of a service: namespace stop-first', () => {
    const p = project('p', [
      service('db'),
      service('app', { networkMode: 'service:db', networks: {} }),
    ]);
    const result = plan(p, [item('db', 1, 'recreate'), item('app', 1, 'recreate')]);
    expect(result.services.map((s) => [s.service, s.level, s.mode, s.reason])).toEqual([
      ['db', 0, 'stop-first', 'app joins its namespaces or volumes'],
      ['app', 1, 'stop-first', 'joins the namespace of service:db'],
    ]);
  });

  it('rolls every replica of a stop-first service in one batch, even for canary', () => {
    const p = project('p', [
      service('web', {
        replicas: 3,
        ports: [{ target: 80, published: 8080, protocol: 'tcp' }],
      }),
    ]);
    const result = plan(p, items('web', 3, 'recreate'), {
      method: 'canary',
      batch: { count: 1 },
    });
    const web = result.services[0]!;
    expect(web.mode).toBe('stop-first');
    expect(web.batches.map((b) => b.length)).toEqual([3]);
    expect(result.entries[0]!.reason).toBe(
      'stop-first (publishes fixed host port 8080/tcp): old containers stop before the new start; 3 containers',
    );
  });

  it('rolls a service with only new replicas side by side despite a stop-first reason', () => {
    const p = project('p', [
      service('web', { containerName: 'x' }),
      service('api', {
        replicas: 2,
        ports: [{ target: 80, published: 8080, protocol: 'tcp' }],
      }),
    ]);
    const result = plan(
      p,
      [item('web', 1, 'create'), item('api', 1, 'unchanged'), item('api', 2, 'create')],
      {
        method: 'canary',
        batch: { count: 1 },
      },
    );
    expect(result.services.map((s) => [s.service, s.mode, s.reason])).toEqual([
      ['api', 'side-by-side', 'new service or replica'],
      ['web', 'side-by-side', 'new service or replica'],
    ]);
    expect(result.entries.slice(0, 2)).toEqual([
      {
        subject: 'api',
        action: 'create',
        reason: 'canary side by side (new service or replica); 1 container',
      },
      {
        subject: 'web',
        action: 'create',
        reason: 'canary side by side (new service or replica); 1 container',
      },
    ]);
  });
});

describe('computeRolloutPlan: forced roll of namespace joiners', () => {
  it('rolls a service that joins a replaced service stop-first, though its own config is unchanged', () => {
    const p = project('p', [
      service('db'),
      service('app', { networkMode: 'service:db', networks: {} }),
      service('web'),
    ]);
    const result = plan(p, [
      item('db', 1, 'recreate'),
      item('app', 1, 'unchanged'),
      item('web', 1, 'unchanged'),
    ]);
    expect(result.unchanged).toEqual(['web']);
    expect(result.services.map((s) => s.service)).toEqual(['db', 'app']);
    const app = result.services[1]!;
    expect(app.mode).toBe('stop-first');
    expect(app.level).toBe(1);
    expect(app.replacements).toEqual([{ number: 1, old: { id: 'id-app-1', name: 'p-app-1' } }]);
    // Why app rolls at all comes first: its own config did not change.
    expect(app.reason).toBe('joins db, which is replaced');
    expect(result.entries[1]).toEqual({
      subject: 'app',
      action: 'recreate',
      reason: `stop-first (${app.reason}): old containers stop before the new start; 1 container`,
    });
  });

  it('says "joins db, which is replaced" when the joiner has no stop-first reason of its own', () => {
    const p = project('p', [service('db'), service('backup', { volumesFrom: ['service:db'] })]);
    const result = plan(p, [item('db', 1, 'recreate'), item('backup', 1, 'unchanged')]);
    const backup = result.services.find((s) => s.service === 'backup')!;
    expect(backup.mode).toBe('stop-first');
    expect(backup.reason).toBe('joins db, which is replaced');
    expect(backup.replacements).toEqual([
      { number: 1, old: { id: 'id-backup-1', name: 'p-backup-1' } },
    ]);
    expect(result.entries.find((e) => e.subject === 'backup')!.reason).toBe(
      'stop-first (joins db, which is replaced): old containers stop before the new start; 1 container',
    );
  });

  it('forces the roll along a chain of joiners', () => {
    const p = project('p', [
      service('db'),
      service('app', { networkMode: 'service:db', networks: {} }),
      service('agent', { volumesFrom: ['service:app'] }),
    ]);
    const result = plan(p, [
      item('db', 1, 'recreate'),
      item('app', 1, 'unchanged'),
      item('agent', 1, 'unchanged'),
    ]);
    expect(result.services.map((s) => [s.service, s.level, s.mode])).toEqual([
      ['db', 0, 'stop-first'],
      ['app', 1, 'stop-first'],
      ['agent', 2, 'stop-first'],
    ]);
    expect(result.services[2]!.reason).toBe('joins app, which is replaced');
    expect(result.unchanged).toEqual([]);
  });

  it('does not roll a joiner when the service it joins is unchanged', () => {
    const p = project('p', [
      service('db'),
      service('app', { networkMode: 'service:db', networks: {} }),
      service('web'),
    ]);
    const result = plan(p, [
      item('db', 1, 'unchanged'),
      item('app', 1, 'unchanged'),
      item('web', 1, 'recreate'),
    ]);
    expect(result.services.map((s) => s.service)).toEqual(['web']);
    expect(result.unchanged).toEqual(['db', 'app']);
  });

  it('does not roll a joiner when the joined service only gains a replica', () => {
    const p = project('p', [
      service('db', { replicas: 2 }),
      service('app', { networkMode: 'service:db', networks: {} }),
    ]);
    const result = plan(p, [
      item('db', 1, 'unchanged'),
      item('db', 2, 'create'),
      item('app', 1, 'unchanged'),
    ]);
    expect(result.services.map((s) => s.service)).toEqual(['db']);
    expect(result.unchanged).toEqual(['app']);
  });
});

describe('batches', () => {
  it('batchCount: count, percent, and at least one', () => {
    expect(batchCount(undefined, 4)).toBe(4);
    expect(batchCount(undefined, 0)).toBe(1);
    expect(batchCount({ count: 2 }, 5)).toBe(2);
    expect(batchCount({ count: 10 }, 3)).toBe(3);
    expect(batchCount({ count: 0 }, 3)).toBe(1);
    expect(batchCount({ percent: 40 }, 5)).toBe(2);
    expect(batchCount({ percent: 50 }, 3)).toBe(2);
    expect(batchCount({ percent: 1 }, 3)).toBe(1);
    expect(batchCount({ percent: 100 }, 3)).toBe(3);
    expect(batchCount({ percent: 0 }, 3)).toBe(1);
  });

  function canary(count: number, batch: BatchSize, method: 'canary' | 'blue-green' = 'canary') {
    const p = project('p', [service('web', { replicas: count })]);
    return plan(p, items('web', count, 'recreate'), { method, batch });
  }

  it('splits canary replacements into batches by percent: 5 at 40% → 2, 2, 1', () => {
    const result = canary(5, { percent: 40 });
    const web = result.services[0]!;
    expect(web.mode).toBe('side-by-side');
    expect(web.batches.map((b) => b.map((r) => r.number))).toEqual([[1, 2], [3, 4], [5]]);
    expect(result.entries[0]!.reason).toBe(
      'canary side by side (config hash changed); 5 containers, 3 batches of up to 2',
    );
  });

  it('splits canary replacements into batches by count', () => {
    const result = canary(4, { count: 2 });
    expect(result.services[0]!.batches.map((b) => b.map((r) => r.number))).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(result.entries[0]).toEqual({
      subject: 'web',
      action: 'recreate',
      reason: 'canary side by side (config hash changed); 4 containers, 2 batches of up to 2',
    });
  });

  it('makes one canary batch when the count is larger than the replicas', () => {
    const result = canary(3, { count: 10 });
    expect(result.services[0]!.batches.map((b) => b.length)).toEqual([3]);
    expect(result.entries[0]!.reason).toBe(
      'canary side by side (config hash changed); 3 containers',
    );
  });

  it('makes every replica its own batch at count 1', () => {
    const result = canary(3, { count: 1 });
    expect(result.services[0]!.batches.map((b) => b.length)).toEqual([1, 1, 1]);
    expect(result.entries[0]!.reason).toBe(
      'canary side by side (config hash changed); 3 containers, 3 batches of up to 1',
    );
  });

  it('always makes one blue-green batch, whatever the batch setting', () => {
    const result = canary(5, { count: 1 }, 'blue-green');
    expect(result.services[0]!.batches.map((b) => b.length)).toEqual([5]);
    expect(result.entries[0]!.reason).toBe(
      'blue-green side by side (config hash changed); 5 containers',
    );
  });

  it('makes one canary batch of everything when no batch size is given', () => {
    const p = project('p', [service('web', { replicas: 3 })]);
    const result = plan(p, items('web', 3, 'recreate'), { method: 'canary' });
    expect(result.services[0]!.batches.map((b) => b.length)).toEqual([3]);
  });

  it('batches only the replicas that get new containers', () => {
    const p = project('p', [service('web', { replicas: 4 })]);
    const result = plan(
      p,
      [
        item('web', 1, 'unchanged'),
        item('web', 2, 'recreate'),
        item('web', 3, 'unchanged'),
        item('web', 4, 'create'),
      ],
      { method: 'canary', batch: { percent: 50 } },
    );
    expect(result.services[0]!.batches.map((b) => b.map((r) => r.number))).toEqual([[2], [4]]);
  });
});

describe('computeRolloutPlan: order', () => {
  it('orders services by dependency level, then by name', () => {
    const dep = { condition: 'service_started' as const, required: true, restart: false };
    const p = project('p', [
      service('web', { dependsOn: { api: dep } }),
      service('api', { dependsOn: { db: dep, cache: dep } }),
      service('worker', { dependsOn: { db: dep } }),
      service('db'),
      service('cache'),
      service('static'),
    ]);
    const levels = dependencyLevels(p);
    expect(levels).toEqual([['cache', 'db', 'static'], ['api', 'worker'], ['web']]);
    const all = ['web', 'api', 'worker', 'db', 'cache', 'static'];
    const result = plan(
      p,
      all.map((s) => item(s, 1, 'recreate')),
      { levels },
    );
    expect(result.services.map((s) => [s.service, s.level])).toEqual([
      ['cache', 0],
      ['db', 0],
      ['static', 0],
      ['api', 1],
      ['worker', 1],
      ['web', 2],
    ]);
    expect(result.entries.map((e) => e.subject)).toEqual([
      'cache',
      'db',
      'static',
      'api',
      'worker',
      'web',
    ]);
  });

  it('makes each rolled service wait for the rolled services it depends on, not for its level', () => {
    const dep = { condition: 'service_started' as const, required: true, restart: false };
    const p = project('p', [
      service('slow'),
      service('fast'),
      service('top', { dependsOn: { fast: dep } }),
      service('web', { dependsOn: { api: dep } }),
      service('api', { dependsOn: { slow: dep, fast: dep } }),
      service('side', { volumesFrom: ['service:fast'] }),
    ]);
    const result = plan(p, [
      item('slow', 1, 'recreate'),
      item('fast', 1, 'recreate'),
      item('top', 1, 'recreate'),
      // api is unchanged: web still waits for what api depends on. side mounts fast's volumes,
      // so fast rolls stop-first.
      item('api', 1, 'unchanged'),
      item('web', 1, 'recreate'),
      item('side', 1, 'create'),
    ]);
    expect(result.services.map((s) => [s.service, s.level, s.after])).toEqual([
      ['fast', 0, []],
      ['slow', 0, []],
      ['side', 1, ['fast']],
      ['top', 1, ['fast']],
      ['web', 2, ['fast', 'slow']],
    ]);
    expect([...rollGraph(result)]).toEqual([
      ['fast', []],
      ['slow', []],
      ['side', ['fast']],
      ['top', ['fast']],
      ['web', ['fast', 'slow']],
    ]);
    expect(describePlan(result)).toBe(
      'fast: stop-first, slow: side-by-side, side: side-by-side after fast, ' +
        'top: side-by-side after fast, web: side-by-side after fast, slow',
    );
  });

  it('lets a rolled service wait for nothing when what it depends on is not rolled', () => {
    const dep = { condition: 'service_healthy' as const, required: true, restart: false };
    const p = project('p', [service('web', { dependsOn: { db: dep } }), service('db')]);
    const result = plan(p, [item('db', 1, 'unchanged'), item('web', 1, 'recreate')]);
    expect(result.services.map((s) => [s.service, s.after])).toEqual([['web', []]]);
    expect(describePlan(result)).toBe('web: side-by-side');
  });

  it('lists rolled services first, then unchanged ones, then removals', () => {
    const dep = { condition: 'service_started' as const, required: true, restart: false };
    const p = project('p', [service('web', { dependsOn: { db: dep } }), service('db')]);
    const result = plan(p, [
      item('old', 1, 'remove', 'orphan: service left the file'),
      item('db', 1, 'unchanged'),
      item('web', 1, 'recreate'),
    ]);
    expect(result.entries.map((e) => [e.action, e.subject])).toEqual([
      ['recreate', 'web'],
      ['unchanged', 'db'],
      ['remove', 'p-old-1'],
    ]);
  });
});

describe('assertExclusiveVolumesDeclared', () => {
  it('names the stack, file and field of exclusive volumes the project does not declare', () => {
    const p = project('p', [service('db')], {
      volumes: { data: volume('p', 'data'), logs: volume('p', 'logs', { name: 'shared-logs' }) },
    });
    const settings = (exclusiveVolumes: string[]): DeploySettings => ({
      ...SETTINGS,
      exclusiveVolumes,
      file: '/s/p/deploy.yaml',
    });
    expect(() => assertExclusiveVolumesDeclared(p, settings([]), 'p')).not.toThrow();
    expect(() => assertExclusiveVolumesDeclared(p, settings(['data', 'logs']), 'p')).not.toThrow();
    // Keys, not Docker names.
    let caught: unknown;
    try {
      assertExclusiveVolumesDeclared(p, settings(['data', 'p_data', 'shared-logs']), 'p');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SettingsError);
    expect((caught as SettingsError).message).toBe(
      'exclusiveVolumes names p_data, shared-logs, which the compose file does not declare',
    );
    expect((caught as SettingsError).place).toEqual({
      stack: 'p',
      file: '/s/p/deploy.yaml',
      field: 'exclusiveVolumes',
    });
  });
});

const SETTINGS: DeploySettings = {
  deploy: true,
  method: 'blue-green',
  healthTimeoutMs: 1000,
  stabilityMs: 0,
  markBad: true,
  redeployGood: true,
  hooks: { timeoutMs: 1000 },
  compose: {},
  updates: { images: false },
  origin: 'deploy.yaml',
};
