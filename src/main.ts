/**
 * The composition root: the only module that knows the concrete implementations. Everything
 * else works against the interfaces in src/<module>/types.ts and gets its collaborators handed
 * in. A writer (the daemon, or a mutating CLI command with no daemon running) holds the data
 * dir's lock; a reader opens the state read-only and never takes it.
 */
import path from 'node:path';
import { systemClock, type Clock } from './clock.js';
import { StateError } from './errors.js';
import type { BerthConfig } from './config/index.js';
import { DEFAULT_CONCURRENCY } from './config/schema.js';
import type { BackoffPolicy } from './control/backoff.js';
import { createControlPlane, type ControlPlane } from './control/control-plane.js';
import { createDispatcher, type Dispatcher } from './control/dispatcher.js';
import { createEffects, type Effects } from './control/effects.js';
import { createDockerEngine } from './engine/docker-engine.js';
import {
  createRegistryCredentials,
  dockerConfigFile,
  type RegistryCredentials,
} from './engine/registry-credentials.js';
import type { ContainerEngine } from './engine/types.js';
import { createHookRunner } from './hooks/runner.js';
import { withholdFromLogs, type Logger } from './log.js';
import { createNotifier } from './notify/notifier.js';
import { createReconciler, type Reconciler } from './reconciler/reconciler.js';
import { closeAllUnfinished } from './reconciler/record.js';
import type { NamedSource, ReconcilerDeps } from './reconciler/types.js';
import { mayAdopt, resolvePolicy } from './policy/index.js';
import { DECRYPTED_FOLDER } from './stack/decrypted.js';
import { createStackLoader, type StackLoader } from './stack/project.js';
import {
  ageIdentitiesOf,
  readConfigSecrets,
  withoutBerthSecrets,
  type ConfigSecrets,
} from './config/interpolation-env.js';
import { createDecryptor } from './secrets/index.js';
import type { Metrics } from './server/metrics.js';
import { createSourceFromConfig, sourceRootOf, trackedRefOf } from './source/index.js';
import type { StackSource } from './source/types.js';
import { createStackFolders } from './state/folders.js';
import type { DataDirLock } from './state/lock.js';
import { secureDataDir } from './state/private.js';
import { openStateStore } from './state/store.js';
import type { StackFolders, StateStore } from './state/types.js';

export interface App {
  config: BerthConfig;
  logger: Logger;
  clock: Clock;
  engine: ContainerEngine;
  /** One per `sources:` entry, in the config's order. */
  sources: NamedSource[];
  /** @deprecated The first source; use `sources`. */
  source: StackSource;
  store: StateStore;
  folders: StackFolders;
  reconciler: Reconciler;
  dispatcher: Dispatcher;
  effects: Effects;
  /** Every action goes through it. */
  control: ControlPlane;
  /**
   * Stops taking work (running requests get `graceMs`), sends what notifications are left,
   * releases Docker and the database. The caller releases the lock. Safe to call twice.
   */
  close(options?: { graceMs?: number }): Promise<{ aborted: number }>;
}

export interface AppOptions {
  logger: Logger;
  /** The data dir's lock, held by the caller for the app's lifetime. */
  lock: DataDirLock;
  clock?: Clock;
  metrics?: Metrics;
  /** The HTTP client of notifications; the global fetch by default. */
  fetch?: typeof fetch;
  backoff?: BackoffPolicy;
  /** A retry is due (the daemon syncs again). */
  onRetryDue?: () => void;
  /** Overrides which stacks may take over hand-run Compose containers (tests, embedding). */
  adopts?: (stack: string) => boolean;
}

/**
 * Where a source's stacks are read from: its local folder, or its git checkout in the data dir
 * (dataDir/repo for `default`, dataDir/repos/<name> else). The first source when none is named.
 */
export function sourceRoot(config: BerthConfig, name?: string): string {
  const entry = entryOf(config, name);
  return sourceRootOf(entry.source, config.dataDir, entry.name);
}

function entryOf(config: BerthConfig, name: string | undefined): BerthConfig['sources'][number] {
  const entry =
    name === undefined ? config.sources[0] : config.sources.find((s) => s.name === name);
  if (entry === undefined) throw new Error(`no source named ${name ?? '(first)'}`);
  return entry;
}

/** The config's sources as the reconciler uses them: one StackSource per entry. */
export function namedSources(config: BerthConfig, logger: Logger): NamedSource[] {
  return config.sources.map((entry) => ({
    name: entry.name,
    source: createSourceFromConfig(
      { source: entry.source, dataDir: config.dataDir, name: entry.name },
      logger.child({ source: entry.name }),
    ),
    paths: entry.source.paths,
    defaults: entry.defaults,
    ...(entry.prefix === undefined ? {} : { prefix: entry.prefix }),
  }));
}

/** The first source: what code written for one source (`App.source`) still reads. */
function firstOf(sources: NamedSource[]): StackSource {
  const [first] = sources;
  if (first === undefined) throw new Error('no source configured');
  return first.source;
}

/**
 * The compose loader every check and deploy of this config uses. Interpolation sees the
 * environment without berth's variables and secrets; the secrets of `…File` keys and the age
 * identities are read before the first load unless `secrets` holds them already (a file that
 * cannot be read fails that load with its ConfigError). Encrypted files open with the
 * identities of `secrets.age`; their plaintext files go to `<dataDir>/decrypted` when a deploy
 * needs them. Without a config (`validate DIR`), only berth's variable names are withheld and
 * only SOPS's default places give keys.
 */
export function stackLoaderFor(config?: BerthConfig, secrets?: ConfigSecrets): StackLoader {
  let loader: Promise<StackLoader> | undefined;
  const build = async (): Promise<StackLoader> => {
    const read = secrets ?? (config === undefined ? undefined : await readConfigSecrets(config));
    const identities = read?.identities ?? (await ageIdentitiesOf(undefined));
    return createStackLoader({
      env: withoutBerthSecrets(process.env, read),
      decryptor: createDecryptor(identities),
      ...(config === undefined ? {} : { decryptedDir: decryptedDirOf(config) }),
    });
  };
  return async (dir, stack) => {
    loader ??= build();
    return (await loader)(dir, stack);
  };
}

/** Where the plaintext of encrypted files that deploys mount is written. */
function decryptedDirOf(config: BerthConfig): string {
  return path.join(config.dataDir, DECRYPTED_FOLDER);
}

/**
 * The registry credentials of every pull, build and digest look-up: berth's `registries`, then
 * the Docker config.json berth's user would use. Secrets found there are withheld from logs.
 */
function registryCredentialsOf(secrets: ConfigSecrets, logger: Logger): RegistryCredentials {
  return createRegistryCredentials({
    logins: secrets.registries,
    dockerConfig: dockerConfigFile(process.env),
    env: process.env,
    logger,
    onSecret: withholdFromLogs,
  });
}

/** Builds every adapter from the config, the reconciler, the dispatcher and the control plane. */
export async function createApp(config: BerthConfig, options: AppOptions): Promise<App> {
  if (path.resolve(options.lock.dataDir) !== path.resolve(config.dataDir)) {
    throw new Error(`the lock held is for ${options.lock.dataDir}, not ${config.dataDir}`);
  }
  const { logger } = options;
  secureDataDir(config.dataDir, logger);
  const clock = options.clock ?? systemClock;
  // Read before anything can log: also refuses a secret file that cannot be read, up front.
  const secrets = await readConfigSecrets(config);
  withholdFromLogs(secrets.values);
  // From policy.adopt: the stacks whose hand-run Compose containers berth may take over.
  const policy = resolvePolicy(config.policy, config.dataDir);
  const adopts = options.adopts ?? ((stack: string): boolean => mayAdopt(policy, stack));
  const deps: ReconcilerDeps = {
    sources: namedSources(config, logger),
    engine: createDockerEngine({
      logger,
      adopts,
      dataDir: config.dataDir,
      credentials: registryCredentialsOf(secrets, logger),
    }),
    store: openStateStore(path.join(config.dataDir, 'berth.db'), { clock }),
    folders: createStackFolders(config.dataDir),
    hooks: createHookRunner({ logger, env: config.hooks?.env ?? [] }),
    clock,
    logger,
    stagingDir: path.join(config.dataDir, 'staging'),
    loadStack: stackLoaderFor(config, secrets),
    decryptedDir: decryptedDirOf(config),
    policy,
    adopts,
    settings: { prune: config.prune },
  };
  const reconciler = createReconciler(deps);
  const notifier = createNotifier({
    targets: secrets.notify,
    logger,
    fetch: options.fetch,
    now: () => clock.now(),
  });
  const effects = createEffects({
    store: deps.store,
    clock,
    logger,
    notifier,
    metrics: options.metrics,
    backoff: options.backoff,
    onRetryDue: options.onRetryDue,
  });
  const dispatcher = createDispatcher({
    reconciler,
    store: deps.store,
    clock,
    logger,
    concurrency: config.concurrency ?? DEFAULT_CONCURRENCY,
    onOutcome: (event) => effects.outcome(event),
    onStart: (request) => {
      const work = request.work;
      if (work.kind === 'apply' && work.entry.version !== undefined) {
        effects.attempting(request.stack, work.entry.version);
      }
    },
  });
  const control = createControlPlane({
    reconciler,
    dispatcher,
    effects,
    store: deps.store,
    clock,
    logger,
    trackedRef: () => trackedRefOf(config.source),
  });
  let closing: Promise<{ aborted: number }> | undefined;
  async function close(closeOptions: { graceMs?: number } = {}): Promise<{ aborted: number }> {
    const stopped = await control.stop(closeOptions);
    // Whatever did not reach an end is recorded as such, never left RUNNING.
    closeAllUnfinished({ store: deps.store, clock });
    await effects.flush();
    try {
      await deps.engine.close();
    } finally {
      deps.store.close();
    }
    return stopped;
  }
  return {
    config,
    logger,
    clock,
    engine: deps.engine,
    sources: deps.sources,
    source: firstOf(deps.sources),
    store: deps.store,
    folders: deps.folders,
    reconciler,
    dispatcher,
    effects,
    control,
    close: (closeOptions) => (closing ??= close(closeOptions)),
  };
}

/** What read-only commands (status, history, diff) need: they never take the lock. */
export interface Reader {
  config: BerthConfig;
  engine: ContainerEngine;
  sources: NamedSource[];
  /** @deprecated The first source; use `sources`. */
  source: StackSource;
  store: StateStore;
  folders: StackFolders;
  loadStack: StackLoader;
  close(): Promise<void>;
}

export function openReader(config: BerthConfig, options: { logger: Logger }): Reader {
  const engine = createDockerEngine({ logger: options.logger, dataDir: config.dataDir });
  const store = openReadOnlyStore(path.join(config.dataDir, 'berth.db'));
  let closed = false;
  const sources = namedSources(config, options.logger);
  return {
    config,
    engine,
    sources,
    source: firstOf(sources),
    store,
    folders: createStackFolders(config.dataDir),
    loadStack: stackLoaderFor(config),
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

/** The state as it is; a data dir no writer has set up yet reads as holding no stacks. */
function openReadOnlyStore(file: string): StateStore {
  try {
    return openStateStore(file, { readonly: true });
  } catch (err) {
    if (err instanceof StateError && err.reason === 'NoState') return openStateStore(':memory:');
    throw err;
  }
}
