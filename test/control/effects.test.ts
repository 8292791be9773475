import { afterEach, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/clock.js';
import { createEffects, type Effects, type RetryDue } from '../../src/control/effects.js';
import { BerthError, SourceError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { NotificationEvent } from '../../src/notify/format.js';
import type { SourceResult } from '../../src/reconciler/types.js';
import { createMetrics, type Metrics } from '../../src/server/metrics.js';
import { openStateStore } from '../../src/state/store.js';
import type { StateStore } from '../../src/state/types.js';

interface World {
  effects: Effects;
  metrics: Metrics;
  store: StateStore;
  sent: NotificationEvent[];
  due: RetryDue[];
}

let worlds: World[] = [];
afterEach(() => {
  for (const w of worlds) {
    w.effects.stop();
    w.store.close();
  }
  worlds = [];
});

function world(options: { initialMs?: number; clock?: Clock } = {}): World {
  const store = openStateStore(':memory:');
  const metrics = createMetrics();
  const sent: NotificationEvent[] = [];
  const due: RetryDue[] = [];
  const effects = createEffects({
    store,
    clock: options.clock ?? systemClock,
    logger: silentLogger(),
    metrics,
    notifier: {
      notify(event) {
        sent.push(event);
        return Promise.resolve();
      },
    },
    backoff: {
      initialMs: options.initialMs ?? 3_600_000,
      factor: 2,
      maxMs: 3_600_000,
      maxAttempts: 3,
    },
    onRetryDue: (d) => due.push(d),
  });
  const w = { effects, metrics, store, sent, due };
  worlds.push(w);
  return w;
}

const revision = (commit: string) => ({ commit, ref: 'main', dir: '/x' });
const ok = (name: string, commit = `c-${name}`): SourceResult => ({
  name,
  revision: revision(commit),
});
const failed = (name: string, message = `${name} unreachable`): SourceResult => ({
  name,
  revision: revision(`old-${name}`),
  error: new SourceError('FetchFailed', message),
});

function syncs(effects: Effects, ...passes: SourceResult[][]): void {
  for (const sources of passes) {
    const error = sources.find((s) => s.error !== undefined)?.error;
    effects.sync({ durationMs: 5, ...(error === undefined ? {} : { error }), sources });
  }
}

function summary(sent: NotificationEvent[]): string[] {
  return sent.map((e) => `${e.event} ${e.source ?? e.stack ?? ''}`);
}

describe('source syncs in effects', () => {
  it('notifies once per failure streak, and once when the source recovers', () => {
    const { effects, sent } = world();
    syncs(
      effects,
      [ok('apps')],
      [failed('apps')],
      [failed('apps')],
      [failed('apps')],
      [ok('apps')],
      [ok('apps')],
      [failed('apps', 'auth failed')],
    );
    expect(summary(sent)).toEqual([
      'source-failed apps',
      'source-recovered apps',
      'source-failed apps',
    ]);
    expect(sent[0]).toMatchObject({ message: 'apps unreachable', commit: 'old-apps' });
    expect(sent[1]!.message).toContain('after 3 failed syncs');
    expect(sent[2]!.message).toBe('auth failed');
  });

  it('keeps one source’s failure from hiding another’s', () => {
    const { effects, sent } = world();
    syncs(
      effects,
      [failed('apps'), ok('infra')],
      [failed('apps'), failed('infra')],
      [failed('apps')],
      [ok('apps'), failed('infra')],
    );
    expect(summary(sent)).toEqual([
      'source-failed apps',
      'source-failed infra',
      'source-recovered apps',
    ]);
  });

  it('does not notify a source that never failed, nor a pass of no source', () => {
    const { effects, sent } = world();
    syncs(effects, [ok('apps')], [ok('apps')], []);
    effects.sync({ durationMs: 1 });
    expect(sent).toEqual([]);
  });

  it('keeps each source’s last sync, with the last success after a failure', () => {
    const { effects } = world();
    syncs(effects, [ok('apps', 'c1'), ok('infra')], [failed('apps')]);
    const [apps, infra] = effects.sourceStatus();
    expect(apps).toMatchObject({
      name: 'apps',
      ok: false,
      commit: 'old-apps',
      failures: 1,
      error: { reason: 'FetchFailed', message: 'apps unreachable' },
      lastOk: { commit: 'c1' },
    });
    expect(infra).toMatchObject({ name: 'infra', ok: true, commit: 'c-infra', failures: 0 });
    expect(infra).not.toHaveProperty('error');
  });

  it('publishes up, last success and failures per source', async () => {
    let now = 1_700_000_000_000;
    const clock: Clock = { ...systemClock, now: () => now };
    const { effects, metrics } = world({ clock });
    metrics.setSources(['apps', 'infra', 'edge']);
    syncs(effects, [ok('apps'), ok('infra')]);
    now += 60_000;
    syncs(effects, [ok('apps'), failed('infra')], [failed('infra')]);
    const text = await metrics.render();
    expect(text).toContain('berth_source_up{source="apps"} 1');
    expect(text).toContain('berth_source_up{source="infra"} 0');
    expect(text).toContain('berth_source_last_sync_timestamp_seconds{source="apps"} 1700000060');
    expect(text).toContain('berth_source_last_sync_timestamp_seconds{source="infra"} 1700000000');
    expect(text).toContain('berth_source_sync_failures_total{source="infra"} 2');
    expect(text).toContain('berth_source_sync_failures_total{source="apps"} 0');
    expect(text).toContain('berth_source_sync_failures_total{source="edge"} 0');
    expect(text).not.toContain('berth_source_up{source="edge"}');
    expect(text).toContain('berth_sync_errors_total 2');
  });

  it('retries a failed source on its own, and a pass that failed outright as a whole', async () => {
    const { effects, due } = world({ initialMs: 5 });
    syncs(effects, [ok('apps'), failed('infra')]);
    effects.sync({ durationMs: 1, error: new BerthError('InternalError', 'boom') });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(due).toContainEqual({ source: 'infra' });
    expect(due).toContainEqual({});
    expect(due).not.toContainEqual({ source: 'apps' });
  });
});
