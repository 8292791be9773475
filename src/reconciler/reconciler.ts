import { describeError } from '../errors.js';
import type { StackPlan } from '../plan/stack-plan.js';
import { pinImages } from '../stack/image-version.js';
import { getStrategy } from '../strategies/index.js';
import { createPassPlanner } from './pass.js';
import { refusedByPolicy } from './policy.js';
import { prepareRequest } from './prepare.js';
import { recoverInterrupted } from './recovery.js';
import { projectLoader } from './deploy.js';
import { clearStaging } from './staging.js';
import { defaultsOf } from './sources.js';
import { runRequest } from './stack.js';
import type {
  PassPlanEntry,
  PlannedPass,
  PreparedRequest,
  ReconcileOptions,
  ReconcilerDeps,
  RunOptions,
  StackOutcome,
  StackRequest,
} from './types.js';

/**
 * One pass and one stack. The dispatcher (src/control/) orders the requests; the reconciler
 * does each: plan a pass (pure, no changes), prepare a request (copy its files, open its
 * deployment), run it (the one reconcile shape).
 */
export interface Reconciler {
  /**
   * Clears what a dead process left (half-built folders, staged copies) and resolves the
   * deployments a crash interrupted (seed 000). Only the data dir's lock holder calls it, once,
   * before its first change.
   */
  recover(): Promise<void>;
  /** Sync, discover, observe and plan; changes nothing on Docker or in the state. */
  plan(options: ReconcileOptions): Promise<PlannedPass>;
  /** --dry-run: the plan, with each strategy's own plan for the stacks it would deploy. */
  describe(planned: PlannedPass): Promise<PassPlanEntry[]>;
  prepare(request: StackRequest): Promise<PreparedRequest>;
  run(request: PreparedRequest, options?: RunOptions): Promise<StackOutcome>;
}

export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const planner = createPassPlanner(deps);
  let recovered: Promise<void> | undefined;

  async function recoverOnce(): Promise<void> {
    await deps.folders.repairAll();
    await clearStaging(deps.stagingDir);
    await recoverInterrupted({
      engine: deps.engine,
      store: deps.store,
      folders: deps.folders,
      clock: deps.clock,
      logger: deps.logger,
      loadProject: projectLoader(deps),
      defaults: firstDefaults(deps),
      defaultsOf: (stack) => defaultsOf(deps, stack),
    });
  }

  return {
    recover: () => (recovered ??= recoverOnce()),
    plan: (options) => planner.plan(options),
    describe: (planned) =>
      Promise.all(planned.plan.map((entry) => describeEntry(deps, planned, entry))),
    prepare: (request) => prepareRequest(deps, request),
    run: (request, options) => runRequest(deps, planner, request, options),
  };
}

function firstDefaults(deps: ReconcilerDeps): ReconcilerDeps['sources'][number]['defaults'] {
  const [first] = deps.sources;
  if (first === undefined) throw new Error('no source configured');
  return first.defaults;
}

/**
 * A stack entry for --dry-run; a strategy with a plan of its own (blue-green, canary: which
 * services roll side by side or stop-first, and why) adds it. Read-only.
 */
async function describeEntry(
  deps: ReconcilerDeps,
  planned: PlannedPass,
  entry: StackPlan,
): Promise<PassPlanEntry> {
  const refused = await refusedByPolicy(deps, entry);
  if (refused !== undefined) return refused;
  const described: StackPlan = { ...entry };
  const discovered = entry.discovered;
  const running = Object.keys(planned.observed.get(entry.stack)?.services ?? {}).length > 0;
  // With nothing running, blue-green and canary deploy as simple does: no plan of their own.
  if (entry.action !== 'recreate' || discovered === undefined || !running) return described;
  const strategy = getStrategy(discovered.settings.method);
  if (strategy.plan === undefined) return described;
  try {
    const loaded = (await deps.loadStack(discovered.dir, entry.stack)).project;
    // The rollout compares what will run: the images the version pins, not their tags.
    const project = entry.images === undefined ? loaded : pinImages(loaded, entry.images);
    described.details = await strategy.plan({
      engine: deps.engine,
      project,
      settings: discovered.settings,
      version: discovered.version,
    });
  } catch (err) {
    described.details = [
      { subject: entry.stack, action: 'skip', reason: `no rollout plan: ${describeError(err)}` },
    ];
  }
  return described;
}
