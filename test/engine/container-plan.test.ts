import { describe, expect, it } from 'vitest';
import type { ObservedContainer, ObservedProject } from '../../src/engine/types.js';
import { computeContainerPlan, type DesiredService } from '../../src/engine/container-plan.js';

function desired(service: string, overrides: Partial<DesiredService> = {}): DesiredService {
  return {
    service,
    hash: `hash-${service}`,
    imageId: 'sha256:img',
    replicas: 1,
    containerName: (n) => `p-${service}-${n}`,
    ...overrides,
  };
}

function container(
  service: string,
  number: number,
  overrides: Partial<ObservedContainer> = {},
): ObservedContainer {
  return {
    id: `id-${service}-${number}`,
    name: `p-${service}-${number}`,
    service,
    number,
    state: 'running',
    health: 'none',
    configHash: `hash-${service}`,
    image: 'img',
    imageId: 'sha256:img',
    labels: {},
    ...overrides,
  };
}

function observed(...containers: ObservedContainer[]): ObservedProject {
  const services: ObservedProject['services'] = {};
  for (const c of containers)
    (services[c.service] ??= { name: c.service, containers: [] }).containers.push(c);
  return { name: 'p', services };
}

function summary(entries: { subject: string; action: string; reason: string }[]): string[] {
  return entries.map((e) => `${e.subject} ${e.action}: ${e.reason}`);
}

describe('computeContainerPlan', () => {
  it('creates missing containers and leaves up-to-date running ones', () => {
    const plan = computeContainerPlan(
      [desired('a'), desired('b', { replicas: 2 })],
      observed(container('a', 1)),
    );
    expect(summary(plan)).toEqual([
      'p-a-1 unchanged: up to date',
      'p-b-1 create: missing',
      'p-b-2 create: missing',
    ]);
  });

  it('recreates on a changed hash or image, and when forced', () => {
    const current = observed(
      container('a', 1, { configHash: 'old' }),
      container('b', 1, { imageId: 'sha256:old' }),
    );
    expect(summary(computeContainerPlan([desired('a'), desired('b')], current))).toEqual([
      'p-a-1 recreate: config hash changed',
      'p-b-1 recreate: image changed',
    ]);
    expect(
      summary(
        computeContainerPlan([desired('a')], observed(container('a', 1)), { forceRecreate: true }),
      ),
    ).toEqual(['p-a-1 recreate: forced recreate']);
  });

  it('starts exited containers of an unchanged service and says so', () => {
    const plan = computeContainerPlan(
      [desired('a')],
      observed(container('a', 1, { state: 'exited' })),
    );
    expect(plan[0]).toMatchObject({
      action: 'unchanged',
      start: true,
      reason: 'exited: up to date, started again',
    });
  });

  it('scales down from the highest numbers and removes duplicates', () => {
    const plan = computeContainerPlan(
      [desired('a', { replicas: 2 })],
      observed(
        container('a', 1),
        container('a', 2),
        container('a', 3),
        container('a', 1, { id: 'dup', name: 'p-a-1-dup' }),
      ),
    );
    expect(summary(plan)).toEqual([
      'p-a-1-dup remove: duplicate container number',
      'p-a-3 remove: scale down',
      'p-a-1 unchanged: up to date',
      'p-a-2 unchanged: up to date',
    ]);
  });

  it('removes orphans unless told not to, and leaves known unselected services alone', () => {
    const current = observed(container('a', 1), container('old', 1), container('b', 1));
    expect(
      summary(computeContainerPlan([desired('a')], current, { projectServices: ['a', 'b'] })),
    ).toEqual(['p-old-1 remove: orphan: service left the file', 'p-a-1 unchanged: up to date']);
    const kept = computeContainerPlan([desired('a')], current, {
      projectServices: ['a', 'b'],
      removeOrphans: false,
    });
    expect(kept[0]).toMatchObject({ subject: 'p-old-1', action: 'skip' });
  });

  it('marks restart:true dependents of a recreated service for a restart', () => {
    const plan = computeContainerPlan(
      [
        desired('db'),
        desired('app', { restartWith: ['db'] }),
        desired('web', { restartWith: ['app'] }),
      ],
      observed(container('db', 1, { configHash: 'old' }), container('app', 1), container('web', 1)),
    );
    expect(plan.find((e) => e.service === 'app')).toMatchObject({
      action: 'unchanged',
      restart: true,
      reason: 'restarted: dependency db recreated',
    });
    expect(plan.find((e) => e.service === 'web')?.restart).toBeUndefined();
  });

  it('recreates dead containers', () => {
    const plan = computeContainerPlan(
      [desired('a')],
      observed(container('a', 1, { state: 'dead' })),
    );
    expect(summary(plan)).toEqual(['p-a-1 recreate: container dead']);
  });
});
