/**
 * The composition root: the only module that knows the concrete implementations.
 * Everything else works against the interfaces in src/<module>/types.ts and gets its
 * collaborators handed in.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { systemClock, type Clock } from './clock.js';
import type { BerthConfig } from './config/index.js';
import { createDockerEngine } from './engine/docker-engine.js';
import type { ContainerEngine } from './engine/types.js';
import { createHookRunner } from './hooks/runner.js';
import type { HookRunner } from './hooks/types.js';
import type { Logger } from './log.js';
import { createReconciler } from './reconciler/index.js';
import type { Reconciler } from './reconciler/types.js';
import { createSourceFromConfig, repoDir } from './source/index.js';
import type { StackSource } from './source/types.js';
import { createStackFolders } from './state/folders.js';
import { openStateStore } from './state/store.js';
import type { StackFolders, StateStore } from './state/types.js';

export interface App {
  config: BerthConfig;
  logger: Logger;
  clock: Clock;
  engine: ContainerEngine;
  source: StackSource;
  store: StateStore;
  folders: StackFolders;
  hooks: HookRunner;
  reconciler: Reconciler;
  /** Releases the Docker connection and the database; safe to call twice. */
  close(): Promise<void>;
}

export interface AppOptions {
  logger: Logger;
  clock?: Clock;
}

/** Where the stacks are read from: the local source folder, or the git checkout in dataDir/repo. */
export function sourceRoot(config: BerthConfig): string {
  return config.source.kind === 'local' ? config.source.path : repoDir(config.dataDir);
}

/** Builds every adapter from the config and hands them to the reconciler. */
export function createApp(config: BerthConfig, options: AppOptions): App {
  const logger = options.logger;
  const clock = options.clock ?? systemClock;
  mkdirSync(config.dataDir, { recursive: true });

  const source = createSourceFromConfig(config, logger);
  const engine = createDockerEngine({ logger });
  const store = openStateStore(path.join(config.dataDir, 'berth.db'), { clock });
  const folders = createStackFolders(config.dataDir);
  const hooks = createHookRunner({ logger });
  const reconciler = createReconciler({
    source,
    engine,
    store,
    folders,
    hooks,
    clock,
    logger,
    settings: {
      paths: config.source.paths,
      defaults: config.defaults,
      prune: config.prune,
    },
  });

  let closed = false;
  return {
    config,
    logger,
    clock,
    engine,
    source,
    store,
    folders,
    hooks,
    reconciler,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await engine.close();
      } finally {
        store.close();
      }
    },
  };
}
