import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT } from '../helpers/berth-bin.js';
import { removeProject } from '../helpers/docker.js';
import { run, type RunResult } from '../helpers/image.js';

/**
 * berth started the way the README tells users: docker-compose on a copy of deploy/ (the
 * compose file, its .env and a berth.yaml), plus an override file for what only a test needs.
 */

export const WEBHOOK_SECRET = 'image-test-webhook-secret-0123456789';

/** A free TCP port on 127.0.0.1 (closed again before docker publishes it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/** A git work tree on the host that berth clones over file://, committed to by the test. */
export class GitRepo {
  constructor(readonly dir: string) {}

  static async create(dir: string): Promise<GitRepo> {
    await mkdir(dir, { recursive: true });
    const repo = new GitRepo(dir);
    repo.git('init', '--quiet', '--initial-branch=main');
    return repo;
  }

  git(...args: string[]): string {
    return execFileSync(
      'git',
      ['-c', 'user.name=berth-test', '-c', 'user.email=test@berth.invalid', ...args],
      { cwd: this.dir, encoding: 'utf8' },
    ).trim();
  }

  async write(files: Record<string, string>): Promise<void> {
    for (const [file, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(this.dir, file)), { recursive: true });
      await writeFile(path.join(this.dir, file), text);
    }
  }

  /** Commits everything; returns the commit. */
  commit(message: string): string {
    this.git('add', '-A');
    this.git('commit', '--quiet', '-m', message);
    return this.git('rev-parse', 'HEAD');
  }
}

export interface ComposeBerthOptions {
  /** The Compose project (`-p`): unique per test. */
  project: string;
  image: string;
  /** The test's folder; the deploy/ copy goes into `<dir>/deploy`. */
  dir: string;
  repo: GitRepo;
  /** berth.yaml's text. */
  config: string;
  /** Extra environment for berth's container (the override file). */
  environment?: Record<string, string>;
}

/** One berth Compose project: `up`, commands inside its container, `down -v`. */
export class ComposeBerth {
  readonly deployDir: string;
  port = 0;

  constructor(private readonly options: ComposeBerthOptions) {
    this.deployDir = path.join(options.dir, 'deploy');
  }

  get project(): string {
    return this.options.project;
  }

  /** Copies deploy/, writes berth.yaml, the secrets and the override, and starts berth. */
  async up(): Promise<void> {
    await cp(path.join(ROOT, 'deploy'), this.deployDir, { recursive: true });
    await writeFile(path.join(this.deployDir, 'berth.yaml'), this.options.config);
    await mkdir(path.join(this.deployDir, 'secrets'), { recursive: true });
    // Unused with a file:// repository, but compose.yaml mounts it.
    await writeFile(path.join(this.deployDir, 'secrets', 'git-token'), 'unused-token\n');
    await writeFile(path.join(this.deployDir, 'secrets', 'webhook-secret'), `${WEBHOOK_SECRET}\n`);
    await writeFile(path.join(this.deployDir, 'compose.test.yaml'), this.override());
    this.port = await freePort();
    await this.compose('up', '-d');
  }

  /** Test-only settings: the repository mounted read-only, debug logs, a fast healthcheck. */
  private override(): string {
    const env = { BERTH_LOG_LEVEL: 'debug', ...this.options.environment };
    return [
      'services:',
      '  berth:',
      '    volumes:',
      `      - ${JSON.stringify(`${this.options.repo.dir}:/srv/repo:ro`)}`,
      '    environment:',
      ...Object.entries(env).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`),
      '    healthcheck:',
      '      interval: 1s',
      '      timeout: 5s',
      '      start_period: 60s',
      '      retries: 3',
      '',
    ].join('\n');
  }

  compose(...args: string[]): Promise<RunResult> {
    return run(
      'docker-compose',
      [
        '-p',
        this.project,
        '-f',
        path.join(this.deployDir, 'compose.yaml'),
        '-f',
        path.join(this.deployDir, 'compose.test.yaml'),
        ...args,
      ],
      {
        cwd: this.deployDir,
        env: {
          BERTH_IMAGE: this.options.image,
          BERTH_BIND: '127.0.0.1',
          BERTH_PORT: String(this.port),
        },
      },
    );
  }

  /** berth's container id. */
  async containerId(): Promise<string> {
    const id = (await this.compose('ps', '-q', 'berth')).stdout.trim();
    if (id === '') throw new Error(`no berth container in project ${this.project}`);
    return id;
  }

  /** `berth …` inside berth's container; any exit code. */
  async berth(...args: string[]): Promise<RunResult> {
    return run('docker', ['exec', await this.containerId(), 'berth', ...args], {
      allowFailure: true,
    });
  }

  async logs(): Promise<string> {
    const result = await this.compose('logs', '--no-color', '--tail', '200', 'berth').catch(
      (err: unknown) => ({ stdout: String(err), stderr: '' }),
    );
    return result.stdout + result.stderr;
  }

  /**
   * Takes berth's project down (volume included), then the stacks it deployed: in that order,
   * or berth would repair a stack's removed containers.
   */
  async down(stacks: string[]): Promise<void> {
    await this.compose('down', '-v', '--remove-orphans', '--timeout', '5').catch(() => undefined);
    await removeProject(this.project).catch(() => undefined);
    for (const stack of stacks) await removeProject(stack).catch(() => undefined);
    await rm(this.deployDir, { recursive: true, force: true });
  }
}
