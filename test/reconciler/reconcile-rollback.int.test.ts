import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, composeFile } from '../helpers/harness.js';

const FAILING = { health: 'false', marker: 'broken' };

describe('reconciler: health gate, rollback, bad versions, hooks', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('rolls an unhealthy version back, marks it bad and does not retry it', async () => {
    h = await Harness.create();
    const stack = h.name('rb');
    await h.writeStack(stack, composeFile({ web: {} }));
    const goodCommit = h.commit('good');
    const control = await h.open({ defaults: { healthTimeoutMs: 5000 } });
    expect((await control.reconcile({})).ok).toBe(true);
    const goodVersion = h.store.getStack(stack)!.running!.version;

    const results = path.join(h.root, 'post-results');
    await h.writeStack(stack, composeFile({ web: FAILING }), {
      'deploy.yaml': 'hooks:\n  postDeploy: post.sh\n',
      'post.sh': `#!/bin/sh\necho "$BERTH_RESULT" >> ${results}\n`,
    });
    h.commit('bad');
    const pass = await control.reconcile({});
    expect(pass.ok).toBe(false);
    const outcome = pass.stacks[0]!;
    expect(outcome).toMatchObject({ stack, result: 'rolled-back', outcome: 'terminal' });
    const badVersion = outcome.version!;
    expect(h.store.isBad(stack, badVersion)?.reason).toMatch(/unhealthy/);
    const record = h.store.getStack(stack)!;
    expect(record.running).toEqual({ version: goodVersion, commit: goodCommit });
    expect(record.lastAppliedVersion).toBe(goodVersion);
    expect(record.lastAttemptedVersion).toBe(badVersion);
    expect(record.conditions.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'RolledBack',
    });
    const running = await h.containers(stack);
    expect(running.every((c) => c.state === 'running' && c.version === goodVersion)).toBe(true);
    const history = h.store.healthHistory(stack, 10).map((r) => [r.version, r.health]);
    expect(history).toContainEqual([badVersion, 'unhealthy']);
    expect(history).toContainEqual([goodVersion, 'healthy']);
    const [deployment] = h.store.listDeployments(stack);
    expect(deployment).toMatchObject({ state: 'ROLLED_BACK', result: 'rolled-back' });
    expect(h.store.getJournal(deployment!.id).map((j) => j.step)).toEqual([
      'stop',
      'snapshot-good',
      'remove-old',
      'put-running',
      'load',
      'apply',
      'wait-healthy',
      'mark-bad',
      'remove-new',
      'restore-good',
      'load-good',
      'apply-good',
      'wait-healthy-good',
      'post-deploy-hook',
    ]);
    expect(await readFile(results, 'utf8')).toBe('rolled-back\n');

    // The bad version is not tried again.
    const again = await control.reconcile({});
    expect(again.stacks[0]).toMatchObject({ result: 'skipped-bad', outcome: 'terminal' });
    expect(again.plan[0]?.reason).toMatch(/^version marked bad at .+: health check failed \(/);
    expect(await h.containers(stack)).toEqual(running);

    // Until a human clears the mark...
    expect(h.store.unmark(stack, badVersion)).toBe(1);
    const retried = await control.reconcile({});
    expect(retried.stacks[0]).toMatchObject({ result: 'rolled-back', version: badVersion });

    // ...or the files change.
    await h.writeStack(stack, composeFile({ web: { marker: 'fixed' } }));
    h.commit('fixed');
    const fixed = await control.reconcile({});
    expect(fixed.stacks[0]).toMatchObject({ result: 'deployed' });
    expect(fixed.ok).toBe(true);
  });

  it('stops the stack and reports when the good version fails too', async () => {
    h = await Harness.create();
    const stack = h.name('both');
    const flagDir = path.join(h.root, 'flag');
    await mkdir(flagDir);
    await writeFile(path.join(flagDir, 'ok'), 'ok');
    const volume = `    volumes:\n      - ${flagDir}:/flag`;
    await h.writeStack(stack, composeFile({ web: { health: 'test -f /flag/ok', extra: volume } }));
    h.commit('good, while the flag exists');
    const control = await h.open({ defaults: { healthTimeoutMs: 4000 } });
    expect((await control.reconcile({})).ok).toBe(true);
    const goodVersion = h.store.getStack(stack)!.running!.version;

    // The pre-deploy hook takes the flag away after the good version was seen healthy.
    await h.writeStack(stack, composeFile({ web: { ...FAILING, extra: volume } }), {
      'deploy.yaml': 'hooks:\n  preDeploy: pre.sh\n',
      'pre.sh': `#!/bin/sh\nrm -f ${flagDir}/ok\n`,
    });
    h.commit('bad, and breaks the good one');
    const pass = await control.reconcile({});
    expect(pass.ok).toBe(false);
    expect(pass.stacks[0]).toMatchObject({ stack, result: 'failed', outcome: 'terminal' });
    expect(pass.stacks[0]?.message).toMatch(/failed too/);
    const record = h.store.getStack(stack)!;
    expect(record.state).toBe('BROKEN');
    expect(record.health).toBe('unhealthy');
    expect(record.running?.version).toBe(goodVersion);
    const containers = await h.containers(stack);
    expect(containers.length).toBeGreaterThan(0);
    expect(containers.every((c) => c.state !== 'running' && c.version === goodVersion)).toBe(true);
    expect(h.store.listDeployments(stack)[0]).toMatchObject({ state: 'FAILED', result: 'failed' });
  });

  it('keeps the old version running when the pre-deploy hook fails', async () => {
    h = await Harness.create();
    const stack = h.name('hook');
    await h.writeStack(stack, composeFile({ web: {} }));
    h.commit('v1');
    const control = await h.open();
    expect((await control.reconcile({})).ok).toBe(true);
    const before = await h.containers(stack);
    const v1 = h.store.getStack(stack)!.running!;

    await h.writeStack(stack, composeFile({ web: { marker: 'v2' } }), {
      'deploy.yaml': 'hooks:\n  preDeploy: pre.sh\n',
      'pre.sh': '#!/bin/sh\necho refusing\nexit 3\n',
    });
    h.commit('v2 with a failing hook');
    const pass = await control.reconcile({});
    expect(pass.ok).toBe(false);
    expect(pass.stacks[0]).toMatchObject({ result: 'failed', outcome: 'terminal' });
    expect(pass.stacks[0]?.message).toMatch(/pre-deploy hook pre\.sh exited with 3/);
    const after = await h.containers(stack);
    expect(after.map((c) => c.id)).toEqual(before.map((c) => c.id));
    expect(after.every((c) => c.state === 'running')).toBe(true);
    const record = h.store.getStack(stack)!;
    expect(record.running).toEqual(v1);
    expect(record.conditions.find((c) => c.type === 'Ready')?.reason).toBe('PreDeployHookFailed');
    const [deployment] = h.store.listDeployments(stack);
    expect(h.store.getLog(deployment!.id)).toContain('refusing');
    expect(await h.folders.readRunningVersion(stack)).toEqual(v1);
  });

  it('rolls back on request to the good version, and the rollback sticks until unmark', async () => {
    h = await Harness.create();
    const stack = h.name('manual');
    await h.writeStack(stack, composeFile({ web: {} }));
    h.commit('v1');
    const control = await h.open();
    await control.reconcile({});
    const v1 = h.store.getStack(stack)!.running!;
    await h.writeStack(stack, composeFile({ web: { marker: 'v2' } }));
    h.commit('v2');
    await control.reconcile({});
    const v2 = h.store.getStack(stack)!.running!;
    expect(v2.version).not.toBe(v1.version);

    const outcome = await control.rollback(stack, { by: 'rollback' });
    expect(outcome).toMatchObject({ result: 'deployed', version: v1.version });
    expect(h.store.listDeployments(stack)[0]?.trigger).toBe('rollback');
    const onV1 = async (): Promise<boolean> =>
      (await h!.containers(stack)).every((c) => c.version === v1.version && c.state === 'running');
    expect(await onV1()).toBe(true);
    // The version rolled away from is rejected: marked bad, and never the good version.
    expect(h.store.isBad(stack, v2.version)?.reason).toMatch(/^rolled back by rollback to /);
    expect((await h.folders.readGoodVersion(stack))?.version).toBe(v1.version);
    expect(h.store.getStack(stack)?.good?.version).toBe(v1.version);

    // The next pass on the same commit keeps the rolled-back version.
    const kept = await control.reconcile({});
    expect(kept.stacks.find((x) => x.stack === stack)?.result).toBe('skipped-bad');
    expect(h.store.getStack(stack)?.running?.version).toBe(v1.version);
    expect(await onV1()).toBe(true);

    // Unmarked, the version from git returns.
    expect(await control.unmark(stack, undefined, { by: 'cli' })).toMatchObject({ cleared: 1 });
    const back = await control.reconcile({});
    expect(back.stacks.find((x) => x.stack === stack)).toMatchObject({
      result: 'deployed',
      version: v2.version,
    });
    expect(h.store.getStack(stack)?.running?.version).toBe(v2.version);

    await expect(control.rollback(stack, { by: 'rollback' }, 'ffffffff')).rejects.toThrow(
      /not in the deployment history/,
    );
  });
});
