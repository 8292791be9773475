import type { z } from 'zod';
import type { Logger } from '../log.js';

/** Where the stacks come from. Only the git adapter starts git processes. */
export interface SourceRevision {
  /** The commit deployed from (or, for a local folder source, a hash of its state). */
  commit: string;
  /** The ref that resolved to the commit: a branch name or a tag. */
  ref: string;
  /** Absolute path of the checkout's root. */
  dir: string;
}

export interface StackSource {
  /**
   * Bring the checkout up to date with the tracked ref and return what it holds now.
   * When the remote is unreachable it throws a SourceError and leaves the checkout as it was.
   */
  sync(signal?: AbortSignal): Promise<SourceRevision>;
  /** What the checkout holds without contacting the remote, or undefined before the first sync. */
  current(): Promise<SourceRevision | undefined>;
}

/** The git flavour of a source, named as in the architecture sketch. */
export type GitSource = StackSource;

/** The ref a source follows: pushes to anything else are acknowledged and ignored. */
export interface TrackedRef {
  branch?: string;
  /** A tag pattern or range; any tag push may move it, so tag pushes all start a sync. */
  tag?: string;
}

/** A problem with a kind's settings, at a key path below the kind's config key. */
export interface SourceProblem {
  path: readonly PropertyKey[];
  message: string;
}

/** What the config loader lends a kind while it reads its settings. */
export interface SourceConfigContext {
  /**
   * Makes a path the settings name absolute: against the config file's folder, or the working
   * directory when an env variable set it. `keyPath` is below the kind's config key.
   */
  resolvePath(keyPath: readonly string[], value: string): string;
}

/** What a kind's source is built with besides its settings. */
export interface SourceContext {
  /** berth's data dir. */
  dataDir: string;
  /** The folder in the data dir a kind keeps what it fetches in (checkoutDirOf). */
  checkoutDir: string;
  /** Globs of the stack folders below the source root (config `source.paths`). */
  paths: string[];
  logger: Logger;
}

/** How `BERTH_*` variables reach a kind's keys; every key path is below the kind's key. */
export interface SourceEnv {
  /** Short names for the keys people set most (BERTH_GIT_URL -> url). */
  aliases?: Readonly<Record<string, readonly string[]>>;
  /** The key whose setting from env makes this the kind, dropping another kind's key from the file. */
  selects?: readonly string[];
  /** Keys that exclude each other: env setting `when` (but not `drop`) drops the file's `drop`. */
  exclusive?: readonly { when: readonly string[]; drop: readonly string[] }[];
}

/**
 * One kind of source (git, a local folder), as a plugin: the config's `source.<configKey>` key
 * selects it, and everything the config loader and the composition root need to know about the
 * kind is here, so adding a kind is a folder and a line in registry.ts.
 */
export interface SourceKind<Kind extends string, Key extends string, Input, Settings> {
  /** What `BerthConfig.source.kind` says. */
  readonly kind: Kind;
  /** The key under `source:` that selects the kind and holds its settings (source.git). */
  readonly configKey: Key;
  /** That key's value as written; strict, so a misspelt key is an error. */
  readonly schema: z.ZodType<Input>;
  /**
   * Rules the schema cannot state (keys excluding each other, files that must be readable),
   * on the raw value. Run even when the schema refuses other keys, so a refused config lists
   * every problem at once.
   */
  check?(raw: unknown, context: SourceConfigContext): Promise<SourceProblem[]>;
  /**
   * The parsed value to the settings the source is built from (paths absolute, secrets read),
   * which the loaded config carries as `source.<configKey>`. Runs only after `check` passed.
   */
  normalize(value: Input, context: SourceConfigContext): Promise<Settings>;
  create(settings: Settings, context: SourceContext): StackSource;
  /** Where the stacks are read from, without syncing (what `berth validate` checks). */
  root(settings: Settings, checkoutDir: string): string;
  /** The ref a push must name to start a sync; a kind without pushes leaves it out. */
  tracked?(settings: Settings): TrackedRef;
  /** A folder whose changes start a sync (the daemon watches it). */
  watchedFolder?(settings: Settings): string;
  readonly env?: SourceEnv;
}
