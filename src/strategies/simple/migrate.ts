import type { ComposeProject } from '../../compose/types.js';
import { versionLabels } from '../../engine/naming.js';
import { BerthError } from '../../errors.js';
import { runMigrations } from '../shared/migrations.js';
import { step } from '../shared/step.js';
import type { StrategyContext } from '../types.js';

/** The services the jobs' services depend on, transitively, without those services themselves. */
export function jobDependencies(project: ComposeProject, services: readonly string[]): string[] {
  const found = new Set<string>();
  const visit = (name: string): void => {
    for (const dep of Object.keys(project.services[name]?.dependsOn ?? {})) {
      // An optional dependency the project lacks (required: false) is not started.
      if (found.has(dep) || project.services[dep] === undefined) continue;
      found.add(dep);
      visit(dep);
    }
  };
  for (const name of services) visit(name);
  return [...found].filter((s) => !services.includes(s)).sort();
}

/** The jobs' direct dependencies whose condition is more than started (healthy, completed). */
function gated(project: ComposeProject, services: readonly string[], deps: string[]): string[] {
  const out = new Set<string>();
  for (const name of services)
    for (const [dep, config] of Object.entries(project.services[name]?.dependsOn ?? {}))
      if (config.condition !== 'service_started' && deps.includes(dep)) out.add(dep);
  return [...out].sort();
}

/**
 * simple: the new version's networks, volumes and images, then the services the jobs depend
 * on (their depends_on conditions met), then the jobs; the other services start afterwards
 * (apply). Nothing happens when the stack has no jobs.
 */
export async function migrateBeforeStart(
  ctx: StrategyContext,
  project: ComposeProject,
): Promise<void> {
  const jobs = ctx.target.settings.migrations ?? [];
  if (jobs.length === 0) return;
  const { engine } = ctx;
  await step(ctx, 'prepare', 'images, networks and volumes', () =>
    engine.prepare(project, { ...(ctx.signal === undefined ? {} : { signal: ctx.signal }) }),
  );
  const services = [...new Set(jobs.map((j) => j.service))].filter(
    (s) => project.services[s] !== undefined,
  );
  const deps = jobDependencies(project, services);
  if (deps.length > 0) await startDependencies(ctx, project, services, deps);
  await runMigrations(ctx, project);
}

async function startDependencies(
  ctx: StrategyContext,
  project: ComposeProject,
  services: string[],
  deps: string[],
): Promise<void> {
  const { engine, target } = ctx;
  await step(ctx, 'start-dependencies', `start ${deps.join(', ')} for the migrations`, () =>
    engine.apply(project, {
      services: deps,
      removeOrphans: false,
      labels: versionLabels(target.version),
      ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
    }),
  );
  const wait = gated(project, services, deps);
  if (wait.length === 0) return;
  const report = await step(ctx, 'wait-dependencies', `wait for ${wait.join(', ')}`, () =>
    engine.waitHealthy(project, {
      services: wait,
      timeoutMs: target.settings.healthTimeoutMs,
      stabilityMs: target.settings.stabilityMs,
      ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
    }),
  );
  if (!report.healthy)
    throw new BerthError(
      'DependencyFailed',
      `the migrations' dependencies did not become ready (${report.detail})`,
      { place: { stack: target.stack } },
    );
}
