import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BerthConfig } from '../../src/config/index.js';
import type { z } from 'zod';
import { normalizePolicy, PolicyConfig } from '../../src/policy/index.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import type { ContainerEngine } from '../../src/engine/types.js';
import { silentLogger } from '../../src/log.js';
import { createApp, openReader, type App, type Reader } from '../../src/main.js';
import type { SettingsDefaults } from '../../src/stack/types.js';
import { lockDataDir, type DataDirLock } from '../../src/state/lock.js';
import type { StackFolders, StateStore } from '../../src/state/types.js';
import { healthcheckYaml } from './compose.js';
import { FIXTURE_IMAGE, removeProject, testDocker, uniqueName } from './docker.js';
import { oneSource } from './sources.js';

export const DEFAULTS: SettingsDefaults = {
  deploy: true,
  method: 'simple',
  // Generous: a healthy version must never miss the gate because the machine is busy.
  // Tests of unhealthy versions fail fast on the healthcheck, not on this timeout.
  healthTimeoutMs: 45_000,
  stabilityMs: 500,
  markBad: true,
  redeployGood: true,
  hooks: { timeoutMs: 10_000 },
  updates: { images: false },
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

export interface ServiceOptions {
  /** Healthcheck command run with CMD-SHELL; default `true`. */
  health?: string;
  /** Something that changes the service's config (and the stack version). */
  marker?: string;
  /** Shell run before the container settles into sleeping (e.g. `touch /tmp/ok`). */
  first?: string;
  /** The healthcheck's start period: failed probes before it ends do not count. */
  startPeriod?: string;
  extra?: string;
}

/** A compose file whose containers stop at once and report health within a second. */
export function composeFile(services: Record<string, ServiceOptions>): string {
  const lines = ['services:'];
  for (const [name, options] of Object.entries(services)) {
    lines.push(
      `  ${name}:`,
      `    image: ${FIXTURE_IMAGE}`,
      `    command: ["sh", "-c", "trap 'exit 0' TERM; ${options.first === undefined ? '' : `${options.first}; `}sleep 3600 & wait"]`,
      `    stop_grace_period: 1s`,
      `    environment:`,
      `      MARKER: "${options.marker ?? 'v1'}"`,
      ...healthcheckYaml(options.health ?? 'true', '    ', {
        ...(options.startPeriod === undefined ? {} : { startPeriod: options.startPeriod }),
      }),
    );
    if (options.extra !== undefined) lines.push(options.extra);
  }
  return `${lines.join('\n')}\n`;
}

export interface NamedContainer {
  id: string;
  name: string;
  service: string;
  state: string;
  version?: string;
}

export interface OpenOptions {
  tag?: string;
  prune?: boolean;
  defaults?: Partial<SettingsDefaults>;
  concurrency?: number;
  /** The operator's policy section, as berth.yaml would give it. */
  policy?: z.input<typeof PolicyConfig>;
}

/**
 * A bare repository over file://, a working clone to commit into, and berth wired to both: the
 * real app (lock, engine, store, dispatcher, control plane) as the CLI and the daemon build it.
 * One harness serves the reconciler, strategy, daemon and CLI tests.
 */
export class Harness {
  readonly root: string;
  readonly remote: string;
  readonly work: string;
  readonly dataDir: string;
  readonly stacks: string[] = [];
  app: App | undefined;
  lock: DataDirLock | undefined;
  private reader: Reader | undefined;

  /** The writer's engine, store and folders while berth is open here; else a read-only view. */
  get engine(): ContainerEngine {
    return this.app?.engine ?? this.read().engine;
  }
  get store(): StateStore {
    return this.app?.store ?? this.read().store;
  }
  get folders(): StackFolders {
    return this.app?.folders ?? this.read().folders;
  }
  /** The control plane of the open app: every action goes through it. */
  get control(): ControlPlane {
    if (this.app === undefined) throw new Error('berth is not open here: call open() first');
    return this.app.control;
  }

  /** What a read-only command sees (a CLI process may hold the data dir meanwhile). */
  private read(): Reader {
    // Before a writer has set up the state there is nothing to read (not an empty state).
    if (this.reader === undefined && !existsSync(path.join(this.dataDir, 'berth.db'))) {
      throw new Error(`berth has no state in ${this.dataDir} yet`);
    }
    this.reader ??= openReader(this.config(), { logger: silentLogger() });
    return this.reader;
  }

  private constructor(root: string) {
    this.root = root;
    this.remote = path.join(root, 'remote.git');
    this.work = path.join(root, 'work');
    this.dataDir = path.join(root, 'data');
  }

  static async create(): Promise<Harness> {
    const root = await mkdtemp(path.join(tmpdir(), 'berth-rec-'));
    const harness = new Harness(root);
    git(root, 'init', '--bare', '--initial-branch=main', harness.remote);
    git(root, 'clone', harness.remote, harness.work);
    git(harness.work, 'checkout', '-B', 'main');
    await mkdir(path.join(harness.work, 'stacks'), { recursive: true });
    await writeFile(path.join(harness.work, 'README.md'), 'stacks\n');
    harness.commit('init');
    return harness;
  }

  /** A unique stack name, remembered for cleanup. */
  name(prefix: string): string {
    const name = uniqueName(prefix);
    this.stacks.push(name);
    return name;
  }

  async write(relPath: string, content: string): Promise<void> {
    const file = path.join(this.work, relPath);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
    if (file.endsWith('.sh')) await chmod(file, 0o755);
  }

  async writeStack(
    stack: string,
    compose: string,
    files: Record<string, string> = {},
  ): Promise<void> {
    await this.write(`stacks/${stack}/compose.yaml`, compose);
    for (const [name, content] of Object.entries(files)) {
      await this.write(`stacks/${stack}/${name}`, content);
    }
  }

  async removeStackFolder(stack: string): Promise<void> {
    await rm(path.join(this.work, 'stacks', stack), { recursive: true, force: true });
  }

  commit(message: string): string {
    git(this.work, 'add', '-A');
    git(this.work, 'commit', '-q', '--allow-empty', '-m', message);
    git(this.work, 'push', '-q', 'origin', 'HEAD:main', '--tags');
    return git(this.work, 'rev-parse', 'HEAD');
  }

  tag(name: string): void {
    git(this.work, 'tag', name);
    git(this.work, 'push', '-q', 'origin', name);
  }

  /** The config berth runs with here: the harness's remote, stacks/*, the test defaults. */
  config(options: OpenOptions = {}): BerthConfig {
    const defaults = { ...DEFAULTS, ...options.defaults };
    return {
      ...oneSource(
        {
          kind: 'git',
          git: {
            url: `file://${this.remote}`,
            ...(options.tag === undefined ? { branch: 'main' } : { tag: options.tag }),
            depth: 1,
          },
          paths: ['stacks/*'],
        },
        defaults,
      ),
      dataDir: this.dataDir,
      defaults,
      prune: options.prune ?? false,
      log: { level: 'silent' },
      concurrency: options.concurrency ?? 2,
      ...(options.policy === undefined
        ? {}
        : { policy: normalizePolicy(PolicyConfig.parse(options.policy)) }),
    };
  }

  /** The same config as a berth.yaml for CLI and daemon processes; returns its path. */
  async writeConfig(lines: string[] = [], options: OpenOptions = {}): Promise<string> {
    const cfg = this.config(options);
    const d = cfg.defaults;
    const file = path.join(this.root, 'berth.yaml');
    const yaml = [
      'source:',
      '  git:',
      `    url: file://${this.remote}`,
      options.tag === undefined ? '    branch: main' : `    tag: "${options.tag}"`,
      '  paths: ["stacks/*"]',
      `dataDir: ${this.dataDir}`,
      'defaults:',
      `  healthTimeout: ${d.healthTimeoutMs}ms`,
      `  stabilityPeriod: ${d.stabilityMs}ms`,
      `  markBad: ${d.markBad}`,
      `prune: ${cfg.prune}`,
      ...lines,
    ];
    await writeFile(file, `${yaml.join('\n')}\n`);
    return file;
  }

  /**
   * Opens berth on the data dir as a writer (holding its lock), closing what was open before:
   * reopening with other settings is a restart. Returns the control plane every action goes
   * through.
   */
  async open(options: OpenOptions = {}): Promise<ControlPlane> {
    await this.close();
    const lock = await lockDataDir(
      this.dataDir,
      { role: 'cli', command: 'test' },
      { waitMs: 10_000 },
    );
    this.lock = lock;
    const app = await createApp(this.config(options), { logger: silentLogger(), lock });
    this.app = app;
    return app.control;
  }

  /** Closes the app and releases the data dir, as a process that ends would. */
  async close(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    const reader = this.reader;
    this.reader = undefined;
    await reader?.close();
    try {
      await app?.close({ graceMs: 60_000 });
    } finally {
      this.lock?.release();
      this.lock = undefined;
    }
  }

  /** Container IDs of a stack by service, running or not. */
  async containers(
    stack: string,
  ): Promise<{ id: string; service: string; state: string; version?: string }[]> {
    return (await this.named(stack))
      .map(({ name: _name, ...container }) => container)
      .sort((a, b) => a.service.localeCompare(b.service));
  }

  /** The stack's containers with their names, sorted by name. */
  async named(stack: string): Promise<NamedContainer[]> {
    const listed = await testDocker().listContainers({
      all: true,
      filters: { label: [`com.docker.compose.project=${stack}`] },
    });
    return listed
      .map((c) => ({
        id: c.Id,
        name: (c.Names[0] ?? '').replace(/^\//, ''),
        service: c.Labels['com.docker.compose.service'] ?? '',
        state: c.State,
        version: c.Labels['dev.berth.stack-version'],
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async cleanup(): Promise<void> {
    await this.close().catch(() => undefined);
    for (const stack of this.stacks) await removeProject(stack);
    await rm(this.root, { recursive: true, force: true });
  }
}

/** Whether a file or folder exists. */
export async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
