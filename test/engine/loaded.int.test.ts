import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadProject } from '../../src/compose/load.js';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { silentLogger } from '../../src/log.js';
import { FIXTURE_IMAGE, removeProject, testDocker, uniqueName } from '../helpers/docker.js';

const docker = testDocker();
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => undefined);
});

describe('apply of a loaded compose file', () => {
  it('deploys a real compose file and re-applies a fresh load as a no-op', async () => {
    const name = uniqueName('loaded');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-loaded-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    cleanups.push(() => removeProject(name, docker));
    await writeFile(
      path.join(dir, 'compose.yaml'),
      [
        'services:',
        '  db:',
        `    image: ${FIXTURE_IMAGE}`,
        '    command: ["httpd", "-f", "-p", "8080", "-h", "/var/www"]',
        '    stop_grace_period: 0s',
        '    healthcheck:',
        '      test: ["CMD-SHELL", "timeout 2 wget -q -O- http://127.0.0.1:8080/ >/dev/null"]',
        '      interval: 250ms',
        '      retries: 20',
        '  app:',
        `    image: ${FIXTURE_IMAGE}`,
        '    command: ["sleep", "3600"]',
        '    stop_grace_period: 0s',
        '    environment:',
        '      DB: db',
        '    depends_on:',
        '      db:',
        '        condition: service_healthy',
        '',
      ].join('\n'),
    );
    const engine = createDockerEngine({ logger: silentLogger() });
    const first = await loadProject(dir, { projectName: name, env: {} });
    await engine.apply(first.project);
    const report = await engine.waitHealthy(first.project, { timeoutMs: 20_000, stabilityMs: 300 });
    expect(report.outcome).toBe('healthy');
    const again = await loadProject(dir, { projectName: name, env: {} });
    const result = await engine.apply(again.project);
    expect(result.plan.map((e) => e.action)).toEqual(['unchanged', 'unchanged']);
  });
});
