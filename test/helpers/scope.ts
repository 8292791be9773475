import { afterEach } from 'vitest';
import { removeProject, testDocker, uniqueName } from './docker.js';

export interface TestScope {
  /** A unique Compose project name, removed with everything labelled with it after the test. */
  newProject: (prefix: string) => string;
  /** Runs `cleanup` after the test; `first` runs it before those already registered. */
  defer: (cleanup: () => Promise<unknown>, options?: { first?: boolean }) => void;
}

/** What a test file's tests create, undone after each test, failures ignored. */
export function testScope(): TestScope {
  const docker = testDocker();
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => undefined);
  });
  return {
    newProject: (prefix) => {
      const name = uniqueName(prefix);
      cleanups.push(() => removeProject(name, docker));
      return name;
    },
    defer: (cleanup, options = {}) => {
      if (options.first === true) cleanups.unshift(cleanup);
      else cleanups.push(cleanup);
    },
  };
}
