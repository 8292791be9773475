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

export interface SourceSyncObservation {
  source: string;
  ok: boolean;
  /** When the sync ended (ms since the epoch). */
  at: number;
}

/** The `source` label of a stack recorded before berth had several sources. */
const LEGACY_SOURCE = 'default';

/** berth's Prometheus metrics and the update functions the daemon calls. */
export interface Metrics {
  /** berth's own registry, so tests and embedders never share series through the global one. */
  readonly registry: Registry;
  readonly contentType: string;
  /** Ready, healthy and info series of one stack (labelled with its source), from its record. */
  setStackStatus(record: StackRecord): void;
  /** Drops every per-stack gauge of a stack that left the repository. */
  removeStack(name: string): void;
  observeDeployment(observation: DeploymentObservation): void;
  observeSync(observation: SyncObservation): void;
  /** One source's sync ended: its up gauge, last success time and failure count. */
  observeSourceSync(observation: SourceSyncObservation): void;
  /** The configured sources: their failure counters start at 0, others' series are dropped. */
  setSources(names: readonly string[]): void;
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
    labelNames: ['stack', 'source'],
    registers,
  });
  const healthy = new Gauge({
    name: 'berth_stack_healthy',
    help: '1 when the stack is healthy, 0 when unhealthy or unknown',
    labelNames: ['stack', 'source'],
    registers,
  });
  const info = new Gauge({
    name: 'berth_stack_info',
    help: 'Always 1; labels carry the running and the last good version of the stack',
    labelNames: ['stack', 'source', 'running_version', 'good_version'],
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
  const sourceUp = new Gauge({
    name: 'berth_source_up',
    help: '1 when the last sync of the source succeeded, 0 when it failed',
    labelNames: ['source'],
    registers,
  });
  const sourceLastSync = new Gauge({
    name: 'berth_source_last_sync_timestamp_seconds',
    help: 'When the source last synced successfully (Unix time)',
    labelNames: ['source'],
    registers,
  });
  const sourceFailures = new Counter({
    name: 'berth_source_sync_failures_total',
    help: 'Syncs of the source that failed',
    labelNames: ['source'],
    registers,
  });
  const webhooks = new Counter({
    name: 'berth_webhook_requests_total',
    help: 'Webhook requests by provider and how they were answered',
    labelNames: ['provider', 'result'],
    registers,
  });

  // The info series' labels change with each version (and the others' with the stack's
  // source); the old series must go, not linger.
  interface StackLabels {
    stack: string;
    source: string;
    running_version: string;
    good_version: string;
  }
  const stackLabels = new Map<string, StackLabels>();
  const knownSources = new Set<string>();

  function setStackStatus(record: StackRecord): void {
    const stack = record.name;
    const labels: StackLabels = {
      stack,
      source: record.source ?? LEGACY_SOURCE,
      running_version: record.running?.version ?? '',
      good_version: record.good?.version ?? '',
    };
    removeStack(stack);
    const readyCondition = record.conditions.find((c) => c.type === 'Ready');
    const pair = { stack, source: labels.source };
    ready.set(pair, readyCondition?.status === 'True' ? 1 : 0);
    healthy.set(pair, record.health === 'healthy' ? 1 : 0);
    info.set(labels, 1);
    stackLabels.set(stack, labels);
  }

  function removeStack(name: string): void {
    const previous = stackLabels.get(name);
    if (previous === undefined) return;
    ready.remove({ stack: name, source: previous.source });
    healthy.remove({ stack: name, source: previous.source });
    info.remove({ ...previous });
    stackLabels.delete(name);
  }

  function observeSourceSync({ source, ok, at }: SourceSyncObservation): void {
    knownSources.add(source);
    sourceUp.set({ source }, ok ? 1 : 0);
    if (ok) sourceLastSync.set({ source }, at / 1000);
    else sourceFailures.inc({ source });
  }

  function setSources(names: readonly string[]): void {
    const keep = new Set(names);
    for (const source of knownSources) {
      if (keep.has(source)) continue;
      sourceUp.remove({ source });
      sourceLastSync.remove({ source });
      sourceFailures.remove({ source });
      knownSources.delete(source);
    }
    for (const source of names) {
      if (!knownSources.has(source)) sourceFailures.inc({ source }, 0);
      knownSources.add(source);
    }
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
    observeSourceSync,
    setSources,
    countWebhook,
    render: () => registry.metrics(),
  };
}
