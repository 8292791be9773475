import { UsageError, type BerthError } from '../errors.js';
import type { LeftScope } from '../plan/stack-plan.js';
import { DEFAULT_SOURCE } from '../source/registry.js';
import type { SourceRevision } from '../source/types.js';
import type { SettingsDefaults } from '../stack/types.js';
import type { StackRecord } from '../state/types.js';
import type { NamedSource, PassContext, ReconcilerDeps, SourceResult } from './types.js';

/**
 * The sources a pass syncs: those named (undefined: all), in the config's order. A name no
 * source has is the caller's mistake.
 */
export function selectSources(
  all: readonly NamedSource[],
  names?: readonly string[],
): NamedSource[] {
  if (names === undefined) return [...all];
  const unknown = names.filter((name) => !all.some((s) => s.name === name));
  if (unknown.length > 0) {
    const known = all.map((s) => s.name).join(', ');
    throw new UsageError(
      `no source named ${unknown.join(', ')}; the configured sources are: ${known}`,
    );
  }
  return all.filter((s) => names.includes(s.name));
}

/** The source a stack was recorded from; stacks recorded before there were several are `default`'s. */
export function recordedSource(record: Pick<StackRecord, 'source'> | undefined): string {
  return record?.source ?? DEFAULT_SOURCE;
}

/** The deploy defaults of the stack's source (the first source's when it is no configured one). */
export function defaultsOf(
  deps: Pick<ReconcilerDeps, 'sources' | 'store'>,
  stack: string,
): SettingsDefaults {
  const name = recordedSource(deps.store.getStack(stack));
  const source = deps.sources.find((s) => s.name === name) ?? deps.sources[0];
  if (source === undefined) throw new Error('no source configured');
  return source.defaults;
}

/** The pass's result of the source the stack comes from, when the stack has exactly one. */
function resultOf(pass: PassContext, stack: string): SourceResult | undefined {
  const owners = pass.owners.get(stack);
  if (owners?.length !== 1) return undefined;
  return pass.sources.find((s) => s.name === owners[0]);
}

/** The revision the stack's files were read from in this pass. */
export function revisionOf(pass: PassContext, stack: string): SourceRevision {
  return resultOf(pass, stack)?.revision ?? pass.revision;
}

/** The sync error of the stack's source in this pass, if it had one. */
export function sourceErrorOf(pass: PassContext, stack: string): BerthError | undefined {
  const result = resultOf(pass, stack);
  return result === undefined ? pass.sourceError : result.error;
}

/** The one source a stack comes from in this pass (undefined when none or a clash). */
export function ownerOf(pass: PassContext, stack: string): string | undefined {
  const owners = pass.owners.get(stack);
  return owners?.length === 1 ? owners[0] : undefined;
}

/**
 * What the pass does with a stack in no discovery: only the synced sources answer for their
 * stacks, and only one that synced prunes them; a stack another source holds is that source's.
 */
export function leftScopeOf(
  pass: Pick<PassContext, 'sources' | 'owners'>,
  records: ReadonlyMap<string, StackRecord>,
): (stack: string) => LeftScope | undefined {
  return (stack) => {
    if (pass.owners.has(stack)) return undefined;
    const name = recordedSource(records.get(stack));
    const result = pass.sources.find((s) => s.name === name);
    if (result === undefined) return undefined;
    if (result.error !== undefined)
      return { prune: false, why: `source ${name} could not be synced; kept running` };
    return { prune: true };
  };
}
