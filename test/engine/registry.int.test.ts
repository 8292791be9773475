import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import type { ServiceConfig } from '../../src/compose/types.js';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import {
  createRegistryCredentials,
  type RegistryCredentialsOptions,
} from '../../src/engine/registry-credentials.js';
import type { ContainerEngine } from '../../src/engine/types.js';
import { EngineError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { FIXTURE_IMAGE, testDocker, uniqueName } from '../helpers/docker.js';
import { useRegistry, type TestRegistry } from '../helpers/registry.js';
import { testScope } from '../helpers/scope.js';
import { project, service } from './fixtures.js';

const docker = testDocker();
const scope = testScope();
const registry = useRegistry();

/** An engine with these credentials (and no others: never the user's own Docker config). */
function engineWith(options: RegistryCredentialsOptions): ContainerEngine {
  return createDockerEngine({
    logger: silentLogger(),
    credentials: createRegistryCredentials(options),
  });
}

function berthLogin(reg: TestRegistry, password = reg.password): RegistryCredentialsOptions {
  return { logins: [{ server: reg.host, username: reg.username, password }] };
}

/** The fixture image pushed under a fresh repository; the local copy a pull makes is removed. */
async function pushed(tag = 'v1'): Promise<{ ref: string; digest: string }> {
  const image = await registry().push(FIXTURE_IMAGE, `${uniqueName('reg')}/app:${tag}`);
  scope.defer(() =>
    docker
      .getImage(image.ref)
      .remove()
      .catch(() => undefined),
  );
  return image;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-registry-int-'));
  scope.defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A local image unlike the fixture (a label of its own), removed after the test. */
async function otherImage(): Promise<string> {
  const tag = `${uniqueName('regimg')}:latest`;
  const tar = pack();
  tar.entry({ name: 'Dockerfile' }, `FROM ${FIXTURE_IMAGE}\nLABEL berth.test=${tag}\n`);
  tar.finalize();
  const stream = await docker.buildImage(tar as unknown as NodeJS.ReadableStream, { t: tag });
  await new Promise((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, out: unknown) =>
      err === null ? resolve(out) : reject(err),
    ),
  );
  scope.defer(() => docker.getImage(tag).remove({ force: true }));
  return tag;
}

async function runningImage(engine: ContainerEngine, name: string): Promise<string | undefined> {
  const observed = await engine.observe(name);
  return observed.services.app?.containers[0]?.image;
}

function pulling(ref: string, overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return service('app', { image: ref, pullPolicy: 'always', ...overrides });
}

describe('private registries', () => {
  it("pulls with the credentials of berth's registries", async () => {
    const name = scope.newProject('reg-own');
    const { ref } = await pushed();
    const engine = engineWith(berthLogin(registry()));
    await engine.apply(project(name, [pulling(ref)]));
    expect(await runningImage(engine, name)).toBe(ref);
  });

  it('pulls with the credentials of a Docker config.json', async () => {
    const name = scope.newProject('reg-config');
    const reg = registry();
    const { ref } = await pushed();
    const dir = await tempDir();
    const configFile = path.join(dir, 'config.json');
    const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    // A store whose helper is not installed falls through to auths, as the docker CLI's does.
    await writeFile(
      configFile,
      JSON.stringify({ credsStore: 'berth-not-installed', auths: { [reg.host]: { auth } } }),
    );
    const engine = engineWith({ dockerConfig: configFile });
    await engine.apply(project(name, [pulling(ref, { pullPolicy: 'missing' })]));
    expect(await runningImage(engine, name)).toBe(ref);
  });

  it('refuses wrong or missing credentials with RegistryAuthFailed, never showing a password', async () => {
    const name = scope.newProject('reg-wrong');
    const reg = registry();
    const { ref } = await pushed();
    const wrong = `wrong-${uniqueName('pw')}`;
    for (const [options, used] of [
      [berthLogin(reg, wrong), "credentials from berth's config (registries)"],
      [{}, `no credentials for ${reg.host} were found`],
    ] as const) {
      const err = await engineWith(options)
        .apply(project(name, [pulling(ref)]))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EngineError);
      const error = err as EngineError;
      expect(error.reason).toBe('RegistryAuthFailed');
      expect(error.transient).toBe(false);
      expect(error.place).toMatchObject({ stack: name, service: 'app' });
      expect(error.message).toContain(`registry ${reg.host}`);
      expect(error.message).toContain(ref);
      expect(error.message).toContain(`stack ${name}`);
      expect(error.message).toContain(used);
      expect(error.message).toContain("berth's config (registries)");
      expect(error.message).not.toContain(wrong);
      expect(error.message).not.toContain(reg.password);
    }
    expect((await docker.listContainers({ all: true, filters: { name: [name] } })).length).toBe(0);
  });

  it('builds from a base image in the registry with its credentials', async () => {
    const denied = scope.newProject('reg-build-denied');
    const name = scope.newProject('reg-build');
    const { ref: base } = await pushed();
    const context = await tempDir();
    await writeFile(path.join(context, 'Dockerfile'), `ARG BASE\nFROM \${BASE}\nRUN true\n`);
    const built = uniqueName('regbuild');
    scope.defer(() =>
      docker
        .getImage(built)
        .remove({ force: true })
        .catch(() => undefined),
    );
    const app = service('app', {
      image: built,
      pullPolicy: 'build',
      build: { context, dockerfile: 'Dockerfile', args: { BASE: base } },
    });
    const err = await engineWith({})
      .apply(project(denied, [app]))
      .catch((e: unknown) => e);
    expect((err as EngineError).reason).toBe('RegistryAuthFailed');
    expect((err as EngineError).message).toContain(base);

    const engine = engineWith(berthLogin(registry()));
    await engine.apply(project(name, [app]));
    expect(await runningImage(engine, name)).toBe(built);
  });

  it('resolves the digest of a tag, and a new one once another image is pushed under it', async () => {
    const reg = registry();
    const first = await pushed('latest');
    const engine = engineWith(berthLogin(reg));
    expect(await engine.resolveDigest(first.ref)).toBe(first.digest);

    const second = await reg.push(await otherImage(), first.ref.slice(reg.host.length + 1));
    expect(second.digest).not.toBe(first.digest);
    expect(await engine.resolveDigest(first.ref)).toBe(second.digest);

    expect(await engine.resolveDigest(`${first.ref}@${first.digest}`)).toBeUndefined();
    expect(await engine.resolveDigest(reg.ref(`${uniqueName('none')}/app:v1`))).toBeUndefined();
    // Built locally, never in a registry: nothing to ask (and no network to ask it over).
    expect(await engine.resolveDigest(FIXTURE_IMAGE)).toBeUndefined();

    const err = await engineWith(berthLogin(reg, 'not-the-password'))
      .resolveDigest(first.ref, { stack: 'web' })
      .catch((e: unknown) => e);
    expect((err as EngineError).reason).toBe('RegistryAuthFailed');
    expect((err as EngineError).message).toContain(`registry ${reg.host}`);
    expect((err as EngineError).message).toContain('stack web');
    expect((err as EngineError).message).not.toContain('not-the-password');
  });
});
