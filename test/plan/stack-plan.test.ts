import { describe, expect, it } from 'vitest';
import { LABEL, type ObservedContainer, type ObservedProject } from '../../src/engine/types.js';
import { StackError } from '../../src/errors.js';
import { computePlan, driftOf, type PlanInput } from '../../src/plan/stack-plan.js';
import type { DeploySettings, DiscoveredStack } from '../../src/stack/types.js';
import type { BadVersion, StackRecord, VersionRef } from '../../src/state/types.js';

const V1 = 'a'.repeat(64);
const V2 = 'b'.repeat(64);

function settings(patch: Partial<DeploySettings> = {}): DeploySettings {
  return {
    deploy: true,
    method: 'simple',
    healthTimeoutMs: 5000,
    stabilityMs: 500,
    markBad: true,
    redeployGood: true,
    hooks: { timeoutMs: 1000 },
    compose: {},
    updates: { images: false },
    origin: 'defaults',
    ...patch,
  };
}

function stack(name: string, version = V1, patch: Partial<DeploySettings> = {}): DiscoveredStack {
  return {
    name,
    dir: `/repo/stacks/${name}`,
    relPath: `stacks/${name}`,
    composeFiles: [`/repo/stacks/${name}/compose.yaml`],
    version,
    settings: settings(patch),
  };
}

function record(name: string, patch: Partial<StackRecord> = {}): StackRecord {
  return {
    name,
    state: 'AVAILABLE',
    suspended: false,
    running: { version: V1, commit: 'c1' },
    conditions: [],
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...patch,
  };
}

function container(
  service: string,
  version: string,
  patch: Partial<ObservedContainer> = {},
): ObservedContainer {
  return {
    id: `id-${service}`,
    name: `p-${service}-1`,
    service,
    number: 1,
    state: 'running',
    health: 'healthy',
    image: 'img',
    imageId: 'sha256:1',
    labels: { [LABEL.stackVersion]: version },
    ...patch,
  };
}

function project(name: string, containers: ObservedContainer[]): ObservedProject {
  const services: ObservedProject['services'] = {};
  for (const c of containers) {
    const service = services[c.service] ?? { name: c.service, containers: [] };
    service.containers.push(c);
    services[c.service] = service;
  }
  return { name, services };
}

function input(patch: Partial<PlanInput> = {}): PlanInput {
  return {
    discovery: { stacks: [], broken: [] },
    observed: new Map(),
    records: new Map(),
    bad: () => undefined,
    runningVersions: new Map(),
    prune: false,
    ...patch,
  };
}

describe('computePlan', () => {
  it('creates a stack berth has never deployed', () => {
    const plan = computePlan(input({ discovery: { stacks: [stack('web')], broken: [] } }));
    expect(plan).toMatchObject([
      { subject: 'web', action: 'create', reason: 'new stack', version: V1 },
    ]);
  });

  it('recreates a stack whose version changed and names both versions', () => {
    const plan = computePlan(
      input({
        discovery: { stacks: [stack('web', V2)], broken: [] },
        records: new Map([['web', record('web')]]),
        observed: new Map([['web', project('web', [container('app', V1)])]]),
      }),
    );
    expect(plan[0]).toMatchObject({ action: 'recreate', currentVersion: V1, version: V2 });
    expect(plan[0]?.reason).toBe(`version changed ${V1.slice(0, 12)}→${V2.slice(0, 12)}`);
  });

  it('uses running_stacks/version.txt when the record is gone', () => {
    const plan = computePlan(
      input({
        discovery: { stacks: [stack('web', V2)], broken: [] },
        runningVersions: new Map<string, VersionRef | undefined>([
          ['web', { version: V1, commit: 'c' }],
        ]),
        observed: new Map([['web', project('web', [container('app', V1)])]]),
      }),
    );
    expect(plan[0]?.action).toBe('recreate');
  });

  it('leaves an up-to-date stack with matching containers alone', () => {
    const plan = computePlan(
      input({
        discovery: { stacks: [stack('web')], broken: [] },
        records: new Map([['web', record('web')]]),
        observed: new Map([['web', project('web', [container('app', V1), container('db', V1)])]]),
        expectedServices: new Map([['web', ['app', 'db']]]),
      }),
    );
    expect(plan[0]).toMatchObject({ action: 'unchanged', reason: 'up to date' });
  });

  it('treats containers of the same version without a record as unchanged', () => {
    const plan = computePlan(
      input({
        discovery: { stacks: [stack('web')], broken: [] },
        observed: new Map([['web', project('web', [container('app', V1)])]]),
      }),
    );
    expect(plan[0]?.action).toBe('unchanged');
  });

  it('recreates when a service of the running version has no container', () => {
    const plan = computePlan(
      input({
        discovery: { stacks: [stack('web')], broken: [] },
        records: new Map([['web', record('web')]]),
        observed: new Map([['web', project('web', [container('db', V1)])]]),
        expectedServices: new Map([['web', ['app', 'db']]]),
      }),
    );
    expect(plan[0]).toMatchObject({ action: 'recreate', drift: ['service app: missing'] });
    expect(plan[0]?.reason).toBe('containers drifted from recorded version (service app: missing)');
  });

  it('recreates when all containers are gone', () => {
    const plan = computePlan(
      input({
        discovery: { stacks: [stack('web')], broken: [] },
        records: new Map([['web', record('web')]]),
      }),
    );
    expect(plan[0]).toMatchObject({ action: 'recreate', drift: ['no containers'] });
  });

  it('recreates when a container carries another version label', () => {
    const plan = computePlan(
      input({
        discovery: { stacks: [stack('web')], broken: [] },
        records: new Map([['web', record('web')]]),
        observed: new Map([['web', project('web', [container('app', V2)])]]),
      }),
    );
    expect(plan[0]?.action).toBe('recreate');
    expect(plan[0]?.reason).toContain(
      `service app: container p-app-1 has version ${V2.slice(0, 12)}`,
    );
  });

  it('recreates when a service only has stopped containers', () => {
    const plan = computePlan(
      input({
        discovery: { stacks: [stack('web')], broken: [] },
        records: new Map([['web', record('web')]]),
        observed: new Map([
          ['web', project('web', [container('app', V1, { state: 'exited', exitCode: 137 })])],
        ]),
      }),
    );
    expect(plan[0]?.reason).toContain('service app: not running (exited)');
  });

  it('skips suspended stacks before anything else', () => {
    const plan = computePlan(
      input({
        discovery: { stacks: [stack('web', V2)], broken: [] },
        records: new Map([['web', record('web', { suspended: true })]]),
      }),
    );
    expect(plan[0]).toMatchObject({ action: 'skip', skip: 'suspended', reason: 'suspended' });
  });

  it('skips stacks with deploy: false and says where it was set', () => {
    const plan = computePlan(
      input({
        discovery: {
          stacks: [
            stack('web', V1, { deploy: false, origin: 'deploy.yaml', file: '/x/deploy.yaml' }),
          ],
          broken: [],
        },
      }),
    );
    expect(plan[0]).toMatchObject({
      action: 'skip',
      skip: 'disabled',
      reason: 'deploy: false in deploy.yaml',
    });
  });

  it('skips versions marked bad with time and reason', () => {
    const mark: BadVersion = {
      stack: 'web',
      version: V2,
      commit: 'c2',
      reason: 'unhealthy: app',
      at: '2026-01-02T03:04:05Z',
    };
    const plan = computePlan(
      input({
        discovery: { stacks: [stack('web', V2)], broken: [] },
        records: new Map([['web', record('web')]]),
        bad: (name, version) => (name === 'web' && version === V2 ? mark : undefined),
      }),
    );
    expect(plan[0]).toMatchObject({
      action: 'skip',
      skip: 'bad',
      reason: 'version marked bad at 2026-01-02T03:04:05Z: unhealthy: app',
      badVersion: mark,
    });
  });

  it('skips invalid stacks with the error message', () => {
    const error = new StackError('SettingsInvalid', 'deploy.yaml: method: unknown method "fast"');
    const plan = computePlan(
      input({
        discovery: { stacks: [], broken: [{ name: 'api', dir: '/repo/api', version: V1, error }] },
      }),
    );
    expect(plan[0]).toMatchObject({
      action: 'skip',
      skip: 'invalid',
      reason: 'invalid: deploy.yaml: method: unknown method "fast"',
    });
  });

  it('keeps a stack whose folder left the repository when prune is off', () => {
    const plan = computePlan(
      input({
        records: new Map([['old', record('old')]]),
        observed: new Map([['old', project('old', [container('app', V1)])]]),
      }),
    );
    expect(plan).toMatchObject([
      {
        subject: 'old',
        action: 'skip',
        skip: 'kept',
        reason: 'folder left the repository; kept running (prune: false)',
      },
    ]);
  });

  it('removes a stack whose folder left the repository when prune is on', () => {
    const plan = computePlan(
      input({
        runningVersions: new Map<string, VersionRef | undefined>([
          ['old', { version: V1, commit: 'c' }],
        ]),
        prune: true,
      }),
    );
    expect(plan).toMatchObject([
      { subject: 'old', action: 'remove', reason: 'folder left the repository; prune' },
    ]);
  });

  it('forgets a stack that was already pruned', () => {
    const plan = computePlan(
      input({ records: new Map([['old', record('old', { running: undefined })]]), prune: true }),
    );
    expect(plan).toEqual([]);
  });

  it('does not take a broken stack for one that left the repository', () => {
    const error = new StackError('SettingsInvalid', 'bad');
    const plan = computePlan(
      input({
        discovery: { stacks: [], broken: [{ name: 'web', dir: '/repo/web', error }] },
        records: new Map([['web', record('web')]]),
        prune: true,
      }),
    );
    expect(plan.map((p) => p.action)).toEqual(['skip']);
  });

  it('limits the plan to the stacks asked for', () => {
    const plan = computePlan(
      input({
        discovery: { stacks: [stack('a'), stack('b'), stack('c')], broken: [] },
        records: new Map([['gone', record('gone')]]),
        prune: true,
        only: ['b'],
      }),
    );
    expect(plan.map((p) => p.subject)).toEqual(['b']);
  });
});

describe('driftOf', () => {
  it('accepts a one-shot service that exited cleanly', () => {
    const observed = project('p', [
      container('init', V1, { state: 'exited', exitCode: 0 }),
      container('app', V1),
    ]);
    expect(driftOf(V1, observed, ['init', 'app'])).toEqual([]);
  });

  it('reports every drifted service', () => {
    const observed = project('p', [container('app', V2)]);
    expect(driftOf(V1, observed, ['app', 'db'])).toHaveLength(2);
  });
});
