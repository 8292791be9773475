import { describeError } from '../errors.js';
import { LABEL, type ObservedContainer, type ObservedProject } from '../engine/types.js';
import type { BrokenStack, DiscoveredStack, Discovery } from '../stack/types.js';
import type { BadVersion, StackRecord, VersionRef } from '../state/types.js';
import type { PlanEntry } from '../plan-entry.js';

/** Why a stack is left alone, so callers map a skip to a result without parsing the reason. */
export type SkipKind = 'suspended' | 'disabled' | 'invalid' | 'bad' | 'kept';

/** One stack's entry of a reconcile plan. */
export interface StackPlan extends PlanEntry {
  stack: string;
  /** The version the repository wants (absent for stacks that left it). */
  version?: string;
  /** The version recorded as running, if any. */
  currentVersion?: string;
  skip?: SkipKind;
  /** Set for create/recreate/unchanged and for disabled/suspended/bad skips. */
  discovered?: DiscoveredStack;
  /**
   * Image updates: the registry digests the wanted version was computed from (image reference
   * → `sha256:…`); deployed pinned. Absent for a stack without image updates.
   */
  images?: Record<string, string>;
  broken?: BrokenStack;
  badVersion?: BadVersion;
  /** Set for `recreate` entries caused by drift rather than a new version. */
  drift?: string[];
  /** --dry-run of a blue-green or canary stack: what happens to each service, and why. */
  details?: PlanEntry[];
}

/** What a pass does with a stack that is in no source's discovery. */
export interface LeftScope {
  /** Bring it down when prune is on: its source synced and no longer holds it. */
  prune: boolean;
  /** Why it is kept whatever prune says. */
  why?: string;
}

export interface PlanInput {
  discovery: Discovery;
  /** Projects as Docker reports them, keyed by project (= stack) name. */
  observed: Map<string, ObservedProject>;
  records: Map<string, StackRecord>;
  bad: (stack: string, version: string) => BadVersion | undefined;
  /** version.txt of running_stacks/<stack>, for stacks that have one. */
  runningVersions: Map<string, VersionRef | undefined>;
  /**
   * Services of the running version's compose file. Without it a service whose containers
   * all vanished cannot be told apart from one that never existed.
   */
  expectedServices?: Map<string, string[]>;
  prune: boolean;
  only?: string[];
  /**
   * Which stacks in no discovery this plan answers for, and how (several sources: only the
   * pass's own, pruned only when their source synced). Undefined: none. Default: all, prunable.
   */
  left?: (stack: string) => LeftScope | undefined;
}

/** Short form of a version hash for messages. */
export function shortVersion(version: string | undefined): string {
  return version === undefined ? '-' : version.slice(0, 12);
}

/**
 * Decides, without I/O, what a pass does with each stack. Only stacks whose version changed
 * or whose containers drifted from the recorded version are touched.
 */
export function computePlan(input: PlanInput): StackPlan[] {
  const wanted = input.only === undefined ? undefined : new Set(input.only);
  const included = (name: string): boolean => wanted === undefined || wanted.has(name);
  const plan: StackPlan[] = [];
  const inRepo = new Set<string>();

  for (const broken of input.discovery.broken) {
    inRepo.add(broken.name);
    if (!included(broken.name)) continue;
    plan.push({
      subject: broken.name,
      stack: broken.name,
      action: 'skip',
      skip: 'invalid',
      reason: `invalid: ${describeError(broken.error)}`,
      version: broken.version,
      currentVersion: currentVersionOf(broken.name, input),
      broken,
    });
  }

  for (const stack of input.discovery.stacks) {
    inRepo.add(stack.name);
    if (!included(stack.name)) continue;
    plan.push(planStack(stack, input));
  }

  const leftCandidates = new Set<string>([
    ...input.records.keys(),
    ...input.runningVersions.keys(),
  ]);
  for (const name of [...leftCandidates].sort()) {
    if (inRepo.has(name) || !included(name)) continue;
    const scope = input.left === undefined ? { prune: true } : input.left(name);
    if (scope === undefined) continue;
    const current = currentVersionOf(name, input);
    const hasContainers = Object.keys(input.observed.get(name)?.services ?? {}).length > 0;
    // A pruned stack keeps its record but loses its running version: nothing left to do.
    if (current === undefined && !hasContainers) continue;
    plan.push(leftEntry(name, current, input.prune, scope));
  }
  return plan;
}

/** A stack in no discovery: removed (prune), or kept and why. */
function leftEntry(
  name: string,
  current: string | undefined,
  prune: boolean,
  scope: LeftScope,
): StackPlan {
  const base = { subject: name, stack: name, currentVersion: current };
  if (scope.why !== undefined)
    return { ...base, action: 'skip', skip: 'kept', reason: `folder not found; ${scope.why}` };
  if (prune && scope.prune)
    return { ...base, action: 'remove', reason: 'folder left the repository; prune' };
  return {
    ...base,
    action: 'skip',
    skip: 'kept',
    reason: 'folder left the repository; kept running (prune: false)',
  };
}

function currentVersionOf(name: string, input: PlanInput): string | undefined {
  return (
    input.records.get(name)?.running?.version ??
    input.runningVersions.get(name)?.version ??
    undefined
  );
}

function planStack(stack: DiscoveredStack, input: PlanInput): StackPlan {
  const record = input.records.get(stack.name);
  const current = currentVersionOf(stack.name, input);
  const base = {
    subject: stack.name,
    stack: stack.name,
    version: stack.version,
    currentVersion: current,
    discovered: stack,
  };
  if (record?.suspended === true) {
    return { ...base, action: 'skip', skip: 'suspended', reason: 'suspended' };
  }
  if (!stack.settings.deploy) {
    const where = stack.settings.origin === 'defaults' ? 'defaults' : stack.settings.origin;
    return { ...base, action: 'skip', skip: 'disabled', reason: `deploy: false in ${where}` };
  }
  const bad = input.bad(stack.name, stack.version);
  if (bad !== undefined) {
    return {
      ...base,
      action: 'skip',
      skip: 'bad',
      badVersion: bad,
      reason: `version marked bad at ${bad.at}: ${bad.reason}`,
    };
  }
  const observed = input.observed.get(stack.name);
  if (current === undefined) {
    if (observed !== undefined) {
      // Containers of this exact version run but berth lost its record (a new data dir).
      const drift = driftOf(stack.version, observed, input.expectedServices?.get(stack.name));
      if (drift.length === 0) {
        return { ...base, action: 'unchanged', reason: 'running containers match the version' };
      }
    }
    return { ...base, action: 'create', reason: 'new stack' };
  }
  if (current !== stack.version) {
    return {
      ...base,
      action: 'recreate',
      reason: `version changed ${shortVersion(current)}→${shortVersion(stack.version)}`,
    };
  }
  const drift = driftOf(
    current,
    observed,
    input.expectedServices?.get(stack.name),
    record?.carriedVersions,
  );
  if (drift.length > 0) {
    return {
      ...base,
      action: 'recreate',
      drift,
      reason: `containers drifted from recorded version (${drift.join('; ')})`,
    };
  }
  return { ...base, action: 'unchanged', reason: 'up to date' };
}

function isUp(container: ObservedContainer): boolean {
  if (container.state === 'running' || container.state === 'restarting') return true;
  // A one-shot service that finished cleanly is where it should be.
  return container.state === 'exited' && container.exitCode === 0;
}

/**
 * Stack versions on the project's containers other than `version`: the containers blue-green
 * and canary left in place because their service did not change.
 */
export function carriedVersionsOf(
  observed: ObservedProject,
  version: string | undefined,
): string[] {
  const labels = Object.values(observed.services).flatMap((s) =>
    s.containers.map((c) => c.labels[LABEL.stackVersion]),
  );
  return [...new Set(labels.filter((v): v is string => v !== undefined && v !== version))];
}

/** Differences between the recorded version and the containers Docker reports. */
export function driftOf(
  version: string,
  observed: ObservedProject | undefined,
  expectedServices: string[] | undefined,
  carriedVersions: readonly string[] = [],
): string[] {
  const services = observed?.services ?? {};
  if (Object.keys(services).length === 0) return ['no containers'];
  const drift: string[] = [];
  const names = new Set<string>([...(expectedServices ?? []), ...Object.keys(services)]);
  for (const name of [...names].sort()) {
    const containers = services[name]?.containers ?? [];
    if (containers.length === 0) {
      drift.push(`service ${name}: missing`);
      continue;
    }
    const labelled = containers.find((c) => {
      const label = c.labels[LABEL.stackVersion];
      return label !== version && (label === undefined || !carriedVersions.includes(label));
    });
    if (labelled !== undefined) {
      const found = labelled.labels[LABEL.stackVersion];
      drift.push(`service ${name}: container ${labelled.name} has version ${shortVersion(found)}`);
      continue;
    }
    if (!containers.some(isUp)) {
      drift.push(`service ${name}: not running (${containers.map((c) => c.state).join(', ')})`);
    }
  }
  return drift;
}
