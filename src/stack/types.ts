import type { BerthError } from '../errors.js';

export type DeployMethod = 'blind' | 'simple' | 'blue-green' | 'canary';

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
  hooks: {
    /** Paths relative to the stack folder. */
    preDeploy?: string;
    postDeploy?: string;
    timeoutMs: number;
  };
  /** Where the settings came from. */
  origin: 'deploy.yaml' | 'x-berth' | 'comment' | 'defaults';
  /** The file they were read from, when not defaults. */
  file?: string;
}

/** Defaults for every stack, from the config's `defaults:` key. */
export type SettingsDefaults = Omit<DeploySettings, 'origin' | 'file'>;

export interface DiscoveredStack {
  name: string;
  /** Absolute path of the stack folder in the checkout. */
  dir: string;
  /** Path relative to the checkout root. */
  relPath: string;
  /** The compose file's absolute path. */
  composeFile: string;
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
