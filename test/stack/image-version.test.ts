import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ComposeProject, ServiceConfig } from '../../src/compose/types.js';
import {
  imageVersion,
  pinImages,
  pinnedRef,
  repositoryOf,
  trackedImages,
} from '../../src/stack/image-version.js';
import { bareService } from '../helpers/compose.js';

const FOLDER = 'a'.repeat(64);
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

function project(services: Record<string, Partial<ServiceConfig>>): ComposeProject {
  return {
    name: 'web',
    workingDir: '/stacks/web',
    configFiles: ['/stacks/web/compose.yaml'],
    services: Object.fromEntries(
      Object.entries(services).map(([name, s]) => [name, bareService(name, s)]),
    ),
    networks: {},
    volumes: {},
    secrets: {},
    configs: {},
    extensions: {},
  };
}

describe('imageVersion', () => {
  it('is the folder hash itself when nothing is pinned', () => {
    expect(imageVersion(FOLDER, {})).toBe(FOLDER);
  });

  it('is SHA-256 over the folder hash and the sorted "<ref> <digest>" lines, in hex', () => {
    const expected = createHash('sha256')
      .update(`${FOLDER}\nalpha:1 ${D2}\nregistry.local:5000/app:latest ${D1}\n`)
      .digest('hex');
    const version = imageVersion(FOLDER, {
      'registry.local:5000/app:latest': D1,
      'alpha:1': D2,
    });
    expect(version).toBe(expected);
    expect(version).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with a digest, a reference or the folder, and not with key order', () => {
    const base = imageVersion(FOLDER, { 'app:latest': D1, 'db:16': D2 });
    expect(imageVersion(FOLDER, { 'db:16': D2, 'app:latest': D1 })).toBe(base);
    expect(imageVersion(FOLDER, { 'app:latest': D2, 'db:16': D2 })).not.toBe(base);
    expect(imageVersion(FOLDER, { 'app:stable': D1, 'db:16': D2 })).not.toBe(base);
    expect(imageVersion('b'.repeat(64), { 'app:latest': D1, 'db:16': D2 })).not.toBe(base);
  });
});

describe('repositoryOf and pinnedRef', () => {
  it.each([
    ['busybox', 'busybox'],
    ['busybox:1.36', 'busybox'],
    ['library/busybox:latest', 'library/busybox'],
    ['127.0.0.1:5000/team/app', '127.0.0.1:5000/team/app'],
    ['127.0.0.1:5000/team/app:v2', '127.0.0.1:5000/team/app'],
    [`registry.local/app:v1@${D1}`, 'registry.local/app'],
  ])('%s → %s', (ref, repo) => {
    expect(repositoryOf(ref)).toBe(repo);
  });

  it('pins <repo>@<digest>, dropping the tag', () => {
    expect(pinnedRef('127.0.0.1:5000/team/app:latest', D1)).toBe(`127.0.0.1:5000/team/app@${D1}`);
    expect(pinnedRef('busybox', D2)).toBe(`busybox@${D2}`);
  });
});

describe('trackedImages', () => {
  it('takes tagged images that are pulled, once each, sorted', () => {
    const refs = trackedImages(
      project({
        web: { image: 'reg.local/web:latest' },
        worker: { image: 'reg.local/web:latest', pullPolicy: 'always' },
        cache: { image: 'redis' },
      }),
    );
    expect(refs).toEqual(['redis', 'reg.local/web:latest']);
  });

  it('leaves out digests, builds, images something builds, and pull_policy never or build', () => {
    const build = { context: '/stacks/web', dockerfile: 'Dockerfile' } as ServiceConfig['build'];
    const refs = trackedImages(
      project({
        pinned: { image: `reg.local/pinned@${D1}` },
        built: { image: 'reg.local/built:dev', build },
        user: { image: 'reg.local/built:dev' },
        never: { image: 'reg.local/never:1', pullPolicy: 'never' },
        buildPolicy: { image: 'reg.local/bp:1', pullPolicy: 'build' },
        noImage: { image: undefined, build },
      }),
    );
    expect(refs).toEqual([]);
  });
});

describe('pinImages', () => {
  it('replaces each pinned service image by <repo>@<digest> and keeps the rest', () => {
    const original = project({
      web: { image: 'reg.local/web:latest' },
      worker: { image: 'reg.local/web:latest' },
      cache: { image: 'redis:7' },
    });
    const pinned = pinImages(original, { 'reg.local/web:latest': D1 });
    expect(pinned.services.web?.image).toBe(`reg.local/web@${D1}`);
    expect(pinned.services.worker?.image).toBe(`reg.local/web@${D1}`);
    expect(pinned.services.cache).toBe(original.services.cache);
    // The loaded project is not changed in place.
    expect(original.services.web?.image).toBe('reg.local/web:latest');
  });

  it('returns the same project without pins, and never pins an image the registry is not asked for', () => {
    const original = project({
      web: { image: 'reg.local/web:latest', pullPolicy: 'never' },
    });
    expect(pinImages(original, {})).toBe(original);
    expect(pinImages(original, { 'reg.local/web:latest': D1 })).toBe(original);
  });
});
