import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProject } from '../../src/compose/load.js';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { silentLogger } from '../../src/log.js';
import { removeProject, testDocker, uniqueName } from '../helpers/docker.js';
import { compareViews, projectView, type Snapshot } from './normalize.js';

/**
 * Deploys every compose file under corpus/ twice, once with berth and once with Debian's
 * docker-compose 1.29, and compares what `docker inspect` reports container by container.
 * The differences v1 and v2 are known to have are listed (with reasons) in ALLOWED in
 * normalize.ts; anything else is a mapping bug in berth.
 *
 * Fields docker-compose 1.29 cannot express are not in the corpus and are covered by unit
 * tests (container-spec, loader): healthcheck start_interval, depends_on required/restart,
 * `!reset`/`!override`, `${VAR:+alternative}`, long-syntax port host_ip, bind
 * create_host_path, volume subpath, tmpfs mode in long syntax, deploy.resources.limits.pids,
 * configs (1.29 ignores them outside swarm), secrets and configs from `environment:` or
 * `content:`, and network priority. `privileged: true` is left out because such containers
 * cannot start in the CI sandbox.
 */

const run = promisify(execFile);
const corpusDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'corpus');
const cases = readdirSync(corpusDir, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

/**
 * Cases whose two deployments cannot coexist (a fixed container_name, a fixed subnet):
 * deployed one after the other, each removed before the other starts.
 */
const EXCLUSIVE = new Set(['container-name', 'ipv4-address']);

const docker = testDocker();
const created = new Set<string>();

async function deployWithBerth(dir: string, project: string): Promise<void> {
  const { project: loaded } = await loadProject(dir, { projectName: project });
  const engine = createDockerEngine({ logger: silentLogger() });
  try {
    await engine.apply(loaded);
  } finally {
    await engine.close();
  }
}

/** Without `-f`: docker-compose finds the compose file and its override file, as berth does. */
async function deployWithCompose(dir: string, project: string): Promise<void> {
  await run('/usr/bin/docker-compose', ['-p', project, '--project-directory', dir, 'up', '-d'], {
    cwd: dir,
    timeout: 120_000,
  });
}

async function snapshot(project: string): Promise<Snapshot> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${project}`] },
  });
  const containers = await Promise.all(list.map((c) => docker.getContainer(c.Id).inspect()));
  return { project, containers };
}

/** Deploys, takes the snapshot, and removes the project whatever happened. */
async function deployAndSnapshot(
  deploy: (dir: string, project: string) => Promise<void>,
  dir: string,
  project: string,
  keep: boolean,
): Promise<Snapshot> {
  created.add(project);
  try {
    await deploy(dir, project);
    return await snapshot(project);
  } finally {
    if (!keep) await removeProject(project, docker);
  }
}

afterAll(async () => {
  await Promise.all([...created].map((p) => removeProject(p, docker)));
});

describe.concurrent('compatibility with docker-compose', () => {
  it('has a corpus of at least 20 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });

  for (const name of cases) {
    it(name, async () => {
      const dir = path.join(corpusDir, name);
      const berthProject = uniqueName(`cb-${name}`.slice(0, 20));
      const v1Project = uniqueName(`cv-${name}`.slice(0, 20));
      let berth: Snapshot;
      let v1: Snapshot;
      try {
        if (EXCLUSIVE.has(name)) {
          berth = await deployAndSnapshot(deployWithBerth, dir, berthProject, false);
          v1 = await deployAndSnapshot(deployWithCompose, dir, v1Project, false);
        } else {
          const [b, v] = await Promise.allSettled([
            deployAndSnapshot(deployWithBerth, dir, berthProject, true),
            deployAndSnapshot(deployWithCompose, dir, v1Project, true),
          ]);
          if (b.status === 'rejected') throw b.reason;
          if (v.status === 'rejected') throw v.reason;
          berth = b.value;
          v1 = v.value;
        }
      } finally {
        await Promise.all([removeProject(berthProject, docker), removeProject(v1Project, docker)]);
      }
      expect(berth.containers.length).toBeGreaterThan(0);
      expect(compareViews(projectView(berth), projectView(v1))).toEqual([]);
    });
  }
});
