import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile, readdir, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { confinement, escape } from '../containment.js';
import type { Logger } from '../log.js';
import type { HookRequest, HookResult, HookRunner } from './types.js';

export interface HookRunnerOptions {
  logger: Logger;
  /** Output kept per run (the tail); 64 KiB by default. */
  maxOutputBytes?: number;
  /** Time between SIGTERM and SIGKILL once the time limit passed; 5 s by default. */
  killGraceMs?: number;
  /** Variables of `baseEnv` passed on besides the allow-list (config `hooks.env`). */
  env?: readonly string[];
  /** The environment hooks take their variables from; process.env by default. */
  baseEnv?: Readonly<Record<string, string | undefined>>;
}

const DEFAULT_MAX_OUTPUT = 64 * 1024;
const DEFAULT_GRACE_MS = 5000;
/** After the script exits, how long a background child may keep its output pipe open. */
const DRAIN_MS = 500;
const POLL_MS = 50;

/** Keeps the last `max` bytes of everything written, counting what was dropped. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  dropped = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    // Compacting only past twice the cap keeps appends cheap for chatty scripts.
    if (this.size > this.max * 2) this.compact();
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks);
    const cut = Math.max(0, all.length - this.max);
    this.dropped += cut;
    this.chunks = [all.subarray(cut)];
    this.size = all.length - cut;
  }

  text(): string {
    this.compact();
    let tail = this.chunks[0] ?? Buffer.alloc(0);
    if (this.dropped > 0) {
      // Do not start in the middle of a UTF-8 character.
      let skip = 0;
      while (skip < tail.length && skip < 3 && ((tail[skip] ?? 0) & 0xc0) === 0x80) skip++;
      this.dropped += skip;
      tail = tail.subarray(skip);
    }
    const body = tail.toString('utf8');
    return this.dropped > 0
      ? `[output truncated: first ${this.dropped} bytes dropped]\n${body}`
      : body;
  }
}

/**
 * Why the script cannot run, or undefined when it can. The same line as the settings check
 * (src/stack/settings.ts): inside the stack folder as written and once links are followed,
 * real path against real path, so a stack folder reached through a link changes nothing.
 */
async function checkScript(request: HookRequest): Promise<string | undefined> {
  const dir = resolve(request.stackDir);
  const path = resolve(dir, request.script);
  if (isAbsolute(request.script) || path === dir)
    return `hook script ${request.script} is outside the stack folder`;
  const where = await escape(await confinement(dir), path);
  if (where?.how === 'lexical') return `hook script ${request.script} is outside the stack folder`;
  if (where !== undefined)
    return `hook script ${request.script} resolves to ${where.real}, outside the stack folder`;
  try {
    if (!(await stat(path)).isFile()) return `hook script ${request.script} is not a file`;
  } catch {
    return `hook script ${request.script} not found in ${request.stackDir}`;
  }
  return undefined;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function probeGroup(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a process of the group still runs. Zombies do not count: they are dead but answer
 * kill(0) until someone reaps them, which in a container can take a while.
 */
async function groupAlive(pgid: number): Promise<boolean> {
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  } catch {
    return probeGroup(pgid);
  }
  const running = await Promise.all(
    pids.map(async (pid) => {
      try {
        const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
        // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return fields[2] === String(pgid) && fields[0] !== 'Z' && fields[0] !== 'X';
      } catch {
        return false;
      }
    }),
  );
  return running.some(Boolean);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** What a script needs to run like a login shell would, and nothing that could be a secret. */
const ALLOWED = new Set([
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
]);

/**
 * A hook is repository code: it gets an allow-list of berth's environment (plus the names the
 * operator listed) and the BERTH_* hook contract, never berth's tokens and secrets.
 */
function hookEnv(
  request: HookRequest,
  base: Readonly<Record<string, string | undefined>>,
  extra: readonly string[] = [],
): NodeJS.ProcessEnv {
  const listed = new Set(extra);
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) {
    if (value === undefined) continue;
    if (ALLOWED.has(key) || key.startsWith('LC_') || listed.has(key)) env[key] = value;
  }
  // The contract wins over a listed variable of the same name.
  Object.assign(env, {
    BERTH_STACK: request.stack,
    BERTH_VERSION: request.version,
    BERTH_COMMIT: request.commit,
    BERTH_PREVIOUS_VERSION: request.previousVersion ?? '',
    BERTH_PHASE: request.phase,
  });
  // Never a result from berth's own environment in a pre-deploy hook.
  delete env.BERTH_RESULT;
  if (request.phase === 'post-deploy') env.BERTH_RESULT = request.result ?? '';
  return env;
}

/**
 * Runs pre/post-deploy scripts. Never throws for a script's failure: a missing script, one
 * outside the stack folder, a spawn error, a non-zero exit, a time-out or an abort all come
 * back as `ok: false` with a line in `output` saying why.
 */
export function createHookRunner(options: HookRunnerOptions): HookRunner {
  const log = options.logger;
  const maxOutput = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const graceMs = options.killGraceMs ?? DEFAULT_GRACE_MS;

  async function execute(request: HookRequest, started: number): Promise<HookResult> {
    const problem = await checkScript(request);
    if (problem !== undefined)
      return { ok: false, exitCode: null, timedOut: false, output: `${problem}\n`, durationMs: 0 };

    if (request.signal?.aborted === true)
      return {
        ok: false,
        exitCode: null,
        timedOut: false,
        output: 'hook was cancelled before it started\n',
        durationMs: 0,
      };

    const path = resolve(request.stackDir, request.script);
    const command = (await isExecutable(path)) ? [path] : ['sh', path];
    const output = new TailBuffer(maxOutput);

    return new Promise<HookResult>((resolvePromise) => {
      let timedOut = false;
      let aborted = false;
      let exitCode: number | null = null;
      let exitSignal: NodeJS.Signals | null = null;
      let spawnError: Error | undefined;
      let settled = false;
      const timers: NodeJS.Timeout[] = [];

      // detached: the script leads its own process group, so one kill reaches its children too.
      // The wrapper sends the script's stderr into the same pipe as stdout: one pipe keeps the
      // order in which lines were written, two pipes would not.
      const child = spawn('sh', ['-c', 'exec "$@" 2>&1', 'berth-hook', ...command], {
        cwd: request.stackDir,
        env: hookEnv(request, options.baseEnv ?? process.env, options.env),
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const limit = setTimeout(() => {
        timedOut = true;
        stop();
      }, request.timeoutMs);
      timers.push(limit);
      child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => output.push(chunk));

      function settle(): void {
        if (settled) return;
        settled = true;
        for (const timer of timers) clearTimeout(timer);
        request.signal?.removeEventListener('abort', onAbort);
        child.stdout.destroy();
        child.stderr.destroy();
        let text = output.text();
        if (spawnError !== undefined)
          text += `hook script could not start: ${spawnError.message}\n`;
        if (timedOut) text += `hook timed out after ${request.timeoutMs} ms and was killed\n`;
        else if (aborted) text += 'hook was cancelled and killed\n';
        else if (exitSignal !== null) text += `hook was killed by ${exitSignal}\n`;
        resolvePromise({
          ok: exitCode === 0 && !timedOut && !aborted && spawnError === undefined,
          exitCode,
          timedOut,
          output: text,
          durationMs: Date.now() - started,
        });
      }

      function stop(): void {
        if (child.pid === undefined) return;
        const pid = child.pid;
        killGroup(pid, 'SIGTERM');
        timers.push(setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs));
      }

      function onAbort(): void {
        aborted = true;
        stop();
      }

      /** After a kill, wait until every process of the group is gone, SIGKILLing it after the grace. */
      async function waitGroupGone(pid: number): Promise<void> {
        const deadline = Date.now() + graceMs;
        while (await groupAlive(pid)) {
          if (Date.now() >= deadline) killGroup(pid, 'SIGKILL');
          await new Promise((done) => setTimeout(done, POLL_MS));
        }
        settle();
      }

      child.on('error', (err) => {
        spawnError = err;
        settle();
      });
      child.on('exit', (code, signal) => {
        clearTimeout(limit);
        exitCode = code;
        exitSignal = signal;
        if ((timedOut || aborted) && child.pid !== undefined) {
          void waitGroupGone(child.pid);
          return;
        }
        // A background child may hold the pipes open: give it a moment, then stop listening.
        timers.push(setTimeout(settle, DRAIN_MS));
      });
      child.on('close', () => {
        if (!timedOut && !aborted) settle();
      });

      if (request.signal?.aborted) onAbort();
      else request.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  return {
    async run(request: HookRequest): Promise<HookResult> {
      const started = Date.now();
      const fields = { stack: request.stack, phase: request.phase, script: request.script };
      log.info(fields, 'hook started');
      const result = await execute(request, started);
      const summary = {
        ...fields,
        exitCode: result.exitCode,
        timedOut: result.timedOut,
        durationMs: result.durationMs,
      };
      if (result.ok) log.info(summary, 'hook finished');
      else log.warn(summary, 'hook failed');
      return result;
    },
  };
}
