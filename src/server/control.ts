import type { ControlPlane, TrackedRef } from '../control/control-plane.js';
import type { Trigger } from '../reconciler/types.js';

export type { TrackedRef, Trigger };

/**
 * What the HTTP app asks of berth: a part of the control plane, so every API action goes
 * through the dispatcher like any other trigger's; the app never touches the queues or the state.
 *
 * Errors: a BerthError; the app answers by its `reason`: `StackNotFound` and `VersionNotFound`
 * 404, `InvalidRequest` 400, anything else 500.
 */
export type ServerControl = Pick<
  ControlPlane,
  | 'requestSync'
  | 'listStacks'
  | 'getStack'
  | 'deployments'
  | 'health'
  | 'deploy'
  | 'rollback'
  | 'suspend'
  | 'resume'
  | 'trackedRef'
>;
