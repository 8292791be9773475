import type { Reason } from '../reasons.js';
import type { Condition, StateStore } from '../state/types.js';

/**
 * A stack's status conditions (Flux style): Ready, Reconciling and Stalled. Every set of
 * conditions the reconciler writes is built here, so the same situation always reads the same
 * way in `status`, the API and the metrics.
 */
export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

type Status = Condition['status'];

function condition(
  type: Condition['type'],
  status: Status,
  reason: Reason,
  message: string,
): ConditionInput {
  return { type, status, reason, message };
}

/** A deployment started. */
export function progressing(message: string): ConditionInput[] {
  return [condition('Reconciling', 'True', 'Progressing', message)];
}

/** The stack runs the desired version, healthy. */
export function succeeded(message: string): ConditionInput[] {
  return [
    condition('Ready', 'True', 'ReconciliationSucceeded', message),
    condition('Reconciling', 'False', 'ReconciliationSucceeded', message),
    condition('Stalled', 'False', 'ReconciliationSucceeded', message),
  ];
}

/**
 * A deployment did not reach the desired version. `stalled` when only a change (in git, or
 * by a person) can help; `stalledReason` says why it is stalled when that differs.
 */
export function failed(
  reason: Reason,
  message: string,
  options: { stalled: boolean; stalledReason?: Reason },
): ConditionInput[] {
  return [
    condition('Ready', 'False', reason, message),
    condition('Reconciling', 'False', reason, message),
    condition(
      'Stalled',
      options.stalled ? 'True' : 'False',
      options.stalled ? (options.stalledReason ?? reason) : 'Progressing',
      message,
    ),
  ];
}

/** The folder, its settings or its compose file cannot be deployed as they are. */
export function invalid(message: string): ConditionInput[] {
  return [
    condition('Ready', 'False', 'ValidationFailed', message),
    condition('Reconciling', 'False', 'ValidationFailed', message),
    condition('Stalled', 'True', 'ValidationFailed', message),
  ];
}

export function markedBad(message: string): ConditionInput[] {
  return [condition('Stalled', 'True', 'VersionMarkedBad', message)];
}

/** A pass found the stack suspended. */
export function skippedSuspended(): ConditionInput[] {
  return [condition('Reconciling', 'False', 'Suspended', 'suspended')];
}

export function suspended(message: string): ConditionInput[] {
  return [
    condition('Ready', 'Unknown', 'Suspended', message),
    condition('Reconciling', 'False', 'Suspended', message),
  ];
}

/** Also lifts the repair limit's stall: a person looked at the stack. */
export function resumed(message: string, liftsStall: boolean): ConditionInput[] {
  const list = [
    condition('Ready', 'Unknown', 'Resumed', message),
    condition('Reconciling', 'Unknown', 'Resumed', message),
  ];
  if (liftsStall) list.push(condition('Stalled', 'False', 'Resumed', message));
  return list;
}

export function broughtDown(message: string): ConditionInput[] {
  return [condition('Ready', 'False', 'BroughtDown', message)];
}

export function pruned(message: string): ConditionInput[] {
  return [condition('Ready', 'False', 'Pruned', message)];
}

export function sourceUnavailable(message: string): ConditionInput[] {
  return [condition('Reconciling', 'False', 'SourceUnavailable', message)];
}

/** A deployment that a crash interrupted, resolved by recovery. Not stalled: it is retried. */
export function interrupted(message: string, healthy: boolean): ConditionInput[] {
  return [
    condition('Reconciling', 'False', 'DeploymentInterrupted', message),
    condition(
      'Ready',
      healthy ? 'True' : 'False',
      healthy ? 'RecoveredAfterInterruption' : 'DeploymentInterrupted',
      message,
    ),
    condition('Stalled', 'False', 'DeploymentInterrupted', message),
  ];
}

/** The healer gave up on the stack. */
export function repairLimitReached(message: string): ConditionInput[] {
  return [
    condition('Stalled', 'True', 'RepairLimitReached', message),
    condition('Ready', 'False', 'RepairLimitReached', message),
  ];
}

/** A container turned unhealthy, or came back, while nothing was being deployed. */
export function runtimeHealth(healthy: boolean, message: string): ConditionInput[] {
  return [
    healthy
      ? condition('Ready', 'True', 'ReconciliationSucceeded', message)
      : condition('Ready', 'False', 'Unhealthy', message),
  ];
}

/** Writes conditions; each keeps its transition time when its status does not change. */
export function setStatus(store: StateStore, stack: string, conditions: ConditionInput[]): void {
  for (const c of conditions) store.setCondition(stack, c);
}

/** True while the stack's Stalled condition says the healer gave up on it. */
export function isRepairLimited(conditions: readonly Condition[]): boolean {
  const stalled = conditions.find((c) => c.type === 'Stalled');
  return stalled?.status === 'True' && stalled.reason === 'RepairLimitReached';
}
