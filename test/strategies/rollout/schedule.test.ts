/**
 * The rollout's schedule over the recording stand-ins of fake-context.ts: each service rolls as
 * soon as the services it depends on have rolled, and the gates decide when, not the levels.
 */
import { describe, expect, it } from 'vitest';
import type { ComposeProject } from '../../../src/compose/types.js';
import type {
  CandidateRequest,
  ContainerPlanItem,
  HealthOptions,
  ObservedContainer,
} from '../../../src/engine/types.js';
import { getStrategy } from '../../../src/strategies/index.js';
import type { StrategyContext } from '../../../src/strategies/types.js';
import { project, service } from '../../engine/fixtures.js';
import { context, report, world, type World } from '../fake-context.js';

const blueGreen = getStrategy('blue-green');
const dep = { condition: 'service_started' as const, required: true, restart: false };

/** A gate the test opens by hand: resolves healthy or not. */
interface Gate {
  promise: Promise<boolean>;
  open: (healthy: boolean) => void;
}

function gate(): Gate {
  let open: (healthy: boolean) => void = () => undefined;
  const promise = new Promise<boolean>((resolve) => (open = resolve));
  return { promise, open };
}

/**
 * slow and fast are independent, top depends on fast only, last on slow and top; all four are
 * replaced. Each new container `new-<service>` waits on its own gate.
 */
function scheduleContext(w: World, gates: Record<string, Gate>): StrategyContext {
  const ctx = context(w, { method: 'blue-green', drainMs: 0 });
  const loaded = project('p', [
    service('slow'),
    service('fast'),
    service('top', { dependsOn: { fast: dep } }),
    service('last', { dependsOn: { slow: dep, top: dep } }),
  ]);
  ctx.loadProject = (dir, name) => Promise.resolve({ ...loaded, name, workingDir: dir });
  const whole = ctx.engine.waitHealthy.bind(ctx.engine);
  const items: ContainerPlanItem[] = Object.keys(loaded.services).map((svc) => ({
    service: svc,
    number: 1,
    containerId: `old-${svc}`,
    subject: `p-${svc}-1`,
    action: 'recreate',
    reason: 'config changed',
  }));
  const record = (call: string): Promise<void> => (w.calls.push(call), Promise.resolve());
  Object.assign(ctx.engine, {
    prepare: () => Promise.resolve(),
    plan: () => Promise.resolve(items),
    startCandidate: (_project: ComposeProject, request: CandidateRequest) => {
      w.calls.push(`start ${request.service}`);
      return Promise.resolve({ id: `new-${request.service}` } as ObservedContainer);
    },
    setServing: (_project: ComposeProject, id: string, serving: boolean) =>
      record(`serve ${id} ${serving}`),
    renameContainer: () => Promise.resolve(),
    removeContainers: (_project: string, ids: string[]) =>
      ids.length === 0 ? Promise.resolve() : record(`remove ${[...ids].sort().join(',')}`),
    observe: () => Promise.resolve({ name: 'p', services: {} }),
    waitHealthy: async (p: ComposeProject, options: HealthOptions) => {
      if (options.containerIds === undefined) return whole(p, options);
      const id = options.containerIds.join(',');
      const healthy = await (gates[id]?.promise ?? Promise.resolve(true));
      w.calls.push(`${healthy ? 'healthy' : 'unhealthy'} ${id}`);
      return report(healthy);
    },
  });
  Object.assign(ctx.folders, {
    dropPrevious: () => Promise.resolve(),
    restorePrevious: () => Promise.resolve(true),
  });
  return ctx;
}

/** Lets every callback queued so far run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 10));
}

describe('rollout schedule', () => {
  it('starts a service as soon as its own dependencies have rolled, not after their level', async () => {
    const w = world();
    const slow = gate();
    const running = blueGreen.run(scheduleContext(w, { 'new-slow': slow }));
    await settle();
    // slow is still waiting for its gate: top (fast's dependent) rolled, last waits for slow.
    expect(w.calls).toContain('start top');
    expect(w.calls).toContain('serve new-top true');
    expect(w.calls).not.toContain('start last');
    slow.open(true);
    const result = await running;
    expect(result).toMatchObject({ result: 'succeeded', running: { version: 'new' } });
    const at = (call: string): number => w.calls.indexOf(call);
    expect(at('start top')).toBeLessThan(at('healthy new-slow'));
    expect(at('start last')).toBeGreaterThan(at('serve new-slow true'));
    expect(at('start last')).toBeGreaterThan(at('serve new-top true'));
  });

  it('starts nothing new after a failure, lets the rolls under way finish, and rolls back', async () => {
    const w = world();
    const gates = { 'new-slow': gate(), 'new-fast': gate() };
    const running = blueGreen.run(scheduleContext(w, gates));
    await settle();
    gates['new-slow'].open(false);
    await settle();
    // fast's roll was under way when slow failed: it finishes, but top does not start.
    gates['new-fast'].open(true);
    const result = await running;
    expect(result).toMatchObject({ result: 'rolled-back', reason: 'HealthCheckFailed' });
    expect(w.calls).toContain('serve new-fast true');
    expect(w.calls).not.toContain('start top');
    expect(w.calls).not.toContain('start last');
    expect(w.calls).not.toContain('serve old-fast false');
    expect(w.calls).toContain('remove new-slow');
    expect(w.calls).toContain('remove new-fast');
  });
});
