import Docker from 'dockerode';
import { afterAll, beforeAll, inject } from 'vitest';
import { startRegistry, stopRegistry, type RegistryInfo } from './registry-server.js';

/**
 * The test registry from a test file's side: its host and login, and pushing local images to
 * it. The registry itself (test/helpers/registry-server.ts) is started once per run by the
 * global setup.
 */

export type { RegistryInfo };

export interface PushedImage {
  /** `host/repo:tag`, what a compose file names. */
  ref: string;
  /** The manifest digest the registry answered with (`sha256:…`). */
  digest: string;
}

export interface TestRegistry {
  host: string;
  username: string;
  password: string;
  /** `host/repoTag`. */
  ref(repoTag: string): string;
  /**
   * Pushes a local image to `host/repoTag` (tag, push with the registry's credentials, untag
   * again, so nothing is left locally). Pushing again under the same tag replaces it.
   */
  push(localImage: string, repoTag: string): Promise<PushedImage>;
}

/**
 * The registry for a test file: the run's (global setup), or, when the file runs without that
 * setup (a private vitest config), one of its own, started before its tests and stopped after.
 * Call at the top level of the file; the returned function gives the registry in tests.
 */
export function useRegistry(): () => TestRegistry {
  let current: TestRegistry | undefined;
  let own: RegistryInfo | undefined;
  beforeAll(async () => {
    const provided = inject('berthRegistry');
    if (provided === undefined) own = await startRegistry();
    const info = provided ?? own;
    if (info !== undefined) current = testRegistry(info);
  });
  afterAll(async () => {
    if (own !== undefined) await stopRegistry(own);
  });
  return () => {
    if (current === undefined) throw new Error('the test registry is not started yet');
    return current;
  };
}

export function testRegistry(info: RegistryInfo, docker: Docker = new Docker()): TestRegistry {
  const auth = { username: info.username, password: info.password, serveraddress: info.host };
  const ref = (repoTag: string): string => `${info.host}/${repoTag}`;
  return {
    host: info.host,
    username: info.username,
    password: info.password,
    ref,
    async push(localImage: string, repoTag: string): Promise<PushedImage> {
      const target = ref(repoTag);
      const colon = target.lastIndexOf(':');
      const hasTag = colon > target.lastIndexOf('/');
      const repo = hasTag ? target.slice(0, colon) : target;
      const tag = hasTag ? target.slice(colon + 1) : 'latest';
      await docker.getImage(localImage).tag({ repo, tag });
      try {
        const stream = await docker.getImage(`${repo}:${tag}`).push({ authconfig: auth });
        const digest = await pushedDigest(docker, stream);
        return { ref: `${repo}:${tag}`, digest };
      } finally {
        await docker
          .getImage(`${repo}:${tag}`)
          .remove()
          .catch(() => undefined);
      }
    },
  };
}

interface PushMessage {
  error?: string;
  aux?: { Digest?: string };
}

function pushedDigest(docker: Docker, stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, output: PushMessage[]) => {
      if (err !== null) return reject(err);
      const failed = output.find((m) => m.error !== undefined);
      if (failed !== undefined) return reject(new Error(`push failed: ${failed.error}`));
      const digest = output.find((m) => m.aux?.Digest !== undefined)?.aux?.Digest;
      if (digest === undefined) return reject(new Error('push answered no digest'));
      resolve(digest);
    });
  });
}
