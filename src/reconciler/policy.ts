import type { StackPlan } from '../plan/stack-plan.js';
import { PolicyError, checkPolicy, policyForStack } from '../policy/index.js';
import { entryDeploys } from './pass.js';
import type { ReconcilerDeps } from './types.js';

/**
 * --dry-run: a stack the operator's policy refuses shows as the invalid skip a real pass would
 * record, so the refusal is seen before anything runs. A project that does not load is left to
 * the checks that already report it.
 */
export async function refusedByPolicy(
  deps: ReconcilerDeps,
  entry: StackPlan,
): Promise<StackPlan | undefined> {
  const discovered = entry.discovered;
  if (!entryDeploys(entry) || discovered === undefined) return undefined;
  const loaded = await deps.loadStack(discovered.dir, entry.stack).catch(() => undefined);
  if (loaded === undefined) return undefined;
  const violations = checkPolicy(
    loaded.project,
    policyForStack(deps.policy, entry.stack),
    entry.stack,
  );
  if (violations.length === 0) return undefined;
  const error = new PolicyError(entry.stack, violations);
  return { ...entry, action: 'skip', skip: 'invalid', reason: `invalid: ${error.message}` };
}
