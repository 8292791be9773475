import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testDocker } from '../../helpers/docker.js';
import { Harness, composeFile, exists } from '../../helpers/harness.js';

const BLUE_GREEN = 'method: blue-green\ndrain: 200ms\n';

/** The aliases each of the stack's containers answers to on the default network, by name. */
async function aliases(stack: string): Promise<Record<string, string[]>> {
  const listed = await testDocker().listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${stack}`] },
  });
  const out: Record<string, string[]> = {};
  for (const c of listed) {
    const info = await testDocker().getContainer(c.Id).inspect();
    const net = info.NetworkSettings.Networks[`${stack}_default`];
    out[info.Name.replace(/^\//, '')] = ((net?.Aliases as string[] | null) ?? []).filter(
      (a) => !c.Id.startsWith(a),
    );
  }
  return out;
}

describe('blue-green', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('replaces changed services beside the old ones, keeps unchanged ones, and rolls a broken version back untouched', async () => {
    h = await Harness.create();
    const stack = h.name('bg');
    const replicas = '    deploy:\n      replicas: 2';
    await h.writeStack(stack, composeFile({ web: { extra: replicas }, db: {} }), {
      'deploy.yaml': BLUE_GREEN,
    });
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 20_000 } });
    expect((await control.reconcile({})).ok).toBe(true);
    const v1 = await h.containers(stack);
    expect(v1).toHaveLength(3);

    await h.writeStack(stack, composeFile({ web: { extra: replicas, marker: 'v2' }, db: {} }), {
      'deploy.yaml': BLUE_GREEN,
    });
    h.commit('v2');
    const pass = await control.reconcile({});
    expect(pass.stacks[0]).toMatchObject({ stack, result: 'deployed' });
    const v2 = await h.containers(stack);
    const v2Version = h.store.getStack(stack)!.running!.version;
    expect(v2).toHaveLength(3);
    expect(v2.every((c) => c.state === 'running')).toBe(true);
    expect(v2.filter((c) => c.service === 'web').every((c) => c.version === v2Version)).toBe(true);
    // db keeps the container (and the label) of v1, and that is not drift.
    expect(h.store.getStack(stack)!.carriedVersions).toEqual([v1[0]!.version]);
    // db did not change: same container. web: new containers.
    expect(v2.find((c) => c.service === 'db')!.id).toBe(v1.find((c) => c.service === 'db')!.id);
    const oldWeb = v1.filter((c) => c.service === 'web').map((c) => c.id);
    expect(v2.filter((c) => c.service === 'web').some((c) => oldWeb.includes(c.id))).toBe(false);
    // Final names and aliases as Compose gives them.
    const names = await aliases(stack);
    expect(Object.keys(names).sort()).toEqual([
      `${stack}-db-1`,
      `${stack}-web-1`,
      `${stack}-web-2`,
    ]);
    expect(names[`${stack}-web-1`]).toEqual([`${stack}-web-1`, 'web']);
    expect(await exists(path.join(h.dataDir, 'running_stacks', `.${stack}.previous`))).toBe(false);
    const [deployment] = h.store.listDeployments(stack);
    const steps = h.store.getJournal(deployment!.id).map((j) => j.step);
    expect(steps).toEqual(
      expect.arrayContaining(['start-new', 'wait-new', 'promote', 'switch', 'rename']),
    );
    expect(steps).not.toContain('stop');

    // A second pass changes nothing.
    const again = await control.reconcile({});
    expect(again.stacks[0]?.result).toBe('unchanged');

    // A broken version: the old containers are never touched.
    await h.writeStack(
      stack,
      composeFile({ web: { extra: replicas, marker: 'v3', health: 'false' }, db: {} }),
      { 'deploy.yaml': BLUE_GREEN },
    );
    h.commit('v3');
    const broken = await control.reconcile({});
    expect(broken.stacks[0]).toMatchObject({ stack, result: 'rolled-back' });
    expect(h.store.isBad(stack, broken.stacks[0]!.version!)).toBeDefined();
    expect(await h.containers(stack)).toEqual(v2);
    expect(await aliases(stack)).toEqual(names);
    expect(h.store.getStack(stack)!.running!.version).toBe(v2Version);
    expect((await h.folders.readRunningVersion(stack))?.version).toBe(v2Version);
    expect(await exists(path.join(h.dataDir, 'running_stacks', `.${stack}.previous`))).toBe(false);
  });
});
