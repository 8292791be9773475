import type { ObservedProject } from '../engine/types.js';
import { SourceError, type BerthError } from '../errors.js';
import { computePlan, type StackPlan } from '../plan/stack-plan.js';
import { DEFAULT_SOURCE } from '../source/registry.js';
import type { SourceRevision } from '../source/types.js';
import { discoverStacks } from '../stack/discover.js';
import type { Discovery } from '../stack/types.js';
import type { StackRecord, VersionRef } from '../state/types.js';
import type {
  NamedSource,
  PassContext,
  PlannedPass,
  ReconcileOptions,
  ReconcilerDeps,
  SourceResult,
  StackOutcome,
} from './types.js';
import { methodNames } from '../strategies/index.js';
import { mergeDiscoveries, ownedBy, type SourceDiscovery } from './discovery.js';
import { createImageUpdates, type PinnedDiscovery } from './image-updates.js';
import { leftScopeOf, selectSources } from './sources.js';

/**
 * The first half of a pass: source sync → discovery → observation → the pure plan. Nothing here
 * changes Docker or the state; the plan's entries become one request per stack.
 */
/** A stack planned again, with the look at Docker it was planned from. */
export interface Replanned {
  entry: StackPlan;
  observed: ObservedProject;
}

export interface PassPlanner {
  plan(options: ReconcileOptions): Promise<PlannedPass>;
  /**
   * Plans one stack again from a fresh look at Docker and the state, against the discovery its
   * pass made: a request may have waited in the queue while an earlier job changed the stack.
   */
  replan(entry: StackPlan, pass: PassContext): Promise<Replanned>;
}

export function createPassPlanner(deps: ReconcilerDeps): PassPlanner {
  const { engine, store, folders, logger } = deps;
  // A version is a hash of the stack's files, so its service list never changes: remember it
  // instead of loading every unchanged stack's compose file on every pass.
  const servicesByVersion = new Map<string, string[]>();
  const imageUpdates = createImageUpdates(deps);
  // Each source's last discovery: a pass that syncs only some sources still needs the others'
  // stack names (a name two sources claim is a clash), without reading their checkouts again.
  const lastDiscovery = new Map<string, SourceDiscovery>();

  /** One source synced; a source that cannot be reached goes on with its last fetched revision. */
  async function syncSource(named: NamedSource, options: ReconcileOptions): Promise<SourceResult> {
    const { name, source } = named;
    const pushed = options.trigger?.commit;
    if (pushed !== undefined) {
      const current = await source.current();
      // The pushed commit is already checked out (a repeated webhook): nothing to fetch.
      if (current?.commit === pushed) return { name, revision: current };
    }
    try {
      return { name, revision: await source.sync(options.signal) };
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      const revision = await source.current();
      if (revision === undefined) {
        logger.warn({ err, source: name }, 'source sync failed; it has no fetched revision');
        return { name, error: err };
      }
      logger.warn(
        { err, source: name, commit: revision.commit },
        'source sync failed; continuing with the last fetched revision',
      );
      return { name, revision, error: err };
    }
  }

  /**
   * The pass's revision for code that knows one (`default`'s, else the first source's) and its
   * first sync error. When no synced source has any revision, the pass cannot go on.
   */
  function passRevision(results: readonly SourceResult[]): {
    revision: SourceRevision;
    sourceError?: BerthError;
  } {
    const sourceError = results.find((r) => r.error !== undefined)?.error;
    const main =
      results.find((r) => r.name === DEFAULT_SOURCE && r.revision !== undefined) ??
      results.find((r) => r.revision !== undefined);
    if (main?.revision === undefined) throw sourceError ?? new Error('no source to sync');
    return { revision: main.revision, ...(sourceError === undefined ? {} : { sourceError }) };
  }

  /** A source's stacks: read from what this pass synced, else as last read (or its checkout). */
  async function discoverSource(
    named: NamedSource,
    result: SourceResult | undefined,
  ): Promise<SourceDiscovery | undefined> {
    const cached = lastDiscovery.get(named.name);
    if (result === undefined && cached !== undefined) return cached;
    const revision = result === undefined ? await named.source.current() : result.revision;
    if (revision === undefined) return undefined;
    const discovery = await discoverStacks(
      revision.dir,
      named.paths,
      named.defaults,
      methodNames(),
    );
    const part: SourceDiscovery = {
      source: named.name,
      root: revision.dir,
      ...(named.prefix === undefined ? {} : { prefix: named.prefix }),
      discovery,
    };
    lastDiscovery.set(named.name, part);
    return part;
  }

  async function expectedServices(
    discovery: Discovery,
    running: Map<string, VersionRef | undefined>,
  ): Promise<Map<string, string[]>> {
    const expected = new Map<string, string[]>();
    await Promise.all(
      discovery.stacks.map(async (stack) => {
        if (running.get(stack.name)?.version !== stack.version) return;
        const key = `${stack.name}@${stack.version}`;
        let services = servicesByVersion.get(key);
        if (services === undefined) {
          try {
            const loaded = await deps.loadStack(folders.runningDir(stack.name), stack.name);
            services = Object.keys(loaded.project.services);
            servicesByVersion.set(key, services);
          } catch {
            // The running copy no longer loads; the plan still sees missing containers.
            return;
          }
        }
        expected.set(stack.name, services);
      }),
    );
    return expected;
  }

  async function runningVersionsOf(names: Iterable<string>): Promise<Map<string, VersionRef>> {
    const versions = new Map<string, VersionRef>();
    await Promise.all(
      [...names].map(async (name) => {
        const version = await folders.readRunningVersion(name);
        if (version !== undefined) versions.set(name, version);
      }),
    );
    return versions;
  }

  async function computeFor(
    discovery: Discovery,
    images: ReadonlyMap<string, Record<string, string>> | undefined,
    observed: Map<string, ObservedProject>,
    records: Map<string, StackRecord>,
    runningVersions: Map<string, VersionRef | undefined>,
    only: string[] | undefined,
    scope: Pick<PassContext, 'sources' | 'owners'>,
  ): Promise<StackPlan[]> {
    const entries = computePlan({
      discovery,
      observed,
      records,
      bad: (stack, version) => store.isBad(stack, version),
      runningVersions,
      expectedServices: await expectedServices(discovery, runningVersions),
      prune: deps.settings.prune,
      only,
      left: leftScopeOf(scope, records),
    });
    for (const entry of entries) {
      const pins = entry.discovered === undefined ? undefined : images?.get(entry.stack);
      if (pins !== undefined) entry.images = pins;
    }
    return entries;
  }

  /** Image updates: the stacks this pass may deploy get their images' digests in their version. */
  function withImageDigests(
    discovery: Discovery,
    records: Map<string, StackRecord>,
    runningVersions: Map<string, VersionRef | undefined>,
    only: string[] | undefined,
  ): Promise<PinnedDiscovery> {
    const wanted = only === undefined ? undefined : new Set(only);
    return imageUpdates.pin(
      discovery,
      runningVersions,
      (stack) =>
        stack.settings.deploy &&
        records.get(stack.name)?.suspended !== true &&
        (wanted === undefined || wanted.has(stack.name)),
    );
  }

  /**
   * Syncs the selected sources at once, each read as soon as it is synced (a slow remote does
   * not hold up reading the others), and merges every source's stacks into one discovery.
   */
  async function syncAndDiscover(
    options: ReconcileOptions,
  ): Promise<Pick<PassContext, 'revision' | 'sourceError' | 'sources' | 'owners' | 'discovery'>> {
    const selected = selectSources(deps.sources, options.sources);
    const chosen = new Set(selected.map((s) => s.name));
    options.onProgress?.({ step: 'sync' });
    const read = await Promise.all(
      deps.sources.map(async (named) => {
        const result = chosen.has(named.name) ? await syncSource(named, options) : undefined;
        return { result, part: await discoverSource(named, result) };
      }),
    );
    const sources = read.flatMap((r) => (r.result === undefined ? [] : [r.result]));
    const { revision, sourceError } = passRevision(sources);
    options.onProgress?.({ step: 'discover', detail: revision.commit });
    const merged = mergeDiscoveries(read.flatMap((r) => (r.part === undefined ? [] : [r.part])));
    // Only the selected sources' stacks are planned: the others' wait for their own pass.
    const discovery = ownedBy(merged, chosen);
    return {
      revision,
      ...(sourceError === undefined ? {} : { sourceError }),
      sources,
      owners: merged.owners,
      discovery,
    };
  }

  async function plan(options: ReconcileOptions): Promise<PlannedPass> {
    const synced = await syncAndDiscover(options);
    const { revision, sourceError, sources, owners, discovery: found } = synced;
    const observed = await engine.observeAll();
    const records = new Map(store.listStacks().map((r) => [r.name, r] as const));
    const names = new Set<string>([
      ...records.keys(),
      ...found.stacks.map((s) => s.name),
      ...found.broken.map((s) => s.name),
    ]);
    const runningVersions: Map<string, VersionRef | undefined> = await runningVersionsOf(names);
    const { discovery, images } = await withImageDigests(
      found,
      records,
      runningVersions,
      options.stacks,
    );
    const entries = await computeFor(
      discovery,
      images,
      observed,
      records,
      runningVersions,
      options.stacks,
      synced,
    );
    return {
      revision,
      ...(sourceError === undefined ? {} : { sourceError }),
      sources,
      owners,
      discovery,
      ...(images.size === 0 ? {} : { images }),
      plan: entries,
      observed,
      records,
      runningVersions,
    };
  }

  async function replan(entry: StackPlan, pass: PassContext): Promise<Replanned> {
    const name = entry.stack;
    const project = await engine.observe(name);
    const hasContainers = Object.values(project.services).some((s) => s.containers.length > 0);
    const observed = new Map(hasContainers ? [[name, project] as const] : []);
    const record = store.getStack(name);
    const records = new Map(record === undefined ? [] : [[name, record] as const]);
    const runningVersions: Map<string, VersionRef | undefined> = await runningVersionsOf([name]);
    const discovery: Discovery = {
      stacks: pass.discovery.stacks.filter((s) => s.name === name),
      broken: pass.discovery.broken.filter((s) => s.name === name),
    };
    const [fresh] = await computeFor(
      discovery,
      pass.images,
      observed,
      records,
      runningVersions,
      [name],
      pass,
    );
    return { entry: fresh ?? entry, observed: project };
  }

  return { plan, replan };
}

/** Stacks asked for by name that neither the repository nor the state holds. */
export function unknownStacks(plan: StackPlan[], only: string[] | undefined): StackOutcome[] {
  const planned = new Set(plan.map((entry) => entry.stack));
  return (only ?? [])
    .filter((name) => !planned.has(name))
    .map((name) => ({
      stack: name,
      outcome: 'terminal' as const,
      result: 'failed' as const,
      message: `no stack named ${name} in the repository or the state`,
    }));
}

/** A pass is ok when the source answered and no stack failed, was rolled back or is invalid. */
export function passOk(stacks: StackOutcome[], sourceError: BerthError | undefined): boolean {
  return (
    sourceError === undefined &&
    stacks.every(
      (s) => s.result !== 'failed' && s.result !== 'rolled-back' && s.result !== 'invalid',
    )
  );
}

/** Whether the entry changes the stack (and so opens a deployment) rather than only records. */
export function entryActs(entry: StackPlan): boolean {
  return entry.action === 'create' || entry.action === 'recreate' || entry.action === 'remove';
}

export function entryDeploys(entry: StackPlan): boolean {
  return entry.action === 'create' || entry.action === 'recreate';
}
