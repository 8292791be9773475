import { describe, expect, it } from 'vitest';
import { register } from 'prom-client';
import { createMetrics } from '../../src/server/metrics.js';
import { stackRecord } from './fake-control.js';

describe('createMetrics', () => {
  it('keeps its series on its own registry, not the global one', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.countWebhook('github', 'accepted');
    expect(await a.render()).toContain(
      'berth_webhook_requests_total{provider="github",result="accepted"} 1',
    );
    expect(await b.render()).not.toContain('result="accepted"');
    expect(await register.metrics()).not.toContain('berth_');
  });

  it('sets ready, healthy and a single info series per stack', async () => {
    const m = createMetrics();
    m.setStackStatus(stackRecord('web'));
    m.setStackStatus(
      stackRecord('db', {
        health: 'unknown',
        conditions: [],
        running: { version: 'r1', commit: 'c' },
        good: undefined,
      }),
    );
    let text = await m.render();
    expect(text).toContain('berth_stack_ready{stack="web",source="default"} 1');
    expect(text).toContain('berth_stack_healthy{stack="web",source="default"} 1');
    expect(text).toContain('berth_stack_ready{stack="db",source="default"} 0');
    expect(text).toContain('berth_stack_healthy{stack="db",source="default"} 0');
    expect(text).toContain(
      'berth_stack_info{stack="web",source="default",running_version="v-run-1",good_version="v-good-1"} 1',
    );
    expect(text).toContain(
      'berth_stack_info{stack="db",source="default",running_version="r1",good_version=""} 1',
    );

    m.setStackStatus(
      stackRecord('web', { running: { version: 'v-run-2', commit: 'c2' }, health: 'unhealthy' }),
    );
    text = await m.render();
    expect(text).not.toContain('running_version="v-run-1"');
    expect(text).toContain(
      'berth_stack_info{stack="web",source="default",running_version="v-run-2",good_version="v-good-1"} 1',
    );
    expect(text).toContain('berth_stack_healthy{stack="web",source="default"} 0');

    m.removeStack('web');
    text = await m.render();
    expect(text).not.toContain('stack="web"');
    expect(text).toContain('stack="db"');
  });

  it('labels a stack’s series with its source, and moves them when the source changes', async () => {
    const m = createMetrics();
    m.setStackStatus(stackRecord('web', { source: 'apps' }));
    let text = await m.render();
    expect(text).toContain('berth_stack_ready{stack="web",source="apps"} 1');
    expect(text).toContain(
      'berth_stack_info{stack="web",source="apps",running_version="v-run-1",good_version="v-good-1"} 1',
    );
    m.setStackStatus(stackRecord('web', { source: 'infra' }));
    text = await m.render();
    expect(text).not.toContain('source="apps"');
    expect(text).toContain('berth_stack_healthy{stack="web",source="infra"} 1');
    m.removeStack('web');
    expect(await m.render()).not.toContain('stack="web"');
  });

  it('keeps series of configured sources only', async () => {
    const m = createMetrics();
    m.setSources(['apps', 'infra']);
    m.observeSourceSync({ source: 'apps', ok: true, at: 1_700_000_000_500 });
    m.observeSourceSync({ source: 'infra', ok: false, at: 1_700_000_000_000 });
    let text = await m.render();
    expect(text).toContain('berth_source_up{source="apps"} 1');
    expect(text).toContain('berth_source_last_sync_timestamp_seconds{source="apps"} 1700000000.5');
    expect(text).toContain('berth_source_up{source="infra"} 0');
    expect(text).toContain('berth_source_sync_failures_total{source="infra"} 1');
    expect(text).not.toContain('berth_source_last_sync_timestamp_seconds{source="infra"}');
    m.setSources(['apps']);
    text = await m.render();
    expect(text).not.toContain('source="infra"');
    expect(text).toContain('berth_source_up{source="apps"} 1');
  });

  it('counts deployments, failures and rollbacks and observes durations', async () => {
    const m = createMetrics();
    m.observeDeployment({ stack: 'web', result: 'succeeded', durationMs: 2500 });
    m.observeDeployment({ stack: 'web', result: 'failed', durationMs: 1000 });
    m.observeDeployment({ stack: 'web', result: 'rolled-back', durationMs: 40_000 });
    m.observeDeployment({
      stack: 'web',
      result: 'succeeded',
      durationMs: 3000,
      manualRollback: true,
    });
    const text = await m.render();
    expect(text).toContain('berth_deployments_total{stack="web",result="succeeded"} 2');
    expect(text).toContain('berth_deployments_total{stack="web",result="failed"} 1');
    expect(text).toContain('berth_deployments_total{stack="web",result="rolled-back"} 1');
    expect(text).toContain('berth_deployment_failures_total{stack="web"} 2');
    expect(text).toContain('berth_rollbacks_total{stack="web",kind="automatic"} 1');
    expect(text).toContain('berth_rollbacks_total{stack="web",kind="manual"} 1');
    expect(text).toContain(
      'berth_deployment_duration_seconds_count{stack="web",result="succeeded"} 2',
    );
    expect(text).toContain(
      'berth_deployment_duration_seconds_sum{stack="web",result="succeeded"} 5.5',
    );
    expect(text).toContain(
      'berth_deployment_duration_seconds_bucket{le="60",stack="web",result="rolled-back"} 1',
    );
    expect(text).toContain(
      'berth_deployment_duration_seconds_bucket{le="30",stack="web",result="rolled-back"} 0',
    );
  });

  it('observes syncs and counts their errors', async () => {
    const m = createMetrics();
    m.observeSync({ durationMs: 300, ok: true });
    m.observeSync({ durationMs: 700, ok: false });
    const text = await m.render();
    expect(text).toContain('berth_sync_duration_seconds_count 2');
    expect(text).toContain('berth_sync_duration_seconds_sum 1');
    expect(text).toContain('berth_sync_errors_total 1');
  });
});
