/**
 * Independent changed services roll side by side, by the dependency graph: a service that
 * depends only on a fast service does not wait for a slow one of the same dependency level.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../../src/state/types.js';
import { testDocker } from '../../helpers/docker.js';
import { Harness, composeFile, type ServiceOptions } from '../../helpers/harness.js';

const SETTINGS = {
  'blue-green': 'method: blue-green\ndrain: 200ms\n',
  canary: 'method: canary\ndrain: 200ms\ncanary:\n  batch: 1\n  window: 500ms\n',
} as const;

const DEPENDS_ON_FAST = '    depends_on:\n      fast:\n        condition: service_healthy';

/** slow and fast are independent; top depends on fast only. */
function stackFile(marker: string, slow: ServiceOptions = {}): string {
  return composeFile({
    slow: { marker, ...slow },
    fast: { marker },
    top: { marker, extra: DEPENDS_ON_FAST },
  });
}

/** The journal line of a step whose detail starts with `prefix`. */
function line(journal: JournalEntry[], step: string, prefix: string): JournalEntry {
  const found = journal.find((j) => j.step === step && j.detail.startsWith(prefix));
  expect(found, `${step} ${prefix}`).toBeDefined();
  return found!;
}

async function startedAt(id: string): Promise<number> {
  const info = await testDocker().getContainer(id).inspect();
  return Date.parse(info.State.StartedAt);
}

describe('rollout by the dependency graph', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it.each(['blue-green', 'canary'] as const)(
    '%s starts a service on top of a fast service before a slow independent one is healthy',
    async (method) => {
      h = await Harness.create();
      const stack = h.name('dag');
      const settings = { 'deploy.yaml': SETTINGS[method] };
      await h.writeStack(stack, stackFile('v1'), settings);
      h.commit('v1');
      const control = await h.open({ defaults: { healthTimeoutMs: 30_000 } });
      expect((await control.reconcile({})).ok).toBe(true);

      // v2: slow's new container is healthy only about 5 s after it starts: fast's gate, canary's
      // window and top's start fit before, even on a busy machine.
      const slow = { first: 'sleep 5; touch /tmp/ready', health: 'test -f /tmp/ready' };
      await h.writeStack(stack, stackFile('v2', { ...slow, startPeriod: '30s' }), settings);
      h.commit('v2');
      const pass = await control.reconcile({});
      expect(pass.stacks[0]).toMatchObject({ stack, result: 'deployed' });
      const journal = h.store.getJournal(pass.stacks[0]!.deploymentId!);
      expect(line(journal, 'plan', '').detail).toMatch(/top: side-by-side after fast/);

      // top's new container started once fast had rolled, before slow passed its gate.
      const topStarted = line(journal, 'start-new', 'top batch').seq;
      expect(topStarted).toBeGreaterThan(line(journal, 'promote', 'fast batch').seq);
      expect(topStarted).toBeLessThan(line(journal, 'promote', 'slow batch').seq);

      const containers = await h.named(stack);
      const version = h.store.getStack(stack)!.running!.version;
      expect(containers.map((c) => [c.name, c.version, c.state])).toEqual([
        [`${stack}-fast-1`, version, 'running'],
        [`${stack}-slow-1`, version, 'running'],
        [`${stack}-top-1`, version, 'running'],
      ]);
      const id = (service: string): string => containers.find((c) => c.service === service)!.id;
      // slow is ready 5 s after its start; top started well before that.
      expect((await startedAt(id('top'))) - (await startedAt(id('slow')))).toBeLessThan(4_000);
    },
  );
});
