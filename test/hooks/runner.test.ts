import { chmod, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHookRunner } from '../../src/hooks/runner.js';
import type { HookRequest } from '../../src/hooks/types.js';
import { silentLogger } from '../../src/log.js';

/** Running, not a zombie waiting to be reaped. */
async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '');
  } catch {
    return false;
  }
}

describe('createHookRunner', () => {
  let dir: string;
  const runner = createHookRunner({ logger: silentLogger(), killGraceMs: 500 });

  function request(script: string, extra: Partial<HookRequest> = {}): HookRequest {
    return {
      phase: 'pre-deploy',
      script,
      stackDir: dir,
      stack: 'web',
      version: 'v2',
      commit: 'abc123',
      timeoutMs: 10_000,
      ...extra,
    };
  }

  async function script(name: string, body: string, executable = true): Promise<void> {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), body);
    await chmod(join(dir, name), executable ? 0o755 : 0o644);
  }

  beforeEach(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'berth-hooks-')));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes the BERTH_ variables and runs in the stack folder', async () => {
    await script(
      'hooks/env.sh',
      '#!/bin/sh\necho "stack=$BERTH_STACK version=$BERTH_VERSION commit=$BERTH_COMMIT prev=[$BERTH_PREVIOUS_VERSION] phase=$BERTH_PHASE result=${BERTH_RESULT-unset}"\npwd\necho "path=${PATH:+set}"\n',
    );
    const pre = await runner.run(request('hooks/env.sh'));
    expect(pre).toMatchObject({ ok: true, exitCode: 0, timedOut: false });
    expect(pre.output).toBe(
      `stack=web version=v2 commit=abc123 prev=[] phase=pre-deploy result=unset\n${dir}\npath=set\n`,
    );
    const post = await runner.run(
      request('hooks/env.sh', {
        phase: 'post-deploy',
        result: 'rolled-back',
        previousVersion: 'v1',
      }),
    );
    expect(post.output).toContain('prev=[v1] phase=post-deploy result=rolled-back');
  });

  it('runs a script without the executable bit with sh', async () => {
    await script('plain.sh', 'echo plain $0\n', false);
    await script('noshebang.sh', 'echo no shebang\n', true);
    expect((await runner.run(request('noshebang.sh'))).output).toBe('no shebang\n');
    const result = await runner.run(request('plain.sh'));
    expect(result.ok).toBe(true);
    expect(result.output).toContain('plain');
  });

  it('reports the exit code of a failing script and interleaves stderr', async () => {
    await script('fail.sh', '#!/bin/sh\necho one\necho two >&2\necho three\nexit 3\n');
    const result = await runner.run(request('fail.sh'));
    expect(result).toMatchObject({ ok: false, exitCode: 3, timedOut: false });
    expect(result.output).toBe('one\ntwo\nthree\n');
  });

  it('returns ok:false with a clear line for a missing script', async () => {
    const result = await runner.run(request('nope.sh'));
    expect(result).toMatchObject({ ok: false, exitCode: null, timedOut: false });
    expect(result.output).toMatch(/hook script nope\.sh not found/);
  });

  it('refuses a script outside the stack folder', async () => {
    const result = await runner.run(request('../../../bin/true'));
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/outside the stack folder/);
  });

  it('kills the script and its children when the time limit passes', async () => {
    await script('slow.sh', '#!/bin/sh\nsleep 30 &\necho $! > child.pid\necho started\nwait\n');
    const started = Date.now();
    const result = await runner.run(request('slow.sh', { timeoutMs: 300 }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result).toMatchObject({ ok: false, timedOut: true, exitCode: null });
    expect(result.output).toContain('started');
    expect(result.output).toMatch(/timed out after 300 ms/);
    const childPid = Number(await readFile(join(dir, 'child.pid'), 'utf8'));
    expect(await alive(childPid)).toBe(false);
  });

  it('sends SIGKILL after the grace period to a script ignoring SIGTERM', async () => {
    await script(
      'stubborn.sh',
      "#!/bin/sh\ntrap '' TERM\nsh -c \"trap '' TERM; sleep 30\" &\necho $! > child.pid\nwhile true; do sleep 1; done\n",
    );
    const result = await runner.run(request('stubborn.sh', { timeoutMs: 300 }));
    expect(result.timedOut).toBe(true);
    const childPid = Number(await readFile(join(dir, 'child.pid'), 'utf8'));
    expect(await alive(childPid)).toBe(false);
  });

  it('stops on abort', async () => {
    await script('wait.sh', '#!/bin/sh\nsleep 30\n');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const result = await runner.run(request('wait.sh', { signal: controller.signal }));
    expect(result).toMatchObject({ ok: false, timedOut: false });
    expect(result.output).toContain('cancelled');
  });

  it('does not start a script when already cancelled', async () => {
    await script('touch.sh', '#!/bin/sh\ntouch ran\n');
    const controller = new AbortController();
    controller.abort();
    const result = await runner.run(request('touch.sh', { signal: controller.signal }));
    expect(result.ok).toBe(false);
    await expect(readFile(join(dir, 'ran'))).rejects.toThrow();
  });

  it('keeps the tail of long output and says it was truncated', async () => {
    const small = createHookRunner({ logger: silentLogger(), maxOutputBytes: 100 });
    await script(
      'loud.sh',
      '#!/bin/sh\ni=0\nwhile [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); done\n',
    );
    const result = await small.run(request('loud.sh'));
    expect(result.ok).toBe(true);
    const [first, ...rest] = result.output.split('\n');
    expect(first).toMatch(/^\[output truncated: first \d+ bytes dropped\]$/);
    expect(rest.join('\n').length).toBeLessThanOrEqual(100);
    expect(result.output).toContain('line 499\n');
    expect(result.output).not.toContain('line 1\n');
  });

  it('does not wait for a background child that keeps the output open', async () => {
    await script('daemon.sh', '#!/bin/sh\nsleep 30 &\necho $! > child.pid\necho done\n');
    const started = Date.now();
    const result = await runner.run(request('daemon.sh'));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result).toMatchObject({ ok: true, exitCode: 0 });
    expect(result.output).toContain('done');
    process.kill(Number(await readFile(join(dir, 'child.pid'), 'utf8')), 'SIGKILL');
  });

  describe('environment', () => {
    /** The names and values a script sees, without the ones the shell sets itself. */
    async function seenBy(
      options: { env?: string[]; baseEnv?: Record<string, string> },
      extra: Partial<HookRequest> = {},
    ): Promise<Record<string, string>> {
      await script('env.sh', '#!/bin/sh\nenv\n');
      const hooks = createHookRunner({ logger: silentLogger(), ...options });
      const result = await hooks.run(request('env.sh', extra));
      expect(result.ok).toBe(true);
      const seen: Record<string, string> = {};
      for (const line of result.output.split('\n')) {
        const at = line.indexOf('=');
        if (at > 0) seen[line.slice(0, at)] = line.slice(at + 1);
      }
      for (const shell of ['PWD', 'OLDPWD', 'SHLVL', '_']) delete seen[shell];
      return seen;
    }

    const BASE = {
      PATH: '/usr/bin:/bin',
      HOME: '/home/berth',
      USER: 'berth',
      LOGNAME: 'berth',
      SHELL: '/bin/sh',
      LANG: 'C.UTF-8',
      LANGUAGE: 'en',
      LC_ALL: 'C.UTF-8',
      LC_TIME: 'C',
      TZ: 'UTC',
      TMPDIR: '/tmp',
      BERTH_GIT_TOKEN: 'SECRET-token',
      BERTH_SERVER__WEBHOOKS__GENERIC__SECRET: 'SECRET-webhook',
      BERTH_RESULT: 'inherited',
      DOCKER_HOST: 'unix:///var/run/docker.sock',
      DOCKER_CERT_PATH: '/certs',
      SSH_AUTH_SOCK: '/tmp/agent',
      AWS_SECRET_ACCESS_KEY: 'SECRET-aws',
      REGISTRY: 'registry.example.org',
    };

    it('passes the allow-list and the hook contract, nothing else', async () => {
      expect(await seenBy({ baseEnv: BASE })).toEqual({
        PATH: '/usr/bin:/bin',
        HOME: '/home/berth',
        USER: 'berth',
        LOGNAME: 'berth',
        SHELL: '/bin/sh',
        LANG: 'C.UTF-8',
        LANGUAGE: 'en',
        LC_ALL: 'C.UTF-8',
        LC_TIME: 'C',
        TZ: 'UTC',
        TMPDIR: '/tmp',
        BERTH_STACK: 'web',
        BERTH_VERSION: 'v2',
        BERTH_COMMIT: 'abc123',
        BERTH_PREVIOUS_VERSION: '',
        BERTH_PHASE: 'pre-deploy',
      });
    });

    it('adds the variables the operator lists; the contract cannot be overridden', async () => {
      const seen = await seenBy(
        { baseEnv: BASE, env: ['REGISTRY', 'DOCKER_HOST', 'BERTH_STACK', 'BERTH_RESULT', 'NOPE'] },
        { phase: 'post-deploy', result: 'success' },
      );
      expect(seen).toMatchObject({
        REGISTRY: 'registry.example.org',
        DOCKER_HOST: 'unix:///var/run/docker.sock',
        BERTH_STACK: 'web',
        BERTH_RESULT: 'success',
        BERTH_PHASE: 'post-deploy',
      });
      expect(seen).not.toHaveProperty('NOPE');
      expect(seen).not.toHaveProperty('AWS_SECRET_ACCESS_KEY');
      expect(seen).not.toHaveProperty('BERTH_GIT_TOKEN');
    });

    it("never hands on berth's own process environment unasked", async () => {
      const names = ['BERTH_GIT_TOKEN', 'BERTH_TEST_SECRET', 'INNOCENT_NAME'];
      for (const name of names) process.env[name] = `SECRET-${name}`;
      try {
        const seen = await seenBy({});
        expect(JSON.stringify(seen)).not.toContain('SECRET-');
        expect(seen.PATH).toBe(process.env.PATH);
      } finally {
        for (const name of names) delete process.env[name];
      }
    });
  });
});
