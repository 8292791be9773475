import { BerthError } from '../../src/errors.js';
import type { StackOutcome } from '../../src/reconciler/types.js';
import type { ServerControl, SourceView, TrackedRef, Trigger } from '../../src/server/control.js';
import type { DeploymentRecord, HealthRecord, StackRecord } from '../../src/state/types.js';

export interface ControlCall {
  method: string;
  stack?: string;
  trigger?: Trigger;
  to?: string;
  limit?: number;
  /** requestSync: the sources asked for (undefined: all). */
  sources?: readonly string[];
}

/** An in-memory ServerControl that records what the app asked for. */
export interface FakeControl extends ServerControl {
  calls: ControlCall[];
  stacks: Map<string, StackRecord>;
  tracked: TrackedRef;
  /** What `sources()` answers; by default one `default` source following `tracked`. */
  sourceList?: SourceView[];
  /** When set, deploy throws it. */
  deployError?: Error;
  /** When set, rollback throws it. */
  rollbackError?: Error;
}

export function stackRecord(name: string, patch: Partial<StackRecord> = {}): StackRecord {
  return {
    name,
    state: 'STABLE',
    suspended: false,
    running: { version: 'v-run-1', commit: 'c1' },
    good: { version: 'v-good-1', commit: 'c0' },
    health: 'healthy',
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'ReconciliationSucceeded',
        message: 'ok',
        lastTransitionTime: '2026-01-01T00:00:00.000Z',
      },
    ],
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...patch,
  };
}

export function createFakeControl(tracked: TrackedRef = { branch: 'main' }): FakeControl {
  const stacks = new Map<string, StackRecord>([
    ['web', stackRecord('web')],
    ['db', stackRecord('db', { health: 'unhealthy' })],
  ]);
  const calls: ControlCall[] = [];
  const deployments: DeploymentRecord[] = Array.from({ length: 30 }, (_, i) => ({
    id: 30 - i,
    stack: 'web',
    version: `v${30 - i}`,
    commit: `c${30 - i}`,
    method: 'simple',
    state: 'DONE',
    trigger: 'reconcile',
    startedAt: '2026-01-01T00:00:00.000Z',
    result: 'succeeded',
  }));
  const health: HealthRecord[] = Array.from({ length: 60 }, (_, i) => ({
    stack: 'web',
    version: 'v1',
    commit: 'c1',
    health: 'healthy',
    detail: `check ${i}`,
    at: '2026-01-01T00:00:00.000Z',
  }));
  const outcome = (stack: string, result: StackOutcome['result']): StackOutcome => ({
    stack,
    outcome: 'done',
    result,
    message: `${result} ${stack}`,
    version: 'v2',
    deploymentId: 31,
  });
  const control: FakeControl = {
    calls,
    stacks,
    tracked,
    requestSync(trigger, sources) {
      calls.push({
        method: 'requestSync',
        trigger,
        ...(sources === undefined ? {} : { sources }),
      });
    },
    listStacks: () => [...stacks.values()],
    getStack: (name) => stacks.get(name),
    deployments(name, limit) {
      calls.push({ method: 'deployments', stack: name, limit });
      return deployments.filter((d) => d.stack === name).slice(0, limit);
    },
    health(name, limit) {
      calls.push({ method: 'health', stack: name, limit });
      return health.filter((h) => h.stack === name).slice(0, limit);
    },
    deploy(name, trigger) {
      calls.push({ method: 'deploy', stack: name, trigger });
      if (control.deployError !== undefined) return Promise.reject(control.deployError);
      return Promise.resolve(outcome(name, 'deployed'));
    },
    rollback(name, trigger, to) {
      calls.push({ method: 'rollback', stack: name, trigger, to });
      if (control.rollbackError !== undefined) return Promise.reject(control.rollbackError);
      if (to === 'nope') {
        return Promise.reject(new BerthError('VersionNotFound', `no version ${to} of ${name}`));
      }
      return Promise.resolve(outcome(name, 'rolled-back'));
    },
    suspend(name, trigger) {
      calls.push({ method: 'suspend', stack: name, trigger });
      const record = { ...stacks.get(name)!, suspended: true };
      stacks.set(name, record);
      return Promise.resolve({
        stack: name,
        suspended: true,
        changed: true,
        by: trigger.by,
        at: record.updatedAt,
      });
    },
    resume(name, trigger) {
      calls.push({ method: 'resume', stack: name, trigger });
      const record = { ...stacks.get(name)!, suspended: false };
      stacks.set(name, record);
      return Promise.resolve({
        stack: name,
        suspended: false,
        changed: true,
        by: trigger.by,
        at: record.updatedAt,
      });
    },
    sources: () =>
      control.sourceList ?? [
        {
          name: 'default',
          kind: 'git',
          url: 'https://git.example.com/acme/stacks.git',
          schedule: '*/5 * * * *',
          tracked: control.tracked,
          stacks: stacks.size,
        },
      ],
  };
  return control;
}
