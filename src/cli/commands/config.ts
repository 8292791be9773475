import {
  canonicalCompose,
  formatComposeYaml,
  maskValues,
  secretValues,
} from '../../compose/canonical.js';
import { BerthError, StackError } from '../../errors.js';
import type { StackLoadResult } from '../../stack/project.js';
import type { BrokenStack, DiscoveredStack } from '../../stack/types.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { formatError } from '../format.js';
import { resolveTargets, stacksOfTargets, type Target } from './validate.js';

export type ConfigFormat = 'yaml' | 'json';

export const CONFIG_FORMATS: readonly ConfigFormat[] = ['yaml', 'json'];

type Document = Record<string, unknown>;

/**
 * `berth config [STACK]`: each stack as berth deploys it (files selected and merged, extends
 * and include resolved, variables interpolated), as a compose file in Compose's canonical form.
 * Secrets never show: the values of decrypted env files and the contents of secrets are
 * masked, and no option prints them. A stack that does not load is reported on stderr and
 * the others are printed; exit 1 then, as validate does. YAML: one document per stack,
 * separated by `---`; JSON: the stack's document, or without STACK an object keyed by stack.
 */
export async function configCommand(
  ctx: CliContext,
  name: string | undefined,
  format: ConfigFormat,
): Promise<ExitCode> {
  const targets = await resolveTargets(ctx, undefined);
  const all = await stacksOfTargets(targets, name);
  if (all.length === 0) {
    const where = targets.map((t) => `${t.root} (paths ${t.paths.join(', ')})`).join(', ');
    ctx.out.note(`no stacks found in ${where}`);
    return EXIT.failed;
  }

  const documents: [string, Document][] = [];
  let failed = false;
  for (const { target, stack } of all) {
    ctx.out.progress(`loading ${stack.name}…`);
    const doc = await stackDocument(ctx, target, stack);
    if (doc === undefined) failed = true;
    else documents.push([stack.name, doc]);
  }
  if (documents.length > 0) {
    const json = name === undefined ? Object.fromEntries(documents) : documents[0]?.[1];
    ctx.out.result(json, () =>
      format === 'json'
        ? JSON.stringify(json, null, 2)
        : documents.map(([, doc]) => formatComposeYaml(doc)).join('---\n'),
    );
  }
  return failed ? EXIT.failed : EXIT.ok;
}

/** One stack's document, or undefined when it does not load (its error said on stderr). */
async function stackDocument(
  ctx: CliContext,
  target: Target,
  stack: DiscoveredStack | BrokenStack,
): Promise<Document | undefined> {
  if ('error' in stack) {
    ctx.out.note(`${stack.name}: ${formatError(stack.error)}`);
    return undefined;
  }
  let loaded: StackLoadResult;
  try {
    loaded = await target.loadStack(stack.dir, stack.name);
  } catch (caught) {
    const err =
      caught instanceof BerthError
        ? caught
        : new StackError('ComposeUnreadable', `cannot load ${stack.name}`, {
            cause: caught,
            place: { stack: stack.name },
          });
    ctx.out.note(`${stack.name}: ${formatError(err)}`);
    return undefined;
  }
  for (const warning of loaded.warnings) ctx.out.note(`${stack.name}: warning: ${warning}`);
  const mask = maskValues([...loaded.sensitiveValues, ...secretValues(loaded.project)]);
  return canonicalCompose(loaded.project, { mask });
}
