import { afterEach, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { silentLogger } from '../../src/log.js';
import { createApp } from '../../src/main.js';
import { PolicyConfig, PolicyError, normalizePolicy } from '../../src/policy/index.js';
import { lockDataDir } from '../../src/state/lock.js';
import { Harness, composeFile } from '../helpers/harness.js';
import { runBerth } from '../cli/run-cli.js';

/** Opens berth on the harness with the operator's `policy:` section, as berth.yaml gives it. */
async function openWithPolicy(h: Harness, section: unknown): Promise<ControlPlane> {
  await h.close();
  const lock = await lockDataDir(h.dataDir, { role: 'cli', command: 'test' }, { waitMs: 10_000 });
  h.lock = lock;
  const policy = normalizePolicy(PolicyConfig.parse(section));
  h.app = await createApp({ ...h.config(), policy }, { logger: silentLogger(), lock });
  return h.app.control;
}

describe('policy: enforced before a stack is queued', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('records a refused stack invalid, deploys the others, keeps its running version', async () => {
    h = await Harness.create();
    const [good, evil] = [h.name('polgood'), h.name('polevil')];
    await h.writeStack(good, composeFile({ app: {} }));
    await h.writeStack(evil, composeFile({ app: {} }));
    h.commit('v1');
    const control = await openWithPolicy(h, { preset: 'strict' });
    expect((await control.reconcile({})).ok).toBe(true);
    const running = await h.containers(evil);
    const runningVersion = h.store.getStack(evil)?.running;

    await h.writeStack(good, composeFile({ app: { marker: 'v2' } }));
    const hostile = { marker: 'v2', extra: '    privileged: true\n    volumes: ["/:/host"]' };
    await h.writeStack(evil, composeFile({ app: hostile }));
    h.commit('v2: evil asks for the host');
    const refusal =
      `stack "${evil}": compose.yaml: service "app": field "privileged": privileged mode is ` +
      'not allowed by policy.privileged; compose.yaml: service "app": field "volumes[0]": ' +
      'host path "/" is not allowed by policy.bindMounts';

    // --dry-run shows the refusal before anything runs.
    const dry = await control.reconcile({ dryRun: true });
    expect(dry.plan.find((p) => p.subject === evil)).toMatchObject({
      action: 'skip',
      reason: `invalid: ${refusal}`,
    });
    expect(dry.plan.find((p) => p.subject === good)?.action).toBe('recreate');

    const pass = await control.reconcile({});
    const outcomes = Object.fromEntries(pass.stacks.map((s) => [s.stack, s]));
    expect(outcomes[good]?.result).toBe('deployed');
    expect(outcomes[evil]).toMatchObject({ result: 'invalid', message: `invalid: ${refusal}` });
    expect(outcomes[evil]?.error).toBeInstanceOf(PolicyError);
    expect(outcomes[evil]?.error?.reason).toBe('PolicyViolation');
    const ready = h.store.getStack(evil)?.conditions.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'ValidationFailed' });
    expect(ready?.message).toContain(refusal);

    // The good version of the refused stack runs on, untouched.
    expect(await h.containers(evil)).toEqual(running);
    expect(running.every((c) => c.state === 'running')).toBe(true);
    expect(h.store.getStack(evil)?.running).toEqual(runningVersion);
    expect((await h.containers(good)).every((c) => c.state === 'running')).toBe(true);

    // `berth validate` with the same config says the same.
    await h.close();
    const config = await h.writeConfig(['policy:', '  preset: strict']);
    const validate = await runBerth(['validate', '--config', config]);
    expect(validate.code).toBe(1);
    expect(validate.stdout).toContain(refusal);
    expect(validate.stdout).toMatch(new RegExp(`^${good}\\s+ok\\b`, 'm'));
  });

  it('refuses a rollback to a version the policy now refuses', async () => {
    h = await Harness.create();
    const stack = h.name('polroll');
    await h.writeStack(stack, composeFile({ app: { extra: '    cap_add: [NET_ADMIN]' } }));
    h.commit('v1 with NET_ADMIN');
    let control = await openWithPolicy(h, {});
    expect((await control.reconcile({})).ok).toBe(true);
    await h.writeStack(stack, composeFile({ app: { marker: 'v2' } }));
    h.commit('v2');
    expect((await control.reconcile({})).ok).toBe(true);
    const running = await h.containers(stack);

    control = await openWithPolicy(h, {
      preset: 'strict',
      stacks: { other: { capabilities: ['*'] } },
    });
    await expect(control.rollback(stack, { by: 'cli:test' })).rejects.toThrow(
      `stack "${stack}": compose.yaml: service "app": field "cap_add[0]": capability "NET_ADMIN" is not allowed by policy.capabilities`,
    );
    expect(await h.containers(stack)).toEqual(running);
  });
});
