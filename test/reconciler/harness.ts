import { execFileSync } from 'node:child_process';
import { access, chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ContainerEngine } from '../../src/engine/types.js';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { createHookRunner } from '../../src/hooks/runner.js';
import { silentLogger } from '../../src/log.js';
import { createReconciler } from '../../src/reconciler/reconciler.js';
import type { Reconciler } from '../../src/reconciler/types.js';
import { createGitSource } from '../../src/source/git-source.js';
import type { SettingsDefaults } from '../../src/stack/types.js';
import { createStackFolders } from '../../src/state/folders.js';
import { openStateStore } from '../../src/state/store.js';
import type { StackFolders, StateStore } from '../../src/state/types.js';
import { systemClock } from '../../src/clock.js';
import { healthcheckYaml } from '../helpers/compose.js';
import { FIXTURE_IMAGE, removeProject, testDocker, uniqueName } from '../helpers/docker.js';

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
  extra?: string;
}

/** A compose file whose containers stop at once and report health within a second. */
export function composeFile(services: Record<string, ServiceOptions>): string {
  const lines = ['services:'];
  for (const [name, options] of Object.entries(services)) {
    lines.push(
      `  ${name}:`,
      `    image: ${FIXTURE_IMAGE}`,
      `    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`,
      `    stop_grace_period: 1s`,
      `    environment:`,
      `      MARKER: "${options.marker ?? 'v1'}"`,
      ...healthcheckYaml(options.health ?? 'true'),
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

/** A bare repository over file://, a working clone to commit into, and berth wired to both. */
export class Harness {
  readonly root: string;
  readonly remote: string;
  readonly work: string;
  readonly dataDir: string;
  readonly stacks: string[] = [];
  engine!: ContainerEngine;
  store!: StateStore;
  folders!: StackFolders;
  reconciler!: Reconciler;

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

  /** Opens berth's pieces on the data dir; `tag` follows tags instead of the branch. */
  open(
    options: { tag?: string; prune?: boolean; defaults?: Partial<SettingsDefaults> } = {},
  ): Reconciler {
    const logger = silentLogger();
    // Reopening (other settings, same data dir) replaces the previous connection.
    this.store?.close();
    this.engine = createDockerEngine({ logger });
    this.store = openStateStore(path.join(this.dataDir, 'berth.db'));
    this.folders = createStackFolders(this.dataDir);
    const source = createGitSource({
      url: `file://${this.remote}`,
      ...(options.tag === undefined ? { branch: 'main' } : { tag: options.tag }),
      depth: 1,
      dir: path.join(this.dataDir, 'repo'),
      logger,
    });
    this.reconciler = createReconciler({
      source,
      engine: this.engine,
      store: this.store,
      folders: this.folders,
      hooks: createHookRunner({ logger }),
      clock: systemClock,
      logger,
      settings: {
        paths: ['stacks/*'],
        defaults: { ...DEFAULTS, ...options.defaults },
        prune: options.prune ?? false,
      },
    });
    return this.reconciler;
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
    for (const stack of this.stacks) {
      try {
        await this.engine?.down(stack, { volumes: true });
      } catch {
        // removeProject below catches what down missed.
      }
      await removeProject(stack);
    }
    try {
      this.store?.close();
    } catch {
      // Already closed.
    }
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
