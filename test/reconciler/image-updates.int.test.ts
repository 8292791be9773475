import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { LABEL } from '../../src/engine/types.js';
import { silentLogger } from '../../src/log.js';
import { createApp } from '../../src/main.js';
import { hashStackFolder } from '../../src/stack/hash.js';
import { imageVersion } from '../../src/stack/image-version.js';
import type { SettingsDefaults } from '../../src/stack/types.js';
import { lockDataDir } from '../../src/state/lock.js';
import { healthcheckYaml } from '../helpers/compose.js';
import { FIXTURE_IMAGE, testDocker } from '../helpers/docker.js';
import { Harness } from '../helpers/harness.js';
import { useRegistry, type TestRegistry } from '../helpers/registry.js';

const registry = useRegistry();

/** One service on `image`; its healthcheck fails in an image that sets BERTH_BROKEN. */
function compose(image: string, updates: boolean): string {
  return [
    ...(updates ? ['x-berth:', '  updates:', '    images: true'] : []),
    'services:',
    '  app:',
    `    image: ${image}`,
    `    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`,
    '    stop_grace_period: 1s',
    // $$: the container's variable, not one Compose interpolates.
    ...healthcheckYaml('[ -z "$$BERTH_BROKEN" ]'),
    '',
  ].join('\n');
}

/** A variant of the fixture image (its config changed by `change`); returns its ID. */
async function variant(docker: Docker, tag: string, change: string): Promise<string> {
  const container = await docker.createContainer({ Image: FIXTURE_IMAGE, Cmd: ['true'] });
  try {
    const [repo, version] = tag.split(':') as [string, string];
    const made = (await container.commit({ repo, tag: version, changes: change })) as {
      Id: string;
    };
    return made.Id;
  } finally {
    await container.remove({ force: true });
  }
}

/** berth opened on the harness's data dir, with the test registry's login in `registries`. */
async function openWithLogin(
  h: Harness,
  reg: TestRegistry,
  defaults: Partial<SettingsDefaults>,
): Promise<ControlPlane> {
  await h.close();
  const lock = await lockDataDir(h.dataDir, { role: 'cli', command: 'test' }, { waitMs: 10_000 });
  h.lock = lock;
  const config = {
    ...h.config({ defaults }),
    registries: [{ server: reg.host, username: reg.username, password: reg.password }],
  };
  h.app = await createApp(config, { logger: silentLogger(), lock });
  return h.app.control;
}

interface Running {
  id: string;
  image: string;
  imageId: string;
  version: string | undefined;
  configHash: string | undefined;
}

async function runningOf(docker: Docker, stack: string): Promise<Running[]> {
  const listed = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL.project}=${stack}`] },
  });
  return Promise.all(
    listed.map(async (c) => {
      const info = await docker.getContainer(c.Id).inspect();
      return {
        id: c.Id,
        image: info.Config.Image,
        imageId: info.Image,
        version: c.Labels[LABEL.stackVersion],
        configHash: c.Labels[LABEL.configHash],
      };
    }),
  );
}

describe('image updates: a new digest behind a tag is a new version', () => {
  let h: Harness | undefined;
  const images: string[] = [];
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
    const docker = testDocker();
    // References first (the fixture keeps its own tag), then the variants by ID.
    for (const image of images.splice(0).reverse()) {
      await docker
        .getImage(image)
        .remove({ force: !image.includes('/') })
        .catch(() => undefined);
    }
  });

  it('redeploys only the stack with updates, pinned; rolls a broken push back and marks it bad', async () => {
    h = await Harness.create();
    const docker = testDocker();
    const reg = registry();
    const suffix = randomBytes(4).toString('hex');
    const repo = `berth-it-${suffix}/app`;
    const ref = reg.ref(`${repo}:latest`);
    const repoRef = ref.slice(0, ref.lastIndexOf(':'));
    const fixtureId = (await docker.getImage(FIXTURE_IMAGE).inspect()).Id;
    const v2Tag = `berth-it-${suffix}/v2:latest`;
    const v3Tag = `berth-it-${suffix}/v3:latest`;
    const v2Id = await variant(docker, v2Tag, 'LABEL dev.berth.test=v2');
    images.push(v2Id, v2Tag);
    const v3Id = await variant(docker, v3Tag, 'ENV BERTH_BROKEN=1');
    images.push(v3Id, v3Tag, ref);

    const v1 = await reg.push(FIXTURE_IMAGE, `${repo}:latest`);
    images.push(`${repoRef}@${v1.digest}`);
    const updating = h.name('upd');
    const fixed = h.name('fix');
    await h.writeStack(updating, compose(ref, true));
    await h.writeStack(fixed, compose(ref, false));
    h.commit('two stacks on one tag');
    const control = await openWithLogin(h, reg, { healthTimeoutMs: 20_000 });

    // First pass: both deploy; only the stack with updates pins the digest.
    const first = await control.reconcile({});
    expect(first.stacks.map((s) => s.result)).toEqual(['deployed', 'deployed']);
    const folder = await hashStackFolder(path.join(h.work, 'stacks', updating));
    const version1 = imageVersion(folder, { [ref]: v1.digest });
    expect(h.store.getStack(updating)?.running).toMatchObject({
      version: version1,
      images: { [ref]: v1.digest },
    });
    const fixedRecord = h.store.getStack(fixed)?.running;
    expect(fixedRecord?.images).toBeUndefined();
    expect(fixedRecord?.version).toBe(await hashStackFolder(path.join(h.work, 'stacks', fixed)));
    const versionFile = await readFile(
      path.join(h.folders.runningDir(updating), 'version.txt'),
      'utf8',
    );
    expect(versionFile).toContain(`image=${ref}@${v1.digest}\n`);
    const [pinned] = await runningOf(docker, updating);
    expect(pinned?.image).toBe(`${repoRef}@${v1.digest}`);
    const fixedBefore = await runningOf(docker, fixed);
    expect(fixedBefore.map((c) => c.image)).toEqual([ref]);

    // Nothing pushed: nothing changes.
    const quiet = await control.reconcile({});
    expect(quiet.stacks.map((s) => s.result)).toEqual(['unchanged', 'unchanged']);

    // A new image under the same tag: the stack with updates follows it, the other stays put.
    const v2 = await reg.push(v2Tag, `${repo}:latest`);
    images.push(`${repoRef}@${v2.digest}`);
    expect(v2.digest).not.toBe(v1.digest);
    const second = await control.reconcile({});
    const byStack = new Map(second.stacks.map((s) => [s.stack, s]));
    expect(byStack.get(updating)?.result).toBe('deployed');
    expect(byStack.get(fixed)?.result).toBe('unchanged');
    const version2 = imageVersion(folder, { [ref]: v2.digest });
    expect(byStack.get(updating)?.version).toBe(version2);
    const [moved] = await runningOf(docker, updating);
    expect(moved).toMatchObject({ imageId: v2Id, version: version2 });
    const fixedAfter = await runningOf(docker, fixed);
    expect(fixedAfter).toEqual(fixedBefore);
    expect(fixedAfter[0]?.imageId).toBe(fixtureId);
    expect(h.store.listDeployments(updating)[0]?.images).toEqual({ [ref]: v2.digest });

    // A broken image: rolled back to the previous digest, its version marked bad.
    const v3 = await reg.push(v3Tag, `${repo}:latest`);
    images.push(`${repoRef}@${v3.digest}`);
    const third = await control.reconcile({ stacks: [updating] });
    const version3 = imageVersion(folder, { [ref]: v3.digest });
    expect(third.stacks[0]).toMatchObject({ result: 'rolled-back', version: version3 });
    expect(h.store.isBad(updating, version3)?.images).toEqual({ [ref]: v3.digest });
    expect(h.store.getStack(updating)?.running).toMatchObject({
      version: version2,
      images: { [ref]: v2.digest },
    });
    const [back] = await runningOf(docker, updating);
    expect(back).toMatchObject({ imageId: v2Id, version: version2 });
    expect(back?.imageId).not.toBe(v3Id);

    // Not tried again while the digest stays the same...
    const deployments = h.store.listDeployments(updating).length;
    const fourth = await control.reconcile({ stacks: [updating] });
    expect(fourth.stacks[0]).toMatchObject({ result: 'skipped-bad', version: version3 });
    expect(h.store.listDeployments(updating)).toHaveLength(deployments);

    // ...and a newer push is.
    await reg.push(FIXTURE_IMAGE, `${repo}:latest`);
    const fifth = await control.reconcile({ stacks: [updating] });
    expect(fifth.stacks[0]).toMatchObject({ result: 'deployed', version: version1 });
    const [again] = await runningOf(docker, updating);
    expect(again?.imageId).toBe(fixtureId);

    // A rollback to the good copy brings its own digest back, whatever the tag says now.
    const rolled = await control.rollback(updating, { by: 'test' });
    expect(rolled).toMatchObject({ result: 'deployed', version: version2 });
    expect(h.store.getStack(updating)?.running?.images).toEqual({ [ref]: v2.digest });
    const [restored] = await runningOf(docker, updating);
    expect(restored).toMatchObject({ image: `${repoRef}@${v2.digest}`, imageId: v2Id });
  });
});
