import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StackRecord } from '../state/types.js';
import type { WebhookProvider } from './schema.js';

/** How a deployment ended, as counted in `berth_deployments_total{result}`. */
export type DeploymentResultLabel = 'succeeded' | 'failed' | 'rolled-back';

/** How a webhook request was answered, as counted in `berth_webhook_requests_total{result}`. */
export type WebhookResultLabel =
  | 'accepted'
  | 'ignored'
  | 'ping'
  | 'unauthorized'
  | 'invalid'
  | 'too-large'
  | 'disabled'
  | 'duplicate';

export interface DeploymentObservation {
  stack: string;
  result: DeploymentResultLabel;
  durationMs: number;
  /** A rollback someone asked for (API, CLI), as opposed to one after a failed deploy. */
  manualRollback?: boolean;
}

export interface SyncObservation {
  durationMs: number;
  ok: boolean;
}

/** berth's Prometheus metrics and the update functions the daemon calls. */
export interface Metrics {
  /** berth's own registry, so tests and embedders never share series through the global one. */
  readonly registry: Registry;
  readonly contentType: string;
  /** Ready, healthy and info series of one stack, from its record. */
  setStackStatus(record: StackRecord): void;
  /** Drops every per-stack gauge of a stack that left the repository. */
  removeStack(name: string): void;
  observeDeployment(observation: DeploymentObservation): void;
  observeSync(observation: SyncObservation): void;
  countWebhook(provider: WebhookProvider, result: WebhookResultLabel): void;
  /** The Prometheus text exposition of everything above. */
  render(): Promise<string>;
}

const DEPLOY_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1200];
const SYNC_BUCKETS = [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120];

/** Creates the metrics on a fresh Registry. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const ready = new Gauge({
    name: 'berth_stack_ready',
    help: '1 when the stack is Ready (converged on its desired version), 0 otherwise',
    labelNames: ['stack'],
    registers,
  });
  const healthy = new Gauge({
    name: 'berth_stack_healthy',
    help: '1 when the stack is healthy, 0 when unhealthy or unknown',
    labelNames: ['stack'],
    registers,
  });
  const info = new Gauge({
    name: 'berth_stack_info',
    help: 'Always 1; labels carry the running and the last good version of the stack',
    labelNames: ['stack', 'running_version', 'good_version'],
    registers,
  });
  const deployDuration = new Histogram({
    name: 'berth_deployment_duration_seconds',
    help: 'Duration of deployments, health gate included',
    labelNames: ['stack', 'result'],
    buckets: DEPLOY_BUCKETS,
    registers,
  });
  const deployments = new Counter({
    name: 'berth_deployments_total',
    help: 'Deployments by stack and result',
    labelNames: ['stack', 'result'],
    registers,
  });
  const rollbacks = new Counter({
    name: 'berth_rollbacks_total',
    help: 'Rollbacks by stack; kind is automatic (after a failed deploy) or manual',
    labelNames: ['stack', 'kind'],
    registers,
  });
  const failures = new Counter({
    name: 'berth_deployment_failures_total',
    help: 'Deployments that failed, whether or not they were rolled back',
    labelNames: ['stack'],
    registers,
  });
  const syncDuration = new Histogram({
    name: 'berth_sync_duration_seconds',
    help: 'Duration of source sync passes',
    buckets: SYNC_BUCKETS,
    registers,
  });
  const syncErrors = new Counter({
    name: 'berth_sync_errors_total',
    help: 'Source syncs that failed',
    registers,
  });
  const webhooks = new Counter({
    name: 'berth_webhook_requests_total',
    help: 'Webhook requests by provider and how they were answered',
    labelNames: ['provider', 'result'],
    registers,
  });

  // The info series' labels change with each version; the old series must go, not linger at 1.
  const infoLabels = new Map<string, { running_version: string; good_version: string }>();

  function setStackStatus(record: StackRecord): void {
    const stack = record.name;
    const readyCondition = record.conditions.find((c) => c.type === 'Ready');
    ready.set({ stack }, readyCondition?.status === 'True' ? 1 : 0);
    healthy.set({ stack }, record.health === 'healthy' ? 1 : 0);
    const labels = {
      running_version: record.running?.version ?? '',
      good_version: record.good?.version ?? '',
    };
    const previous = infoLabels.get(stack);
    if (previous !== undefined) info.remove({ stack, ...previous });
    info.set({ stack, ...labels }, 1);
    infoLabels.set(stack, labels);
  }

  function removeStack(name: string): void {
    ready.remove({ stack: name });
    healthy.remove({ stack: name });
    const previous = infoLabels.get(name);
    if (previous !== undefined) info.remove({ stack: name, ...previous });
    infoLabels.delete(name);
  }

  function observeDeployment(observation: DeploymentObservation): void {
    const { stack, result } = observation;
    deployments.inc({ stack, result });
    deployDuration.observe({ stack, result }, Math.max(0, observation.durationMs) / 1000);
    if (result !== 'succeeded') failures.inc({ stack });
    if (result === 'rolled-back') rollbacks.inc({ stack, kind: 'automatic' });
    if (observation.manualRollback === true && result === 'succeeded') {
      rollbacks.inc({ stack, kind: 'manual' });
    }
  }

  function observeSync(observation: SyncObservation): void {
    syncDuration.observe(Math.max(0, observation.durationMs) / 1000);
    if (!observation.ok) syncErrors.inc();
  }

  function countWebhook(provider: WebhookProvider, result: WebhookResultLabel): void {
    webhooks.inc({ provider, result });
  }

  return {
    registry,
    contentType: registry.contentType,
    setStackStatus,
    removeStack,
    observeDeployment,
    observeSync,
    countWebhook,
    render: () => registry.metrics(),
  };
}
