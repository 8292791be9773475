import type { BerthError } from '../errors.js';

/** A strategy registry name (src/strategies/registry.ts): checked when settings are read. */
export type DeployMethod = string;

/** A Compose project name: refused rather than normalized, so the name in git is the name on Docker. */
export const STACK_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/**
 * What Compose loads of a stack folder, from its deploy settings (`composeFiles`, `envFiles`,
 * `profiles`, `projectName`). Paths are relative to the stack folder, checked inside it.
 */
export interface ComposeSelection {
  /** Compose files merged in order; default: the one found by name and its override file. */
  files?: string[];
  /** Env files interpolation reads instead of `.env`, later ones winning. */
  envFiles?: string[];
  /** The active profiles; default: COMPOSE_PROFILES. */
  profiles?: string[];
  /** The stack's name (state, running_stacks/, the Compose project); default: the folder's. */
  projectName?: string;
}

/** A stack's deploy settings, merged over the config's defaults. Durations in milliseconds. */
export interface DeploySettings {
  /** false: berth leaves the stack alone. */
  deploy: boolean;
  method: DeployMethod;
  healthTimeoutMs: number;
  /** How long a container without healthcheck must run to count as healthy. */
  stabilityMs: number;
  markBad: boolean;
  redeployGood: boolean;
  /**
   * blue-green and canary: how long an old container keeps running after it left the service's
   * aliases, so requests already routed to it finish. Default DEFAULT_DRAIN_MS.
   */
  drainMs?: number;
  /** canary only: batches and observation window. */
  canary?: CanarySettings;
  /**
   * Named volumes (compose keys) that only one container may use at a time: a service mounting
   * one is rolled stop-first by blue-green and canary.
   */
  exclusiveVolumes?: string[];
  hooks: {
    /** Paths relative to the stack folder. */
    preDeploy?: string;
    postDeploy?: string;
    timeoutMs: number;
  };
  /** Which compose files, env files and profiles make the project, and its name. */
  compose: ComposeSelection;
  updates: {
    /** Tagged images count in the stack's version by their registry digest. */
    images: boolean;
  };
  /**
   * One-off jobs run in order, as containers of the new version's services, before it serves
   * (docs/migrations.md). Per stack: the config's defaults have none.
   */
  migrations?: MigrationJob[];
  /** Where the settings came from. */
  origin: 'deploy.yaml' | 'x-berth' | 'comment' | 'defaults';
  /** The file they were read from, when not defaults. */
  file?: string;
}

/** One migration job of the `migrations` setting. */
export interface MigrationJob {
  /** Unique within the stack; names the journal step (`migrate:<name>`) and the record of its run. */
  name: string;
  /** The service of the new version whose image, environment, networks and volumes it runs with. */
  service: string;
  /** Replaces the service's command; default: the service's own. */
  command?: string[];
  /** Killed when it runs longer; default DEFAULT_MIGRATION_TIMEOUT_MS. */
  timeoutMs: number;
}

export const DEFAULT_MIGRATION_TIMEOUT_MS = 10 * 60_000;

/** How many containers of a service a canary batch replaces: a count or a share of the replicas. */
export type BatchSize = { count: number } | { percent: number };

export interface CanarySettings {
  batch: BatchSize;
  /** How long each batch must stay healthy (and its probe answer 2xx) before the next one. */
  windowMs: number;
  /** A URL requested from inside each new container during the window; must answer 2xx. */
  probe?: string;
}

export const DEFAULT_DRAIN_MS = 2_000;
export const DEFAULT_CANARY: CanarySettings = { batch: { count: 1 }, windowMs: 10_000 };

/** Defaults for every stack, from the config's `defaults:` key. */
export type SettingsDefaults = Omit<DeploySettings, 'origin' | 'file' | 'compose' | 'migrations'>;

export interface DiscoveredStack {
  /** The settings' projectName, else the folder's name. */
  name: string;
  /** Absolute path of the stack folder in the checkout. */
  dir: string;
  /** Path relative to the checkout root. */
  relPath: string;
  /** The compose files the project merges, absolute, the main one first. */
  composeFiles: string[];
  /** SHA-256 (hex) over the folder's files: relative paths and contents in sorted order. */
  version: string;
  settings: DeploySettings;
}

/** A folder that looked like a stack but cannot be one; other stacks go on. */
export interface BrokenStack {
  name: string;
  dir: string;
  /** The version when it could be computed: a bad settings file still has one. */
  version?: string;
  error: BerthError;
}

export interface Discovery {
  stacks: DiscoveredStack[];
  broken: BrokenStack[];
}
