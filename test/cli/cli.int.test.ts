import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_IMAGE, removeProject, testDocker, uniqueName } from '../helpers/docker.js';
import { runBerth } from './run-cli.js';

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('berth CLI against Docker and a git repository', () => {
  const stack = uniqueName('cli');
  let tmp: string;
  let work: string;
  let config: string;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'berth-cli-int-'));
    const bare = path.join(tmp, 'remote.git');
    work = path.join(tmp, 'work');
    git(tmp, 'init', '--bare', '--initial-branch=main', bare);
    git(tmp, 'clone', bare, work);
    await mkdir(path.join(work, 'stacks', stack), { recursive: true });
    await writeFile(
      path.join(work, 'stacks', stack, 'compose.yaml'),
      [
        'services:',
        '  app:',
        `    image: ${FIXTURE_IMAGE}`,
        '    command: ["sh", "-c", "touch /tmp/ready && exec sleep 3600"]',
        '    stop_grace_period: 1s',
        '    healthcheck:',
        '      test: ["CMD", "test", "-f", "/tmp/ready"]',
        '      interval: 500ms',
        '      retries: 20',
        '',
      ].join('\n'),
    );
    git(work, 'add', '.');
    git(work, 'commit', '-m', 'one stack');
    git(work, 'push', 'origin', 'HEAD:main');
    config = path.join(tmp, 'berth.yaml');
    await writeFile(
      config,
      [
        'source:',
        '  git:',
        `    url: file://${bare}`,
        '    branch: main',
        '  paths: ["stacks/*"]',
        'dataDir: ./data',
        'defaults:',
        '  healthTimeout: 60s',
        '  stabilityPeriod: 500ms',
        '',
      ].join('\n'),
    );
  });

  afterAll(async () => {
    await removeProject(stack);
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  // A dozen CLI processes in a row: each start is slow on a loaded two-core machine.
  it(
    'reconciles once, reports a rolled-back version with exit 1, and brings the stack down',
    { timeout: 420_000 },
    async () => {
      const dry = await runBerth([
        'reconcile',
        '--once',
        '--dry-run',
        '--config',
        config,
        '--json',
      ]);
      expect(dry.stderr).toBe('');
      expect(dry.code).toBe(0);
      const plan = JSON.parse(dry.stdout) as {
        dryRun: boolean;
        plan: { subject: string; action: string }[];
      };
      expect(plan.dryRun).toBe(true);
      expect(plan.plan).toContainEqual(
        expect.objectContaining({ subject: stack, action: 'create' }),
      );
      const docker = testDocker();
      const filters = { label: [`com.docker.compose.project=${stack}`] };
      expect(await docker.listContainers({ all: true, filters })).toHaveLength(0);

      const first = await runBerth(['reconcile', '--once', '--config', config, '--json']);
      expect(first.code, first.stderr).toBe(0);
      const pass = JSON.parse(first.stdout) as {
        ok: boolean;
        revision: { commit: string };
        stacks: { stack: string; result: string; version: string }[];
      };
      expect(pass.ok).toBe(true);
      expect(pass.stacks).toContainEqual(expect.objectContaining({ stack, result: 'deployed' }));
      const running = await docker.listContainers({ filters });
      expect(running).toHaveLength(1);

      const again = await runBerth(['reconcile', '--once', '--config', config]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(new RegExp(`^${stack}\\s+unchanged\\b`, 'm'));

      const status = await runBerth(['status', '--config', config, '--json']);
      expect(status.code, status.stderr).toBe(0);
      const rows = (JSON.parse(status.stdout) as { stacks: Record<string, unknown>[] }).stacks;
      const row = rows.find((r) => r.stack === stack);
      expect(row).toMatchObject({
        health: 'healthy',
        containers: { running: 1, total: 1 },
        running: { commit: pass.revision.commit },
        lastDeployment: { result: expect.any(String) as unknown },
      });

      const table = await runBerth(['status', '--config', config]);
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(/^STACK\s+STATE\s+RUNNING\s+GOOD\s+HEALTH/);
      expect(table.stdout).toContain(stack);

      const history = await runBerth(['history', stack, '--verbose', '--config', config, '--json']);
      expect(history.code, history.stderr).toBe(0);
      const deployments = (JSON.parse(history.stdout) as { deployments: { journal: unknown[] }[] })
        .deployments;
      expect(deployments).toHaveLength(1);
      expect(deployments[0]!.journal.length).toBeGreaterThan(0);

      // A version whose healthcheck always fails: rolled back, marked bad, exit 1.
      await writeFile(
        path.join(work, 'stacks', stack, 'compose.yaml'),
        [
          'x-berth:',
          '  healthTimeout: 30s',
          'services:',
          '  app:',
          `    image: ${FIXTURE_IMAGE}`,
          '    command: ["sleep", "3600"]',
          '    stop_grace_period: 1s',
          '    healthcheck:',
          '      test: ["CMD", "false"]',
          '      interval: 500ms',
          '      retries: 1',
          '',
        ].join('\n'),
      );
      git(work, 'commit', '-am', 'broken healthcheck');
      git(work, 'push', 'origin', 'HEAD:main');
      const failed = await runBerth(['reconcile', '--once', '--config', config, '--json']);
      expect(failed.code, failed.stderr).toBe(1);
      const failedPass = JSON.parse(failed.stdout) as {
        ok: boolean;
        stacks: { stack: string; result: string }[];
      };
      expect(failedPass.ok).toBe(false);
      expect(failedPass.stacks).toContainEqual(
        expect.objectContaining({ stack, result: 'rolled-back' }),
      );
      const afterRollback = JSON.parse(
        (await runBerth(['status', '--config', config, '--json'])).stdout,
      ) as { stacks: { stack: string; badVersions: number; running?: { commit: string } }[] };
      expect(afterRollback.stacks.find((r) => r.stack === stack)).toMatchObject({
        badVersions: 1,
        running: { commit: pass.revision.commit },
      });
      const unmark = await runBerth(['unmark', stack, '--config', config, '--json']);
      expect(unmark.code, unmark.stderr).toBe(0);
      expect(JSON.parse(unmark.stdout)).toMatchObject({ stack, cleared: 1 });

      const firstVersion = pass.stacks.find((s) => s.stack === stack)!.version;
      const rollback = await runBerth([
        'rollback',
        stack,
        '--to',
        firstVersion.slice(0, 12),
        '--config',
        config,
        '--json',
      ]);
      expect(rollback.code, rollback.stderr).toBe(0);
      expect(JSON.parse(rollback.stdout)).toMatchObject({ ok: true, stack, version: firstVersion });

      const unknown = await runBerth(['history', 'no-such-stack', '--config', config]);
      expect(unknown.code).toBe(2);

      const down = await runBerth(['down', stack, '--config', config]);
      expect(down.code, down.stderr).toBe(0);
      expect(await docker.listContainers({ all: true, filters })).toHaveLength(0);
    },
  );
});
