import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { readLockHolder } from '../../src/state/lock.js';
import type { DeploymentRecord } from '../../src/state/types.js';
import { ROOT, berthCommand } from '../helpers/berth-bin.js';
import { DaemonProcess, waitFor } from '../helpers/daemon-process.js';
import { execIn, testDocker } from '../helpers/docker.js';
import { Harness, composeFile } from '../helpers/harness.js';
import { runBerth, type CliRun } from './run-cli.js';

const YEARLY = 'schedule: "0 0 1 1 *"';

/**
 * A version that stays in its deployment's wait-healthy step until the test opens its gate
 * (`openGate`), which is when the other processes come knocking. A gate, not a timer: on a
 * loaded machine a timer can run out before the test has looked.
 */
function gatedVersion(marker: string): string {
  return composeFile({ app: { marker, health: 'test -f /tmp/ready', startPeriod: '120s' } });
}

/** Lets every running container of the stack turn healthy. */
async function openGate(h: Harness, stack: string): Promise<void> {
  for (const c of await h.containers(stack)) {
    if (c.state === 'running')
      await execIn(testDocker().getContainer(c.id), ['touch', '/tmp/ready']);
  }
}

/** A check that counts as "not yet" while the state cannot be read (no writer set it up yet). */
function soft<T>(check: () => T): () => T | undefined {
  return () => {
    try {
      return check();
    } catch {
      return undefined;
    }
  };
}

function parse(
  run: CliRun,
): { ok?: boolean; stacks?: { result: string; version?: string }[] } & Record<string, unknown> {
  try {
    return JSON.parse(run.stdout) as ReturnType<typeof parse>;
  } catch {
    throw new Error(`not JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

describe('one writer per data dir (real CLI processes, git, Docker)', () => {
  let h: Harness | undefined;
  let daemon: DaemonProcess | undefined;

  afterEach(async () => {
    await daemon?.stop('SIGKILL');
    daemon = undefined;
    await h?.cleanup();
    h = undefined;
  });

  function deploymentsOf(stack: string): DeploymentRecord[] {
    return h!.store.listDeployments(stack, 50);
  }

  function latestAt(stack: string, step: string): DeploymentRecord | undefined {
    const [latest] = deploymentsOf(stack);
    if (latest?.state !== 'RUNNING') return undefined;
    return h!.store.getJournal(latest.id).some((j) => j.step === step) ? latest : undefined;
  }

  /** Resolves once the stack's newest deployment has journaled `step` (and is still RUNNING). */
  function reached(stack: string, step: string): Promise<DeploymentRecord> {
    return waitFor(
      soft(() => latestAt(stack, step)),
      120_000,
      `${stack} at ${step}`,
    );
  }

  it('(a) a daemon mid-deploy serves reconcile --once and rollback; a second daemon exits 2', async () => {
    h = await Harness.create();
    const stack = h.name('writer');
    await h.writeStack(stack, composeFile({ app: { marker: 'v1' } }));
    h.commit('v1');
    const config = await h.writeConfig([YEARLY]);
    daemon = DaemonProcess.start(['daemon', '--config', config]);
    await daemon.waitForLog('daemon started', 60_000);
    await waitFor(
      soft(() => h!.store.getStack(stack)?.state === 'AVAILABLE'),
      120_000,
      'first deploy',
    );
    const v1 = h.store.getStack(stack)!.running!;

    await h.writeStack(stack, gatedVersion('v2'));
    h.commit('v2 slow to turn healthy');
    const pass = runBerth(['reconcile', '--once', '--json', '--config', config]);
    const running = await reached(stack, 'wait-healthy');

    const rollbackRun = runBerth(['rollback', stack, '--json', '--config', config, '--wait', '3m']);
    const second = await runBerth(['daemon', '--config', config, '--wait', '1s']);
    await waitFor(
      () => daemon!.logs.some((l) => l.msg === 'control request' && l.route === 'rollback'),
      60_000,
      'the rollback to reach the daemon',
    );
    await openGate(h, stack);
    const rollback = await rollbackRun;
    // The second daemon never touched anything: it names the holder and leaves.
    expect(second.code, second.stderr).toBe(2);
    expect(second.stderr).toContain(`pid ${daemon.child.pid}`);
    expect(second.stderr).toContain('in use by berth daemon');

    const passRun = await pass;
    expect(passRun.code, passRun.stderr).toBe(0);
    expect(parse(passRun).stacks).toEqual([
      expect.objectContaining({ stack, result: 'deployed', version: running.version }),
    ]);
    // The rollback waited its turn behind the deployment, then rolled it back.
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(parse(rollback)).toMatchObject({ ok: true, result: 'deployed', version: v1.version });

    const [rolledBack, deployed, first] = deploymentsOf(stack);
    expect(deployed).toMatchObject({
      id: running.id,
      state: 'DONE',
      result: 'succeeded',
      version: running.version,
    });
    expect(deployed!.trigger).toMatch(/^cli/);
    expect(rolledBack).toMatchObject({ state: 'DONE', result: 'succeeded', version: v1.version });
    expect(first).toMatchObject({ result: 'succeeded', trigger: 'startup' });
    expect(deploymentsOf(stack).some((d) => d.result === 'interrupted')).toBe(false);
    expect(h.store.isBad(stack, running.version)?.reason).toMatch(/^rolled back by cli/);
    expect(h.store.getStack(stack)?.running?.version).toBe(v1.version);
    // Both commands were served by the daemon's control socket.
    const routes = daemon.logs.filter((l) => l.msg === 'control request').map((l) => l.route);
    expect(routes).toEqual(['reconcile', 'rollback']);

    expect(await daemon.stop('SIGTERM')).toBe(0);
    daemon = undefined;
  });

  it('(b) two reconcile --once at once take turns; one that cannot wait exits 2 naming the holder', async () => {
    h = await Harness.create();
    const stack = h.name('turns');
    await h.writeStack(stack, gatedVersion('v1'));
    h.commit('v1');
    const config = await h.writeConfig();
    const first = runBerth(['reconcile', '--once', '--json', '--config', config]);
    const holder = await waitFor(
      () => readLockHolder(h!.dataDir),
      60_000,
      'the first pass to hold the data dir',
    );
    expect(holder).toMatchObject({ role: 'cli', command: 'reconcile --once' });
    await reached(stack, 'wait-healthy');

    const waitingRun = runBerth([
      'reconcile',
      '--once',
      '--json',
      '--config',
      config,
      '--wait',
      '3m',
    ]).then((r) => ({ ...r, at: Date.now() }));
    const impatient = await runBerth(['reconcile', '--once', '--config', config, '--wait', '1s']);
    await openGate(h, stack);
    const [waiting, done] = await Promise.all([waitingRun, first]);
    expect(impatient.code).toBe(2);
    expect(impatient.stderr).toContain(`pid ${holder.pid}`);
    expect(done.code, done.stderr).toBe(0);
    expect(parse(done).stacks).toEqual([expect.objectContaining({ result: 'deployed' })]);
    // The second ran after the first, on what the first had deployed.
    expect(waiting.code, waiting.stderr).toBe(0);
    expect(parse(waiting).stacks).toEqual([expect.objectContaining({ result: 'unchanged' })]);
    const all = deploymentsOf(stack);
    expect(all.map((d) => d.result)).toEqual(['succeeded']);
    expect(Date.parse(all[0]!.finishedAt!)).toBeLessThanOrEqual(waiting.at);
  });

  it('(c) the lock holder SIGKILLed: the next process starts at once and resolves its deployment', async () => {
    h = await Harness.create();
    const stack = h.name('killed');
    await h.writeStack(stack, composeFile({ app: { marker: 'v1' } }));
    h.commit('v1');
    const config = await h.writeConfig();
    const berth = berthCommand(['reconcile', '--once', '--config', config]);
    const child = spawn(berth.command, berth.args, {
      cwd: ROOT,
      detached: true,
      env: { ...process.env, BERTH_FAILPOINT: `${stack}:wait-healthy` },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    let exitCode: number | null | undefined;
    const exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        exitCode = code;
        resolve(code);
      }),
    );
    // Fails at once (with what the process printed) when it ends before the failpoint,
    // instead of running out the clock on a deployment that will never come.
    const killed = await waitFor(
      () => {
        if (exitCode !== undefined)
          throw new Error(`berth exited ${exitCode} before wait-healthy:\n${stderr}`);
        return soft(() => latestAt(stack, 'wait-healthy'))();
      },
      // Generous: on a loaded CI machine a concurrent image build can hold dockerd up.
      240_000,
      `${stack} at wait-healthy`,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\nberth stderr:\n${stderr.slice(-4000)}`);
    });
    expect(readLockHolder(h.dataDir)?.pid).toBe(child.pid);
    process.kill(-child.pid!, 'SIGKILL');
    await exited;

    // No stale lock to clean: a command that will not wait at all gets the data dir.
    const next = await runBerth([
      'reconcile',
      '--once',
      '--json',
      '--config',
      config,
      '--wait',
      '0s',
    ]);
    expect(next.code, `${next.stdout}\n${next.stderr}`).toBe(0);
    expect(parse(next).stacks, next.stdout).toEqual([
      expect.objectContaining({ result: 'deployed' }),
    ]);
    const interrupted = deploymentsOf(stack).find((d) => d.id === killed.id);
    expect(interrupted).toMatchObject({ state: 'FAILED', result: 'interrupted' });
    expect(h.store.unfinishedDeployments()).toEqual([]);
    expect(h.store.getStack(stack)?.state, JSON.stringify(h.store.getStack(stack))).toBe(
      'AVAILABLE',
    );
  }, 400_000);
});
