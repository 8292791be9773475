import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ComposeProject, ServiceConfig } from '../../src/compose/types.js';
import type { ContainerEngine } from '../../src/engine/types.js';
import { EngineError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { DIGEST_CONCURRENCY, createImageUpdates } from '../../src/reconciler/image-updates.js';
import { imageVersion } from '../../src/stack/image-version.js';
import type { StackLoader } from '../../src/stack/project.js';
import type { DeploySettings, DiscoveredStack, Discovery } from '../../src/stack/types.js';
import type { VersionRef } from '../../src/state/types.js';
import { bareService } from '../helpers/compose.js';
import { DEFAULTS } from '../helpers/harness.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const APP = '127.0.0.1:5000/team/app:latest';
const DB = '127.0.0.1:5000/team/db:16';
const LOCAL = 'berth-fixture/busybox:latest';

function settings(images: boolean): DeploySettings {
  return { ...DEFAULTS, compose: {}, updates: { images }, origin: 'defaults' };
}

function stack(name: string, images: boolean, version = `${name}-folder`): DiscoveredStack {
  return {
    name,
    dir: `/checkout/stacks/${name}`,
    relPath: `stacks/${name}`,
    composeFiles: [`/checkout/stacks/${name}/compose.yaml`],
    version,
    settings: settings(images),
  };
}

/** A world of stacks (name → images its services use) and a registry (ref → digest or error). */
function world(
  stacks: Record<string, Record<string, Partial<ServiceConfig>>>,
  registry: Record<string, string | undefined | Error>,
): {
  loadStack: StackLoader;
  engine: ContainerEngine;
  loads: string[];
  asked: string[];
  maxInFlight: () => number;
  logs: string[];
} {
  const loads: string[] = [];
  const asked: string[] = [];
  const logs: string[] = [];
  let inFlight = 0;
  let most = 0;
  const loadStack: StackLoader = (_dir, name) => {
    loads.push(name);
    const services = stacks[name];
    if (services === undefined) return Promise.reject(new Error(`${name}: no compose file`));
    const project = {
      name,
      services: Object.fromEntries(
        Object.entries(services).map(([s, o]) => [s, bareService(s, o)]),
      ),
    } as unknown as ComposeProject;
    return Promise.resolve({ project, warnings: [] } as unknown as Awaited<
      ReturnType<StackLoader>
    >);
  };
  const engine = {
    async resolveDigest(ref: string): Promise<string | undefined> {
      asked.push(ref);
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      const answer = registry[ref];
      if (answer instanceof Error) throw answer;
      return answer;
    },
  } as unknown as ContainerEngine;
  return { loadStack, engine, loads, asked, maxInFlight: () => most, logs };
}

function updatesFor(w: ReturnType<typeof world>): ReturnType<typeof createImageUpdates> {
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      w.logs.push(chunk.toString());
      done();
    },
  });
  return createImageUpdates({
    engine: w.engine,
    loadStack: w.loadStack,
    logger: createLogger({ level: 'warn', destination }),
  });
}

const all = (): boolean => true;
const none = new Map<string, VersionRef | undefined>();

describe('image updates in the pass planner', () => {
  it('asks nothing and changes nothing when no stack has image updates', async () => {
    const w = world({ web: { app: { image: APP } } }, { [APP]: D1 });
    const discovery: Discovery = { stacks: [stack('web', false)], broken: [] };
    const pinned = await updatesFor(w).pin(discovery, none, all);
    expect(pinned.discovery).toBe(discovery);
    expect(pinned.images.size).toBe(0);
    expect(w.loads).toEqual([]);
    expect(w.asked).toEqual([]);
  });

  it('gives each stack with updates the version of its folder and digests, asking each image once', async () => {
    const w = world(
      {
        web: { app: { image: APP }, db: { image: DB }, tool: { image: LOCAL } },
        api: { app: { image: APP } },
        plain: { app: { image: APP } },
      },
      { [APP]: D1, [DB]: D2, [LOCAL]: undefined },
    );
    const plain = stack('plain', false);
    const discovery: Discovery = {
      stacks: [stack('web', true), stack('api', true), plain],
      broken: [],
    };
    const pinned = await updatesFor(w).pin(discovery, none, all);
    expect(w.asked.sort()).toEqual([DB, APP, LOCAL].sort());
    const [web, api, kept] = pinned.discovery.stacks;
    expect(web?.version).toBe(imageVersion('web-folder', { [APP]: D1, [DB]: D2 }));
    expect(api?.version).toBe(imageVersion('api-folder', { [APP]: D1 }));
    expect(kept).toBe(plain);
    // A local-only image is the folder's: not pinned, not in the version.
    expect(pinned.images.get('web')).toEqual({ [APP]: D1, [DB]: D2 });
    expect(pinned.images.get('api')).toEqual({ [APP]: D1 });
    expect(pinned.images.has('plain')).toBe(false);
  });

  it('keeps the folder hash as the version of a stack whose images are all local or built', async () => {
    const build = { context: '/x', dockerfile: 'Dockerfile' } as ServiceConfig['build'];
    const w = world(
      { web: { tool: { image: LOCAL }, built: { image: 'me/app:dev', build } } },
      { [LOCAL]: undefined },
    );
    const pinned = await updatesFor(w).pin({ stacks: [stack('web', true)], broken: [] }, none, all);
    expect(pinned.discovery.stacks[0]?.version).toBe('web-folder');
    expect(pinned.images.size).toBe(0);
    expect(w.asked).toEqual([LOCAL]);
  });

  it('leaves stacks the pass does not deploy alone', async () => {
    const w = world({ web: { app: { image: APP } } }, { [APP]: D1 });
    const web = stack('web', true);
    const pinned = await updatesFor(w).pin({ stacks: [web], broken: [] }, none, () => false);
    expect(pinned.discovery.stacks).toEqual([web]);
    expect(w.asked).toEqual([]);
  });

  it('makes a stack whose image cannot be resolved broken, naming the stack and image, and goes on', async () => {
    const refused = new EngineError('RegistryAuthFailed', 'registry 127.0.0.1:5000 refused');
    const w = world(
      { web: { app: { image: APP } }, api: { db: { image: DB } } },
      { [APP]: refused, [DB]: D2 },
    );
    const pinned = await updatesFor(w).pin(
      { stacks: [stack('web', true), stack('api', true)], broken: [] },
      none,
      all,
    );
    expect(pinned.discovery.stacks.map((s) => s.name)).toEqual(['api']);
    const [broken] = pinned.discovery.broken;
    expect(broken?.name).toBe('web');
    expect(broken?.version).toBeUndefined();
    expect(broken?.error.reason).toBe('RegistryAuthFailed');
    expect(broken?.error.place).toMatchObject({ stack: 'web', field: 'image' });
    expect(broken?.error.message).toContain(APP);
    expect(broken?.error.cause).toBe(refused);
  });

  it('keeps the running digests of an unchanged folder when the registry does not answer', async () => {
    const down = new EngineError('ImageUnavailable', 'connection refused', { transient: true });
    const w = world({ web: { app: { image: APP }, db: { image: DB } } }, { [APP]: down, [DB]: D2 });
    const runningImages = { [APP]: D1, [DB]: D2 };
    const running = new Map([
      [
        'web',
        { version: imageVersion('web-folder', runningImages), commit: 'c1', images: runningImages },
      ],
    ]);
    const pinned = await updatesFor(w).pin(
      { stacks: [stack('web', true)], broken: [] },
      running,
      all,
    );
    expect(pinned.discovery.broken).toEqual([]);
    expect(pinned.discovery.stacks[0]?.version).toBe(running.get('web')?.version);
    expect(pinned.images.get('web')).toEqual(runningImages);
    expect(w.logs.join('')).toContain('keeping the running digest');
  });

  it('keeps the running digest of an unchanged folder when the registry lost the tag', async () => {
    const w = world({ web: { app: { image: APP } } }, { [APP]: undefined });
    const runningImages = { [APP]: D1 };
    const version = imageVersion('web-folder', runningImages);
    const running = new Map([['web', { version, commit: 'c1', images: runningImages }]]);
    const pinned = await updatesFor(w).pin(
      { stacks: [stack('web', true)], broken: [] },
      running,
      all,
    );
    expect(pinned.discovery.stacks[0]?.version).toBe(version);
    expect(w.logs.join('')).toContain('image tag not found in its registry');
  });

  it('does not keep the running digests once the folder changed', async () => {
    const down = new EngineError('ImageUnavailable', 'connection refused', { transient: true });
    const w = world({ web: { app: { image: APP } } }, { [APP]: down });
    const runningImages = { [APP]: D1 };
    const running = new Map([
      [
        'web',
        { version: imageVersion('old-folder', runningImages), commit: 'c1', images: runningImages },
      ],
    ]);
    const pinned = await updatesFor(w).pin(
      { stacks: [stack('web', true)], broken: [] },
      running,
      all,
    );
    expect(pinned.discovery.stacks).toEqual([]);
    expect(pinned.discovery.broken[0]?.error.reason).toBe('ImageUnavailable');
  });

  it('makes a stack whose compose file does not load broken, with its folder version', async () => {
    const w = world({}, {});
    const pinned = await updatesFor(w).pin({ stacks: [stack('web', true)], broken: [] }, none, all);
    expect(pinned.discovery.broken).toMatchObject([{ name: 'web', version: 'web-folder' }]);
  });

  it('loads a folder version once, and asks the registry every pass', async () => {
    const w = world({ web: { app: { image: APP } } }, { [APP]: D1 });
    const updates = updatesFor(w);
    const discovery = { stacks: [stack('web', true)], broken: [] };
    await updates.pin(discovery, none, all);
    await updates.pin(discovery, none, all);
    expect(w.loads).toEqual(['web']);
    expect(w.asked).toEqual([APP, APP]);
  });

  it('asks at most a few registries at once', async () => {
    const refs = Array.from({ length: 30 }, (_, i) => `127.0.0.1:5000/team/app${i}:latest`);
    const w = world(
      { web: Object.fromEntries(refs.map((image, i) => [`s${i}`, { image }])) },
      Object.fromEntries(refs.map((r) => [r, D1])),
    );
    await updatesFor(w).pin({ stacks: [stack('web', true)], broken: [] }, none, all);
    expect(w.asked).toHaveLength(30);
    expect(w.maxInFlight()).toBeLessThanOrEqual(DIGEST_CONCURRENCY);
  });
});
