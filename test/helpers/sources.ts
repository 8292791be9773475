import type { BerthConfig, SourceSettings } from '../../src/config/index.js';
import type { NamedSource } from '../../src/reconciler/types.js';
import type { StackSource } from '../../src/source/types.js';
import type { SettingsDefaults } from '../../src/stack/types.js';

/**
 * A config's source keys for one source, as loadConfig gives the single `source:` section: one
 * entry named `default` (and the deprecated `source`, the same object, so a test that changes
 * one changes both).
 */
export function oneSource(
  source: SourceSettings,
  defaults: SettingsDefaults,
): Pick<BerthConfig, 'sources' | 'source'> {
  return { sources: [{ name: 'default', source, defaults }], source };
}

/** A source as ReconcilerDeps holds it; `default` unless named. */
export function namedSource(
  source: StackSource,
  paths: string[],
  defaults: SettingsDefaults,
  name = 'default',
  prefix?: string,
): NamedSource {
  return { name, source, paths, defaults, ...(prefix === undefined ? {} : { prefix }) };
}
