import { describe, expect, it } from 'vitest';
import { LABEL } from '../../src/engine/types.js';
import { failpointMatches } from '../../src/failpoint.js';
import { decideRecovery, type RecoveryInput } from '../../src/reconciler/recovery.js';

const V1 = { version: 'v1hash', commit: 'c1' };
const V2 = { version: 'v2hash', commit: 'c2' };
const V0 = { version: 'v0hash', commit: 'c0' };

function container(
  version: string,
  state: 'running' | 'exited' | 'created' = 'running',
  health: 'healthy' | 'unhealthy' | 'starting' | 'none' = 'healthy',
): RecoveryInput['containers'][number] {
  return { state, health, labels: { [LABEL.stackVersion]: version } };
}

function input(patch: Partial<RecoveryInput>): RecoveryInput {
  return {
    version: V2.version,
    record: { running: V1, health: 'healthy' },
    containers: [],
    provenHealthy: false,
    ...patch,
  };
}

describe('decideRecovery', () => {
  it('goes back to the healthy running copy when the new version had not been copied yet', () => {
    const decision = decideRecovery(
      input({ runningFolder: V1, containers: [container(V1.version, 'exited')] }),
    );
    expect(decision).toEqual({
      keepNew: false,
      removeNew: false,
      target: { ref: V1, from: 'running' },
      clearRunning: false,
    });
  });

  it('removes half-started new containers and restores good_stacks once running_stacks holds the new version', () => {
    const decision = decideRecovery(
      input({
        runningFolder: V2,
        goodFolder: V1,
        containers: [container(V2.version, 'running', 'starting')],
      }),
    );
    expect(decision.removeNew).toBe(true);
    expect(decision.target).toEqual({ ref: V1, from: 'good' });
    expect(decision.keepNew).toBe(false);
  });

  it('keeps a new version that passed its health gate and still runs', () => {
    const decision = decideRecovery(
      input({
        runningFolder: V2,
        goodFolder: V1,
        containers: [container(V2.version), container(V2.version, 'running', 'none')],
        provenHealthy: true,
      }),
    );
    expect(decision).toEqual({ keepNew: true, removeNew: false, clearRunning: false });
  });

  it('does not keep a proven version whose containers went down since', () => {
    const decision = decideRecovery(
      input({
        runningFolder: V2,
        goodFolder: V1,
        containers: [container(V2.version, 'exited')],
        provenHealthy: true,
      }),
    );
    expect(decision.keepNew).toBe(false);
    expect(decision.removeNew).toBe(true);
    expect(decision.target?.ref).toEqual(V1);
  });

  it('does not trust an unproven new version even when it looks healthy', () => {
    const decision = decideRecovery(
      input({ runningFolder: V2, goodFolder: V1, containers: [container(V2.version)] }),
    );
    expect(decision.keepNew).toBe(false);
    expect(decision.removeNew).toBe(true);
  });

  it('leaves a first deployment down and clears its running copy', () => {
    const decision = decideRecovery(
      input({ record: undefined, runningFolder: V2, containers: [container(V2.version)] }),
    );
    expect(decision).toEqual({ keepNew: false, removeNew: true, clearRunning: true });
  });

  it('leaves a first deployment alone when nothing was copied or created yet', () => {
    expect(decideRecovery(input({ record: undefined }))).toEqual({
      keepNew: false,
      removeNew: false,
      clearRunning: false,
    });
  });

  it('goes back to the running copy after good_stacks was restored into it', () => {
    const decision = decideRecovery(
      input({
        record: { running: V1, health: 'healthy' },
        runningFolder: V0,
        goodFolder: V0,
        containers: [],
      }),
    );
    expect(decision.target).toEqual({ ref: V0, from: 'running' });
  });

  it('prefers good_stacks over a running copy that was unhealthy', () => {
    const decision = decideRecovery(
      input({
        record: { running: V1, health: 'unhealthy' },
        runningFolder: V1,
        goodFolder: V0,
        containers: [container(V1.version, 'exited')],
      }),
    );
    expect(decision.target).toEqual({ ref: V0, from: 'good' });
    expect(decision.removeNew).toBe(false);
  });

  it('does not remove containers of an interrupted rollback to the good version itself', () => {
    const decision = decideRecovery(
      input({
        version: V1.version,
        record: { running: V2, health: 'unhealthy' },
        runningFolder: V1,
        goodFolder: V1,
        containers: [container(V1.version, 'created', 'none')],
      }),
    );
    expect(decision.removeNew).toBe(false);
    expect(decision.target).toEqual({ ref: V1, from: 'good' });
  });
});

describe('failpointMatches', () => {
  it('is inert without a value', () => {
    expect(failpointMatches(undefined, 'web', 'apply')).toBe(false);
    expect(failpointMatches('', 'web', 'apply')).toBe(false);
  });

  it('matches a step, or a step of one stack', () => {
    expect(failpointMatches('apply', 'web', 'apply')).toBe(true);
    expect(failpointMatches('web:apply', 'web', 'apply')).toBe(true);
    expect(failpointMatches('db:apply', 'web', 'apply')).toBe(false);
    expect(failpointMatches('apply-good', 'web', 'apply')).toBe(false);
  });
});
