import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/berth-bin.js';
import { sign, waitFor } from '../helpers/daemon-process.js';
import { FIXTURE_IMAGE, execIn, testDocker, uniqueName } from '../helpers/docker.js';
import {
  buildBerthImage,
  packageVersion,
  removeImage,
  run,
  type BuiltImage,
} from '../helpers/image.js';
import { ComposeBerth, GitRepo, WEBHOOK_SECRET } from './compose-berth.js';

/**
 * berth's image, built from the Dockerfile and run as the README says: docker-compose on
 * deploy/compose.yaml with the Docker socket and a named volume for the data dir. Real image,
 * real Docker, real git. The build takes minutes when nothing is cached.
 */

const BUILD_TIMEOUT = 20 * 60_000;
const DEPLOY_TIMEOUT = 120_000;
const fileStarted = Date.now();
const docker = testDocker();
const image = `berth-test/berth:${randomBytes(4).toString('hex')}`;
let built: BuiltImage | undefined;

beforeAll(async () => {
  built = await buildBerthImage(image);
}, BUILD_TIMEOUT);

afterAll(async () => {
  await removeImage(image);
  if (built === undefined) return;
  const mb = (built.sizeBytes / 1e6).toFixed(0);
  process.stdout.write(
    `[image] base ${built.baseImage} ready in ${(built.baseMs / 1000).toFixed(1)} s; ` +
      `berth image built in ${(built.buildMs / 1000).toFixed(1)} s, ${mb} MB ` +
      `(better-sqlite3 from the mirror: ${built.prebuiltDownloads}); ` +
      `file took ${((Date.now() - fileStarted) / 1000).toFixed(0)} s\n`,
  );
}, 60_000);

it('prints package.json version and carries it as a label', async () => {
  const version = packageVersion();
  const out = await run('docker', ['run', '--rm', image, '--version']);
  expect(out.stdout.trim()).toBe(version);
  const labels = await run('docker', [
    'image',
    'inspect',
    '--format',
    '{{json .Config.Labels}}',
    image,
  ]);
  expect(JSON.parse(labels.stdout) as Record<string, string>).toMatchObject({
    'org.opencontainers.image.title': 'berth',
    'org.opencontainers.image.version': version,
  });
});

it('deploy/compose.yaml is valid for docker-compose as shipped', async () => {
  const env = { BERTH_IMAGE: '', BERTH_BIND: '', BERTH_PORT: '' };
  const out = await run('docker-compose', ['-f', 'deploy/compose.yaml', 'config'], { env });
  const config = parse(out.stdout) as {
    services: { berth: { image: string; ports: string[]; volumes: string[] } };
  };
  expect(config.services.berth.image).toBe('berth:latest');
  expect(config.services.berth.ports).toEqual(['0.0.0.0:8080:7070/tcp']);
  expect(config.services.berth.volumes).toContain('berth-data:/var/lib/berth:rw');
});

/** A long-running busybox service that exits at once on SIGTERM. */
function stackCompose(volumes: string[] = []): string {
  const service: Record<string, unknown> = {
    image: FIXTURE_IMAGE,
    command: ['sh', '-c', "trap 'exit 0' TERM; while :; do sleep 1; done"],
  };
  if (volumes.length > 0) service.volumes = volumes;
  return stringify({ services: { web: service } });
}

/** deploy/berth.yaml as shipped, pointed at the test's repository over file://. */
async function berthConfig(): Promise<string> {
  const config = parse(await readFile(path.join(ROOT, 'deploy', 'berth.yaml'), 'utf8')) as {
    source: { git: Record<string, unknown> };
    [key: string]: unknown;
  };
  config.source.git = { url: 'file:///srv/repo', branch: 'main' };
  config.defaults = { healthTimeout: '60s', stabilityPeriod: '1s' };
  // Only the startup sync and webhooks: a schedule would hide a webhook that does nothing.
  config.schedule = '0 0 1 1 *';
  return stringify(config);
}

interface StackRow {
  stack: string;
  state: string;
  conditions: { type: string; status: string; reason: string; message: string }[];
  containers?: { running: number; total: number };
}

async function statusOf(berth: ComposeBerth, stack: string): Promise<StackRow | undefined> {
  const result = await berth.berth('status', '--json');
  try {
    const status = JSON.parse(result.stdout) as { stacks: StackRow[] };
    return status.stacks.find((s) => s.stack === stack);
  } catch {
    return undefined;
  }
}

/** The stack's `web` container, once it runs. */
async function webContainer(stack: string): Promise<string | undefined> {
  const list = await docker.listContainers({
    filters: {
      label: [`com.docker.compose.project=${stack}`, 'com.docker.compose.service=web'],
      status: ['running'],
    },
  });
  return list[0]?.Id;
}

async function waitForContent(berth: ComposeBerth, stack: string, text: string): Promise<void> {
  try {
    await waitFor(
      async () => {
        const id = await webContainer(stack);
        if (id === undefined) return false;
        // The container listed may stop before the exec: a redeploy is replacing it.
        const seen = await execIn(docker.getContainer(id), ['cat', '/www/index.html']).catch(
          () => '',
        );
        return seen.trim() === text;
      },
      DEPLOY_TIMEOUT,
      `${stack} to serve "${text}"`,
      500,
    );
  } catch (err) {
    const status = await statusOf(berth, stack);
    throw new Error(
      `${(err as Error).message}\nstatus: ${JSON.stringify(status)}\nlogs:\n${(await berth.logs()).slice(-6000)}`,
    );
  }
}

async function waitForReason(berth: ComposeBerth, stack: string, reason: string): Promise<string> {
  try {
    return await waitFor(
      async () =>
        (await statusOf(berth, stack))?.conditions.find((c) => c.reason === reason)?.message,
      DEPLOY_TIMEOUT,
      `${stack} to report ${reason}`,
      1000,
    );
  } catch (err) {
    const status = await statusOf(berth, stack);
    throw new Error(
      `${(err as Error).message}\nstatus: ${JSON.stringify(status)}\nlogs:\n${(await berth.logs()).slice(-6000)}`,
    );
  }
}

async function inspectState(
  id: string,
): Promise<{ Running: boolean; ExitCode: number; Health?: { Status: string } }> {
  return (await docker.getContainer(id).inspect()).State;
}

describe('berth run by docker-compose from deploy/', () => {
  let tmp: string;
  // Data dir on a named volume (compose.yaml as shipped).
  let main: ComposeBerth;
  let repo: GitRepo;
  const web = uniqueName('img-web');
  // Data dir where no mount is (BERTH_DATA_DIR=/tmp/berth-data in berth's container).
  let unmounted: ComposeBerth;
  const bound = uniqueName('img-bound');
  const plain = uniqueName('img-plain');
  const mainProject = uniqueName('img');

  beforeAll(async () => {
    expect(built).toBeDefined();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-image-'));
    const config = await berthConfig();

    repo = await GitRepo.create(path.join(tmp, 'repo'));
    await repo.write({
      [`stacks/${web}/compose.yaml`]: stackCompose(['./index.html:/www/index.html:ro']),
      [`stacks/${web}/index.html`]: 'v1\n',
      // Named like berth's own Compose project: berth must not deploy it.
      [`stacks/${mainProject}/compose.yaml`]: stackCompose(),
    });
    repo.commit('v1');
    main = new ComposeBerth({ project: mainProject, image, dir: tmp, repo, config });

    const other = await GitRepo.create(path.join(tmp, 'repo-unmounted'));
    await other.write({
      [`stacks/${bound}/compose.yaml`]: stackCompose(['./index.html:/www/index.html:ro']),
      [`stacks/${bound}/index.html`]: 'bound\n',
      [`stacks/${plain}/compose.yaml`]: stackCompose(),
    });
    other.commit('v1');
    unmounted = new ComposeBerth({
      project: uniqueName('img-unmounted'),
      image,
      dir: path.join(tmp, 'unmounted'),
      repo: other,
      config,
      environment: { BERTH_DATA_DIR: '/tmp/berth-data' },
    });
    await Promise.all([main.up(), unmounted.up()]);
  }, 300_000);

  afterAll(async () => {
    await Promise.all([main?.down([web, mainProject]), unmounted?.down([bound, plain])]);
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  }, 120_000);

  it('deploys a stack whose relative bind mount reaches its container', async () => {
    await waitForContent(main, web, 'v1');
  });

  it('redeploys on a signed webhook through the published port', async () => {
    await waitForContent(main, web, 'v1');
    await repo.write({ [`stacks/${web}/index.html`]: 'v2\n' });
    const commit = repo.commit('v2');
    const body = JSON.stringify({ ref: 'refs/heads/main', after: commit });
    const res = await fetch(`http://127.0.0.1:${main.port}/webhooks/github`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': sign(WEBHOOK_SECRET, body),
      },
      body,
    });
    expect(res.status).toBe(202);
    await waitForContent(main, web, 'v2');
  });

  it("refuses the stack named like berth's own Compose project and keeps running", async () => {
    const message = await waitForReason(main, mainProject, 'SelfDeployRefused');
    expect(message).toContain(mainProject);
    expect(await webContainer(mainProject)).toBeUndefined();
    expect((await inspectState(await main.containerId())).Running).toBe(true);
  });

  it('refuses a bind mount from a data dir on no mount, and deploys a stack without one', async () => {
    const message = await waitForReason(unmounted, bound, 'PathNotOnMount');
    expect(message).toContain('/tmp/berth-data');
    await waitFor(
      async () => ((await statusOf(unmounted, plain))?.containers?.running ?? 0) > 0,
      DEPLOY_TIMEOUT,
      `${plain} to run`,
      1000,
    );
    expect(await webContainer(bound)).toBeUndefined();
  });

  it('turns healthy, and docker stop ends it within 10 s with exit code 0', async () => {
    const id = await main.containerId();
    await waitFor(
      async () => (await inspectState(id)).Health?.Status === 'healthy',
      90_000,
      'berth container healthy',
      500,
    );
    const started = Date.now();
    await run('docker', ['stop', id]);
    const took = Date.now() - started;
    const state = await inspectState(id);
    expect(state.Running).toBe(false);
    expect(state.ExitCode).toBe(0);
    expect(took).toBeLessThan(10_000);
  });
});
