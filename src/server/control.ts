import type { ControlPlane, TrackedRef } from '../control/control-plane.js';
import type { Trigger } from '../reconciler/types.js';

export type { TrackedRef, Trigger };

/** One configured source as the API shows it and webhooks are routed by. */
export interface SourceView {
  /** Its `sources:` name (`default` for the single `source:` section). */
  name: string;
  /** `git` or `local`. */
  kind: string;
  /** A git source's URL without credentials; a local source's folder. */
  url?: string;
  /** The cron schedule it syncs on. */
  schedule: string;
  /** The ref a push must name to start its sync (empty for a local folder). */
  tracked: TrackedRef;
  /** Its last sync since berth started; undefined before the first. */
  lastSync?: {
    at: string;
    ok: boolean;
    /** What its stacks are read from: the synced commit, or after a failure the last fetched. */
    commit?: string;
    error?: { reason: string; message: string };
    /** When it last synced successfully, and to what. */
    lastOk?: { at: string; commit?: string };
    /** Syncs failed in a row. */
    failures: number;
  };
  /** How many recorded stacks come from it. */
  stacks: number;
}

/**
 * What the HTTP app asks of berth: a part of the control plane, so every API action goes
 * through the dispatcher like any other trigger's; the app never touches the queues or the
 * state. `sources` is the daemon's view of its configured sources, which webhooks are routed by.
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
> & {
  /** The configured sources, in the config's order (at least one). */
  sources(): SourceView[];
};
