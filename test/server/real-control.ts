import { systemClock } from '../../src/clock.js';
import { createControlPlane, type ControlPlane } from '../../src/control/control-plane.js';
import { createDispatcher } from '../../src/control/dispatcher.js';
import { createEffects, type Effects, type RetryDue } from '../../src/control/effects.js';
import { SourceError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import type { NotificationEvent } from '../../src/notify/format.js';
import type { PlannedPass, ReconcileOptions } from '../../src/reconciler/types.js';
import type { ServerControl, SourceView } from '../../src/server/control.js';
import { createMetrics, type Metrics } from '../../src/server/metrics.js';
import { openStateStore } from '../../src/state/store.js';
import type { StateStore } from '../../src/state/types.js';

/** A source the fake reconciler syncs: its URL and the commit it is at. */
export interface FakeSource {
  name: string;
  url: string;
  tracked?: SourceView['tracked'];
  commit?: string;
  /** Its syncs fail with this message (a SourceError) while set. */
  failing?: string;
}

export interface RealControl {
  /** The control plane, as the daemon hands it to the HTTP app (with its sources). */
  control: ServerControl & Pick<ControlPlane, 'idle' | 'stop' | 'reconcile'>;
  /** What each pass the control plane planned was asked for, in order. */
  passes: ReconcileOptions[];
  sources: FakeSource[];
  effects: Effects;
  metrics: Metrics;
  store: StateStore;
  notifications: NotificationEvent[];
  retries: RetryDue[];
  close(): Promise<void>;
}

/**
 * The real control plane, dispatcher and effects over an in-memory state store, with a
 * reconciler that plans nothing but records every pass it is asked for and reports each
 * selected source synced (or failed): what webhooks and the API end up asking of berth.
 */
export function createRealControl(sources: FakeSource[], logger: Logger): RealControl {
  const store = openStateStore(':memory:');
  const passes: ReconcileOptions[] = [];
  const notifications: NotificationEvent[] = [];
  const retries: RetryDue[] = [];
  const metrics = createMetrics();
  const reconciler = {
    recover: () => Promise.resolve(),
    describe: () => Promise.resolve([]),
    prepare: () => Promise.reject(new Error('nothing is planned')),
    run: () => Promise.reject(new Error('nothing is planned')),
    plan(options: ReconcileOptions): Promise<PlannedPass> {
      const { signal: _signal, ...rest } = options;
      passes.push(rest);
      const selected = sources.filter(
        (s) => options.sources === undefined || options.sources.includes(s.name),
      );
      const results = selected.map((s) => {
        const revision = { commit: s.commit ?? `commit-of-${s.name}`, ref: 'main', dir: '/x' };
        return s.failing === undefined
          ? { name: s.name, revision }
          : { name: s.name, revision, error: new SourceError('FetchFailed', s.failing) };
      });
      const first = results[0]?.revision ?? { commit: 'none', ref: 'main', dir: '/x' };
      const error = results.find((r) => r.error !== undefined)?.error;
      return Promise.resolve({
        revision: first,
        ...(error === undefined ? {} : { sourceError: error }),
        sources: results,
        owners: new Map(),
        discovery: { stacks: [], broken: [] },
        plan: [],
        observed: new Map(),
        records: new Map(),
        runningVersions: new Map(),
      });
    },
  };
  const effects = createEffects({
    store,
    clock: systemClock,
    logger,
    metrics,
    notifier: {
      notify(event) {
        notifications.push(event);
        return Promise.resolve();
      },
    },
    // Long enough that no retry fires during a test.
    backoff: { initialMs: 3_600_000, factor: 2, maxMs: 3_600_000, maxAttempts: 3 },
    onRetryDue: (due) => retries.push(due),
  });
  const dispatcher = createDispatcher({
    reconciler,
    store,
    clock: systemClock,
    logger,
    concurrency: 2,
    onOutcome: (event) => effects.outcome(event),
  });
  const plane = createControlPlane({
    reconciler,
    dispatcher,
    effects,
    store,
    clock: systemClock,
    logger,
  });
  const views = (): SourceView[] => {
    const status = new Map(effects.sourceStatus().map((s) => [s.name, s]));
    return sources.map((s) => {
      const last = status.get(s.name);
      return {
        name: s.name,
        kind: 'git',
        url: s.url,
        schedule: '*/5 * * * *',
        tracked: s.tracked ?? { branch: 'main' },
        ...(last === undefined ? {} : { lastSync: last }),
        stacks: store.listStacks().filter((r) => r.source === s.name).length,
      };
    });
  };
  return {
    control: { ...plane, sources: views },
    passes,
    sources,
    effects,
    metrics,
    store,
    notifications,
    retries,
    async close() {
      await plane.stop({ graceMs: 100 });
      store.close();
    },
  };
}
