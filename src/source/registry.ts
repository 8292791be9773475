import path from 'node:path';
import { gitSource, repoDir } from './git/index.js';
import { localSource } from './local/index.js';
import type { SourceContext, SourceKind, StackSource, TrackedRef } from './types.js';

/** Every kind of source, one line each; the config's `source:` keys follow from this list. */
export const SOURCE_KINDS = [
  gitSource, // source.git
  localSource, // source.path
] as const;

/** A kind with its types forgotten, for code that handles every kind alike. */
export type AnySourceKind = SourceKind<string, string, unknown, unknown>;

type Flat<T> = { [K in keyof T]: T[K] };

/** A kind's loaded settings: `{ kind, <configKey>: settings, paths }`. */
type SettingsOf<K> =
  K extends SourceKind<infer Kind, infer Key, infer _Input, infer Settings>
    ? Flat<{ kind: Kind; paths: string[] } & { [P in Key]: Settings }>
    : never;

/**
 * The loaded `source:` section: `{ kind: 'git', git, paths }` or `{ kind: 'local', path, paths }`
 * (`paths`: globs of the stack folders below the source root).
 */
export type SourceSettings = SettingsOf<(typeof SOURCE_KINDS)[number]>;

const KINDS: readonly AnySourceKind[] = SOURCE_KINDS;

/** The kinds whose key the raw `source:` section sets (null counts as unset: a bare `git:`). */
export function kindsSetIn(section: Record<string, unknown>): AnySourceKind[] {
  return KINDS.filter((k) => section[k.configKey] !== undefined && section[k.configKey] !== null);
}

/** The loaded settings of `kind` from its normalized value. */
export function sourceSettings(
  kind: AnySourceKind,
  settings: unknown,
  paths: string[],
): SourceSettings {
  return { kind: kind.kind, [kind.configKey]: settings, paths } as SourceSettings;
}

/** The kind of loaded settings, with the kind's own part of them. */
function kindOf(settings: SourceSettings): { kind: AnySourceKind; own: unknown } {
  const kind = KINDS.find((k) => k.kind === settings.kind);
  if (kind === undefined) throw new Error(`no source kind ${settings.kind}`);
  return { kind, own: (settings as Record<string, unknown>)[kind.configKey] };
}

/** Builds the source the loaded settings describe. */
export function createSource(settings: SourceSettings, context: SourceContext): StackSource {
  const { kind, own } = kindOf(settings);
  return kind.create(own, context);
}

/** The name of the legacy single `source:`, whose checkout stays where it always was. */
export const DEFAULT_SOURCE = 'default';

/**
 * Where a source keeps what it fetches: dataDir/repo for the source named `default` (so a
 * config moved from `source:` to `sources:` does not clone again), dataDir/repos/<name> else.
 */
export function checkoutDirOf(dataDir: string, name: string = DEFAULT_SOURCE): string {
  return name === DEFAULT_SOURCE ? repoDir(dataDir) : path.join(dataDir, 'repos', name);
}

/** Where the stacks are read from without syncing. */
export function sourceRootOf(
  settings: SourceSettings,
  dataDir: string,
  name: string = DEFAULT_SOURCE,
): string {
  const { kind, own } = kindOf(settings);
  return kind.root(own, checkoutDirOf(dataDir, name));
}

/** The ref pushes must name to start a sync; empty for a kind without pushes. */
export function trackedRefOf(settings: SourceSettings): TrackedRef {
  const { kind, own } = kindOf(settings);
  return kind.tracked?.(own) ?? {};
}

/** A folder whose changes start a sync, for kinds that have one. */
export function watchedFolderOf(settings: SourceSettings): string | undefined {
  const { kind, own } = kindOf(settings);
  return kind.watchedFolder?.(own);
}
