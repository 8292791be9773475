import { describe, expect, it } from 'vitest';
import { LABEL, type ObservedContainer } from '../../../src/engine/types.js';
import type { DeploymentRecord } from '../../../src/state/types.js';
import {
  decideRolloutRecovery,
  findRolloutTraces,
  recoverRollout,
  rolloutTraces,
  type RolloutTraces,
} from '../../../src/strategies/rollout/recover.js';
import type { RecoveryContext } from '../../../src/strategies/types.js';

const ID = 7;

/** A container as `engine.observe` reports it; `rollout` sets the rollout label. */
function container(
  name: string,
  service: string,
  options: Partial<ObservedContainer> & { rollout?: string } = {},
): ObservedContainer {
  const { rollout, labels, ...rest } = options;
  return {
    id: `id-${name}`,
    name,
    service,
    number: 1,
    state: 'running',
    health: 'healthy',
    image: 'berth-fixture/busybox:latest',
    imageId: 'sha256:0',
    labels: {
      [LABEL.project]: 'p',
      [LABEL.service]: service,
      ...(rollout === undefined ? {} : { [LABEL.rollout]: rollout }),
      ...labels,
    },
    ...rest,
  };
}

function names(list: ObservedContainer[]): string[] {
  return list.map((c) => c.name).sort();
}

describe('rolloutTraces', () => {
  it('splits containers into this rollout’s candidates, stop-first asides and the rest', () => {
    const all = [
      container('p-web-1', 'web'),
      container('p-web-2', 'web'),
      container('p-web-1-new-7', 'web', { rollout: '7' }),
      // Already renamed to its final name: still a candidate by its label.
      container('p-web-2', 'web', { id: 'renamed', rollout: '7' }),
      container('solo-prev-7', 'solo'),
      container('solo', 'solo', { rollout: '7' }),
      container('p-db-1', 'db'),
    ];
    const traces = rolloutTraces(all, ID);
    expect(names(traces.candidates)).toEqual(['p-web-1-new-7', 'p-web-2', 'solo']);
    expect(traces.candidates.map((c) => c.id)).toContain('renamed');
    expect(names(traces.asides)).toEqual(['solo-prev-7']);
    expect(names(traces.others)).toEqual(['p-db-1', 'p-web-1', 'p-web-2']);
    expect(traces.others.map((c) => c.id)).not.toContain('renamed');
  });

  it('leaves traces of other deployments among the others', () => {
    const all = [
      container('p-web-1-new-6', 'web', { rollout: '6' }),
      container('solo-prev-6', 'solo'),
      container('solo-prev-17', 'solo'),
      container('p-web-1-new-70', 'web', { rollout: '70' }),
    ];
    const traces = rolloutTraces(all, ID);
    expect(traces.candidates).toEqual([]);
    expect(traces.asides).toEqual([]);
    expect(names(traces.others)).toEqual(names(all));
  });

  it('never counts a container twice and loses none', () => {
    const all = [
      container('a', 'web'),
      // The rollout label wins over an aside-looking name.
      container('x-prev-7', 'web', { rollout: '7' }),
      container('b-prev-7', 'solo'),
    ];
    const traces = rolloutTraces(all, ID);
    expect(names(traces.candidates)).toEqual(['x-prev-7']);
    expect(names(traces.asides)).toEqual(['b-prev-7']);
    expect(names(traces.others)).toEqual(['a']);
    expect(traces.candidates.length + traces.asides.length + traces.others.length).toBe(all.length);
  });

  it('is empty for a project with no containers', () => {
    expect(rolloutTraces([], ID)).toEqual({ candidates: [], asides: [], others: [] });
  });
});

describe('decideRolloutRecovery', () => {
  const BEFORE_SWITCH = ['put-running', 'load', 'prepare', 'plan', 'start-new', 'wait-new'];
  const AT_SWITCH = [...BEFORE_SWITCH, 'promote', 'switch'];
  const AFTER_SWITCH = [...AT_SWITCH, 'rename', 'apply', 'wait-healthy'];

  function decide(steps: string[], containers: ObservedContainer[]): 'forward' | 'back' {
    return decideRolloutRecovery({ steps, traces: rolloutTraces(containers, ID) });
  }

  const oldWeb = [container('p-web-1', 'web'), container('p-web-2', 'web')];
  const newWeb = (options: Partial<ObservedContainer> = {}): ObservedContainer[] => [
    container('p-web-1-new-7', 'web', { rollout: '7', ...options }),
    container('p-web-2-new-7', 'web', { rollout: '7', ...options }),
  ];

  it('goes back before the switch while old containers are left, even if the new ones are healthy', () => {
    for (const steps of [['put-running'], ['put-running', 'load'], BEFORE_SWITCH]) {
      expect(decide(steps, [...oldWeb, ...newWeb()]), steps.join(',')).toBe('back');
    }
    expect(decide([...BEFORE_SWITCH, 'promote'], [...oldWeb, ...newWeb()])).toBe('back');
  });

  it('goes back when nothing new was started yet', () => {
    expect(decide(['put-running', 'load', 'start-new'], oldWeb)).toBe('back');
    expect(decide([], oldWeb)).toBe('back');
    expect(decide([], [])).toBe('back');
  });

  it('goes forward once the switch is journaled and the new containers run', () => {
    expect(decide(AT_SWITCH, [...oldWeb, ...newWeb()])).toBe('forward');
    // Old ones already gone, new ones not renamed yet (killed at rename).
    expect(decide([...AT_SWITCH, 'rename'], newWeb())).toBe('forward');
    // Renamed already (killed at apply or wait-healthy): still candidates by their label.
    const renamed = [
      container('p-web-1', 'web', { rollout: '7' }),
      container('p-web-2', 'web', { rollout: '7' }),
    ];
    expect(decide(AFTER_SWITCH, renamed)).toBe('forward');
  });

  it('counts a starting health check as up, an unhealthy or stopped container as not', () => {
    expect(decide(AT_SWITCH, [...oldWeb, ...newWeb({ health: 'starting' })])).toBe('forward');
    expect(decide(AT_SWITCH, [...oldWeb, ...newWeb({ health: 'none' })])).toBe('forward');
    expect(decide(AT_SWITCH, [...oldWeb, ...newWeb({ health: 'unhealthy' })])).toBe('back');
    expect(decide(AT_SWITCH, [...oldWeb, ...newWeb({ state: 'exited', health: 'none' })])).toBe(
      'back',
    );
    const mixed = [...newWeb().slice(0, 1), ...newWeb({ state: 'exited' }).slice(1)];
    expect(decide(AT_SWITCH, [...oldWeb, ...mixed])).toBe('back');
  });

  it('goes forward after the switch when no old container is left, whatever the new ones do', () => {
    expect(decide(AT_SWITCH, newWeb({ health: 'unhealthy' }))).toBe('forward');
    expect(decide(AFTER_SWITCH, newWeb({ state: 'exited', health: 'none' }))).toBe('forward');
    // Nothing of the rollout left at all after the switch: nothing to go back to either.
    expect(decide(AFTER_SWITCH, [container('p-db-1', 'db')])).toBe('forward');
  });

  it('goes forward when new containers run and no old one of their services is left', () => {
    // Unchanged services' containers are not old containers of a rolled service.
    expect(decide(BEFORE_SWITCH, [container('p-db-1', 'db'), ...newWeb()])).toBe('forward');
  });

  it('goes back before the switch when the old containers vanished and the new ones fail', () => {
    expect(decide(BEFORE_SWITCH, newWeb({ health: 'unhealthy' }))).toBe('back');
    expect(decide(BEFORE_SWITCH, newWeb({ state: 'exited', health: 'none' }))).toBe('back');
  });

  it('counts old containers of rolled services only', () => {
    const canary = [
      ...oldWeb,
      container('p-web-3', 'web'),
      container('p-web-1-new-7', 'web', { rollout: '7' }),
    ];
    expect(decide([...BEFORE_SWITCH, 'promote', 'window'], canary)).toBe('back');
    expect(decide([...BEFORE_SWITCH, 'promote', 'window', 'switch'], canary)).toBe('forward');
  });

  it('stop-first: goes back to the renamed-aside old container before the switch', () => {
    const aside = container('solo-prev-7', 'solo', { state: 'exited', health: 'none' });
    const fresh = container('solo', 'solo', { rollout: '7' });
    expect(decide(['put-running', 'load', 'prepare', 'plan', 'stop-first'], [aside])).toBe('back');
    expect(decide([...BEFORE_SWITCH, 'stop-first'], [aside, fresh])).toBe('back');
    expect(decide([...AT_SWITCH, 'stop-first'], [aside, fresh])).toBe('forward');
    expect(decide([...AT_SWITCH, 'stop-first'], [aside, { ...fresh, health: 'unhealthy' }])).toBe(
      'back',
    );
  });

  it('goes back once the deployment had begun giving up on its version', () => {
    for (const step of ['mark-bad', 'remove-new', 'roll-back']) {
      expect(decide([...AFTER_SWITCH, step], newWeb()), step).toBe('back');
    }
    // Old containers gone and new ones up would go forward, had the version not been given up.
    expect(decide(BEFORE_SWITCH, newWeb())).toBe('forward');
    expect(decide([...BEFORE_SWITCH, 'mark-bad', 'roll-back'], newWeb())).toBe('back');
  });

  it('depends only on its input', () => {
    const traces: RolloutTraces = rolloutTraces([...oldWeb, ...newWeb()], ID);
    const copy = structuredClone(traces);
    expect(decideRolloutRecovery({ steps: AT_SWITCH, traces })).toBe('forward');
    expect(decideRolloutRecovery({ steps: AT_SWITCH, traces })).toBe('forward');
    expect(traces).toEqual(copy);
  });
});

describe('findRolloutTraces and recoverRollout', () => {
  const deployment = { id: ID, version: 'v2', commit: 'c2' } as DeploymentRecord;

  function recoveryContext(previous: boolean): RecoveryContext {
    const folders = {
      readPreviousVersion: () =>
        Promise.resolve(previous ? { version: 'v1', commit: 'c1' } : undefined),
    };
    return { folders } as unknown as RecoveryContext;
  }

  it('finds no traces without candidates, asides or old files kept aside', async () => {
    const interrupted = { stack: 'p', deployment, containers: [container('p-web-1', 'web')] };
    expect(await findRolloutTraces(recoveryContext(false), interrupted)).toBeUndefined();
    // The generic recovery takes it from there.
    expect(await recoverRollout(recoveryContext(false), interrupted)).toBeUndefined();
  });

  it('counts the old files kept aside as a trace', async () => {
    const interrupted = { stack: 'p', deployment, containers: [container('p-web-1', 'web')] };
    const traces = await findRolloutTraces(recoveryContext(true), interrupted);
    expect(traces).toEqual({ candidates: [], asides: [], others: interrupted.containers });
  });

  it('counts a candidate as a trace without looking at the folders', async () => {
    const candidate = container('p-web-1-new-7', 'web', { rollout: '7' });
    const interrupted = { stack: 'p', deployment, containers: [candidate] };
    const traces = await findRolloutTraces({} as RecoveryContext, interrupted);
    expect(traces?.candidates).toEqual([candidate]);
  });
});
