import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ComposeProject } from '../../src/compose/types.js';
import { serviceConfigHash } from '../../src/engine/hash.js';
import { silentLogger } from '../../src/log.js';
import { projectLoader } from '../../src/reconciler/deploy.js';
import { stageCopy, stagedPins } from '../../src/reconciler/staging.js';
import type { StackLoader } from '../../src/stack/project.js';
import { formatVersionFile } from '../../src/state/folders.js';
import { bareService } from '../helpers/compose.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const PINNED = { version: 'v1', commit: 'c1', images: { 'reg.local/app:latest': D1 } };

describe('staged copies carry the image pins of their version', () => {
  let tmp: string;
  let from: string;
  let staging: string;

  beforeEach(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'berth-staging-'));
    from = path.join(tmp, 'web');
    staging = path.join(tmp, 'staging');
    await mkdir(from);
    await writeFile(path.join(from, 'compose.yaml'), 'services: {}\n');
  });

  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('writes the pins of an apply into the copy’s version.txt', async () => {
    const dir = await stageCopy(staging, 'web', from, { pins: PINNED });
    const text = await readFile(path.join(dir, 'version.txt'), 'utf8');
    expect(text).toBe(formatVersionFile(PINNED));
    expect(await stagedPins(dir, 'v1')).toEqual(PINNED.images);
    expect(await stagedPins(dir, 'v2')).toBeUndefined();
  });

  it('writes nothing for a version without pins', async () => {
    const dir = await stageCopy(staging, 'web', from, { pins: { version: 'v1', commit: 'c1' } });
    await expect(access(path.join(dir, 'version.txt'))).rejects.toThrow();
    expect(await stagedPins(dir, 'v1')).toBeUndefined();
  });

  it('drops berth’s version.txt from a kept copy, unless it pins images', async () => {
    await writeFile(
      path.join(from, 'version.txt'),
      formatVersionFile({ version: 'v0', commit: 'c0' }),
    );
    const plain = await stageCopy(staging, 'web', from, { dropVersionFile: true });
    await expect(access(path.join(plain, 'version.txt'))).rejects.toThrow();

    await writeFile(path.join(from, 'version.txt'), formatVersionFile(PINNED));
    const pinned = await stageCopy(staging, 'web', from, { dropVersionFile: true });
    expect(await stagedPins(pinned, 'v1')).toEqual(PINNED.images);
  });
});

describe('projectLoader deploys the pinned digests', () => {
  let dir: string;
  const project = {
    name: 'web',
    services: {
      app: bareService('app', { image: 'reg.local/app:latest' }),
      side: bareService('side', { image: 'reg.local/side:1' }),
    },
    secrets: {},
    configs: {},
  } as unknown as ComposeProject;
  const loadStack: StackLoader = () =>
    Promise.resolve({ project, warnings: [] } as unknown as Awaited<ReturnType<StackLoader>>);
  const load = projectLoader({ logger: silentLogger(), loadStack });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-pinned-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rewrites each pinned image to <repo>@<digest>', async () => {
    await writeFile(path.join(dir, 'version.txt'), formatVersionFile(PINNED));
    const loaded = await load(dir, 'web');
    expect(loaded.services.app?.image).toBe(`reg.local/app@${D1}`);
    expect(loaded.services.side?.image).toBe('reg.local/side:1');
  });

  it('hands a folder without pins over as loaded: the containers’ config hash stays', async () => {
    await writeFile(
      path.join(dir, 'version.txt'),
      formatVersionFile({ version: 'v', commit: 'c' }),
    );
    const withFile = await load(dir, 'web');
    await rm(path.join(dir, 'version.txt'));
    const without = await load(dir, 'web');
    expect(withFile).toBe(project);
    expect(without).toBe(project);
    const app = project.services.app!;
    expect(serviceConfigHash(withFile, withFile.services.app!)).toBe(
      serviceConfigHash(project, app),
    );
  });
});
