import { BerthError } from '../errors.js';
import type { DaemonControl, TrackedRef, Trigger } from '../server/control.js';
import type { Logger } from '../log.js';
import type { StackRecord, StateStore } from '../state/types.js';
import { resumeStack, suspendStack } from './stack-admin.js';
import type { StackOutcome } from './types.js';

/** What the control API needs of the daemon: its queues and the store of the current app. */
export interface ControlTarget {
  store(): StateStore;
  trackedRef(): TrackedRef;
  requestSync(trigger: Trigger): void;
  deploy(name: string, trigger: Trigger): Promise<StackOutcome>;
  rollback(name: string, trigger: Trigger, to?: string): Promise<StackOutcome>;
  logger: Logger;
  /** Called after a stack is resumed, so the healer forgets its repair count. */
  onResumed?: (name: string) => void;
}

function known(store: StateStore, name: string): StackRecord {
  const record = store.getStack(name);
  if (record === undefined) {
    throw new BerthError('StackNotFound', `no stack named ${name}`, { place: { stack: name } });
  }
  return record;
}

/** The DaemonControl the HTTP app calls; every action goes through the daemon's queues. */
export function createDaemonControl(target: ControlTarget): DaemonControl {
  return {
    requestSync: (trigger) => target.requestSync(trigger),
    listStacks: () => target.store().listStacks(),
    getStack: (name) => target.store().getStack(name),
    deployments: (name, limit) => target.store().listDeployments(name, limit),
    health: (name, limit) => target.store().healthHistory(name, limit),
    deploy: (name, trigger) => target.deploy(name, trigger),
    rollback: (name, trigger, to) => target.rollback(name, trigger, to),
    // Suspension is one flag the plan already honours; the stack's queue needs no part in it.
    suspend: (name, trigger) => {
      const store = target.store();
      suspendStack({ store, logger: target.logger }, name, trigger.by);
      return Promise.resolve(known(store, name));
    },
    resume: (name, trigger) => {
      const store = target.store();
      resumeStack({ store, logger: target.logger }, name, trigger.by);
      target.onResumed?.(name);
      target.requestSync(trigger);
      return Promise.resolve(known(store, name));
    },
    trackedRef: () => target.trackedRef(),
  };
}
