import type { ComposeProject } from '../../compose/types.js';
import type { HealthReport } from '../../engine/types.js';
import type { StrategyContext } from '../types.js';
import type { RolloutMethod, RolloutPlan } from './plan.js';

/** A container this deployment started. */
export interface Started {
  id: string;
  service: string;
  number: number;
  name: string;
  /** The name it has to end up with. */
  finalName: string;
  /** Joined the service's aliases. */
  serving: boolean;
}

/** An old container of a stop-first service: stopped and renamed aside, kept until the switch. */
export interface Aside {
  id: string;
  service: string;
  name: string;
}

/** What a rollout has done so far: what undoing it, or finishing it, works from. */
export interface RolloutState {
  project?: ComposeProject;
  plan?: RolloutPlan;
  started: Started[];
  asides: Aside[];
}

/** What sets blue-green and canary apart. */
export interface RolloutOptions<Method extends RolloutMethod = RolloutMethod> {
  method: Method;
  /** Runs once a batch has joined its service's aliases; throws RolloutFailure to stop. */
  afterBatch?: (ctx: StrategyContext, label: string, fresh: Started[]) => Promise<void>;
}

/** Why a rollout stopped before its switch: a batch was not healthy, a probe failed, or a step threw. */
export class RolloutFailure extends Error {
  constructor(
    message: string,
    readonly report?: HealthReport,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}
