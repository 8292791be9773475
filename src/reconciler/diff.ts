import type { StackLoader } from '../stack/project.js';
import path from 'node:path';
import type { ContainerEngine, ContainerPlanItem, ObservedProject } from '../engine/types.js';
import { describeError } from '../errors.js';
import type { StackSource } from '../source/types.js';
import { discoverStacks } from '../stack/discover.js';
import type { Discovery, SettingsDefaults } from '../stack/types.js';
import type { StackFolders, StackRecord, StateStore, VersionRef } from '../state/types.js';
import { versionLabels } from '../engine/naming.js';
import { methodNames } from '../strategies/index.js';
import { DEFAULT_SOURCE } from '../source/registry.js';
import { mergeDiscoveries, type SourceDiscovery } from './discovery.js';
import type { NamedSource } from './types.js';

interface DiffBase {
  engine: ContainerEngine;
  store: StateStore;
  folders: StackFolders;
  loadStack: StackLoader;
}

/** The sources' checkouts are the desired state; the one-source form is the `default` source. */
export type DiffDeps = DiffBase &
  (
    | { sources: NamedSource[] }
    | {
        /** @deprecated One source: give `sources`. */
        source: StackSource;
        settings: { paths: string[]; defaults: SettingsDefaults };
      }
  );

function sourcesOf(deps: DiffDeps): NamedSource[] {
  if ('sources' in deps) return deps.sources;
  const { paths, defaults } = deps.settings;
  return [{ name: DEFAULT_SOURCE, source: deps.source, paths, defaults }];
}

/** Every source's checkout as it is (nothing fetched), as one discovery; undefined: none yet. */
async function discoverCheckouts(sources: NamedSource[]): Promise<Discovery | undefined> {
  const parts = await Promise.all(
    sources.map(async (named): Promise<SourceDiscovery | undefined> => {
      const revision = await named.source.current();
      if (revision === undefined) return undefined;
      const discovery = await discoverStacks(
        revision.dir,
        named.paths,
        named.defaults,
        methodNames(),
      );
      return {
        source: named.name,
        root: revision.dir,
        ...(named.prefix === undefined ? {} : { prefix: named.prefix }),
        discovery,
      };
    }),
  );
  const found = parts.filter((p): p is SourceDiscovery => p !== undefined);
  return found.length === 0 ? undefined : mergeDiscoveries(found).discovery;
}

/**
 * in-sync: nothing differs. differs: versions or containers differ. missing: in the checkout,
 * never deployed. extra: deployed or running, but its folder left the checkout. invalid: the
 * folder cannot be read, so the desired state is unknown. unknown: a name asked for that is
 * nowhere (checkout, state, Docker).
 */
export type StackDiffStatus = 'in-sync' | 'differs' | 'missing' | 'extra' | 'invalid' | 'unknown';

export interface StackDiff {
  stack: string;
  status: StackDiffStatus;
  /** True when anything differs between desired and observed state. */
  differs: boolean;
  /** The checkout's version of the stack folder (without fetching). */
  desiredVersion?: string;
  /** running_stacks/<stack>/version.txt. */
  running?: VersionRef;
  /** What the state database recorded as running. */
  recorded?: VersionRef;
  suspended: boolean;
  /** deploy: false in the stack's settings. */
  disabled: boolean;
  /** Set when the desired version is marked bad (the reconciler will not deploy it). */
  bad?: { version: string; reason: string; at: string };
  /** Containers `apply` would touch: create, recreate, remove, or start/restart. */
  containers: ContainerPlanItem[];
  /** One line per difference, for people. */
  differences: string[];
  /** Set when the container plan could not be computed. */
  error?: string;
}

function touches(item: ContainerPlanItem): boolean {
  return item.action !== 'unchanged' || item.start === true || item.restart === true;
}

function short(version: string | undefined): string {
  return version === undefined ? 'none' : version.slice(0, 12);
}

function containerLine(item: ContainerPlanItem): string {
  const action = item.start === true ? 'start' : item.restart === true ? 'restart' : item.action;
  return `${action} ${item.subject}: ${item.reason}`;
}

/**
 * Desired state (the checkout as it is, without fetching) against observed state (the
 * running_stacks version, the state database, and what `apply` would do to the containers),
 * per stack. Managed projects deployed from this data directory but no longer in the checkout
 * are `extra`. Read-only: the engine's plan does not pull, create or start anything.
 */
export async function diffStacks(deps: DiffDeps, names?: string[]): Promise<StackDiff[]> {
  const checkouts = await discoverCheckouts(sourcesOf(deps));
  const discovery: Discovery = checkouts ?? { stacks: [], broken: [] };
  const observedAll = await deps.engine.observeAll();
  const records = new Map(deps.store.listStacks().map((r) => [r.name, r]));
  // Projects another berth (another data directory) deployed on this host are not ours.
  const ownRoot = path.resolve(path.dirname(deps.folders.runningDir('_')));
  const ours = [...observedAll.values()]
    .filter((p) => p.workingDir === undefined || p.workingDir.startsWith(`${ownRoot}${path.sep}`))
    .map((p) => p.name);
  const all = new Set<string>([
    ...discovery.stacks.map((s) => s.name),
    ...discovery.broken.map((b) => b.name),
    ...records.keys(),
    ...ours,
  ]);
  const wanted = names === undefined || names.length === 0 ? [...all] : names;
  const diffs = await Promise.all(
    wanted
      .sort()
      .map((name) =>
        diffOne(
          deps,
          name,
          discovery,
          records.get(name),
          observedAll.get(name),
          checkouts === undefined,
        ),
      ),
  );
  return diffs;
}

async function diffOne(
  deps: DiffDeps,
  stack: string,
  discovery: Discovery,
  record: StackRecord | undefined,
  observed: ObservedProject | undefined,
  noCheckout: boolean,
): Promise<StackDiff> {
  const desired = discovery.stacks.find((s) => s.name === stack);
  const broken = discovery.broken.find((b) => b.name === stack);
  const running = await deps.folders.readRunningVersion(stack);
  const recorded = record?.running;
  const suspended = record?.suspended ?? false;
  const differences: string[] = [];
  const base = {
    stack,
    ...(desired === undefined ? {} : { desiredVersion: desired.version }),
    ...(running === undefined ? {} : { running }),
    ...(recorded === undefined ? {} : { recorded }),
    suspended,
    disabled: desired !== undefined && !desired.settings.deploy,
  };
  const hasContainers = observed !== undefined && Object.keys(observed.services).length > 0;

  if (broken !== undefined) {
    differences.push(`invalid: ${describeError(broken.error)}`);
    return { ...base, status: 'invalid', differs: true, containers: [], differences };
  }
  if (desired === undefined) {
    if (!hasContainers && running === undefined && recorded === undefined) {
      differences.push('unknown stack: not in the checkout, not deployed');
      return { ...base, status: 'unknown', differs: false, containers: [], differences };
    }
    differences.push(
      noCheckout
        ? 'no checkout yet: run berth reconcile --once'
        : 'folder not in the checkout; still deployed',
    );
    return { ...base, status: 'extra', differs: true, containers: [], differences };
  }
  if (base.disabled) differences.push('deploy: false in its settings; berth leaves it alone');
  if (suspended) differences.push('suspended: berth leaves manual changes alone');
  const bad = deps.store.isBad(stack, desired.version);
  if (running === undefined && recorded === undefined && !hasContainers) {
    if (base.disabled) {
      return { ...base, status: 'in-sync', differs: false, containers: [], differences };
    }
    differences.unshift(`not deployed: desired ${short(desired.version)}`);
    return {
      ...base,
      ...(bad === undefined
        ? {}
        : { bad: { version: bad.version, reason: bad.reason, at: bad.at } }),
      status: 'missing',
      differs: true,
      containers: [],
      differences,
    };
  }

  let differs = false;
  const current = running ?? recorded;
  if (current?.version !== desired.version) {
    differs = true;
    differences.unshift(
      `version: running ${short(current?.version)}, desired ${short(desired.version)}`,
    );
  }
  if (bad !== undefined) {
    differences.push(`desired version ${short(bad.version)} is marked bad: ${bad.reason}`);
  }
  if (recorded !== undefined && running !== undefined && recorded.version !== running.version) {
    differs = true;
    differences.push(
      `recorded version ${short(recorded.version)} differs from running_stacks ${short(running.version)}`,
    );
  }

  let containers: ContainerPlanItem[] = [];
  let error: string | undefined;
  try {
    // Compare with the version that runs, loaded from where it was deployed, so a
    // difference means drift; a new version recreates everything anyway.
    const dir = running === undefined ? desired.dir : deps.folders.runningDir(stack);
    const version = running?.version ?? desired.version;
    const project = (await deps.loadStack(dir, stack)).project;
    const plan = await deps.engine.plan(project, {
      labels: versionLabels(version),
    });
    containers = plan.filter(touches);
  } catch (err) {
    error = describeError(err);
    differences.push(`containers not compared: ${error}`);
    differs = true;
  }
  if (containers.length > 0) {
    differs = true;
    for (const item of containers) differences.push(containerLine(item));
  }
  return {
    ...base,
    ...(bad === undefined ? {} : { bad: { version: bad.version, reason: bad.reason, at: bad.at } }),
    status: differs ? 'differs' : 'in-sync',
    differs,
    containers,
    differences,
    ...(error === undefined ? {} : { error }),
  };
}
