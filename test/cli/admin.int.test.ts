import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthcheckYaml } from '../helpers/compose.js';
import { FIXTURE_IMAGE, removeProject, testDocker, uniqueName } from '../helpers/docker.js';
import { runBerth } from './run-cli.js';

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function appContainer(stack: string): Promise<{ id: string; state: string }> {
  const [c] = await testDocker().listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${stack}`] },
  });
  if (c === undefined) throw new Error(`no container for ${stack}`);
  return { id: c.Id, state: c.State };
}

describe('berth diff, suspend and resume (CLI against Docker and git)', () => {
  const stack = uniqueName('cli-admin');
  let tmp: string;
  let config: string;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'berth-cli-admin-'));
    const bare = path.join(tmp, 'remote.git');
    const work = path.join(tmp, 'work');
    git(tmp, 'init', '--bare', '--initial-branch=main', bare);
    git(tmp, 'clone', bare, work);
    await mkdir(path.join(work, 'stacks', stack), { recursive: true });
    await writeFile(
      path.join(work, 'stacks', stack, 'compose.yaml'),
      [
        'services:',
        '  app:',
        `    image: ${FIXTURE_IMAGE}`,
        '    command: ["sh", "-c", "trap \'exit 0\' TERM; sleep 3600 & wait"]',
        '    stop_grace_period: 1s',
        ...healthcheckYaml('true'),
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
        `dataDir: ${path.join(tmp, 'data')}`,
        'defaults:',
        '  healthTimeout: 60s',
        '  stabilityPeriod: 500ms',
        '',
      ].join('\n'),
    );
    const first = await runBerth(['reconcile', '--once', '--config', config]);
    expect(first.code).toBe(0);
  });

  afterAll(async () => {
    await removeProject(stack);
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it('diff exits 0 in sync and 1 with the drifted container named', async () => {
    const clean = await runBerth(['diff', stack, '--config', config]);
    expect(clean.stderr).toBe('');
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(new RegExp(`^STACK\\s+STATUS.*\\n${stack}\\s+in-sync`));

    const { id } = await appContainer(stack);
    await testDocker().getContainer(id).kill();
    const deadline = Date.now() + 30_000;
    while ((await appContainer(stack)).state !== 'exited' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }

    const drifted = await runBerth(['diff', '--config', config]);
    expect(drifted.code).toBe(1);
    expect(drifted.stdout).toContain(`${stack}  differs`);
    expect(drifted.stdout).toContain(`start ${stack}-app-1: exited: up to date, started again`);

    const json = await runBerth(['diff', stack, '--json', '--config', config]);
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout) as {
      differs: boolean;
      stacks: {
        stack: string;
        status: string;
        containers: { subject: string; start?: boolean }[];
      }[];
    };
    expect(doc.differs).toBe(true);
    expect(doc.stacks).toEqual([
      expect.objectContaining({
        stack,
        status: 'differs',
        containers: [expect.objectContaining({ subject: `${stack}-app-1`, start: true })],
      }),
    ]);
  });

  it('suspend keeps the drift through a pass; resume lets the next pass repair it', async () => {
    const suspend = await runBerth(['suspend', stack, '--json', '--config', config], {
      env: { USER: 'alice' },
    });
    expect(suspend.code).toBe(0);
    expect(JSON.parse(suspend.stdout)).toMatchObject({
      stack,
      suspended: true,
      changed: true,
      by: 'cli:alice',
    });

    const pass = await runBerth(['reconcile', '--once', '--config', config]);
    expect(pass.code).toBe(0);
    expect((await appContainer(stack)).state).toBe('exited');

    const resume = await runBerth(['resume', stack, '--config', config]);
    expect(resume.code).toBe(0);
    expect(resume.stdout).toBe(`${stack}: resumed; the next pass reconciles it\n`);
    const again = await runBerth(['reconcile', '--once', '--config', config]);
    expect(again.code).toBe(0);
    expect((await appContainer(stack)).state).toBe('running');
  });

  it('suspend or diff of an unknown stack is a usage error', async () => {
    const run = await runBerth(['suspend', 'no-such-stack', '--config', config]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('no-such-stack');
    const diff = await runBerth(['diff', 'no-such-stack', '--config', config]);
    expect(diff.code).toBe(2);
  });
});
