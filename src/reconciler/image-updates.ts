import { EngineError, asBerthError, isTransient, type BerthError } from '../errors.js';
import { createLimiter } from '../stack/limit.js';
import { imageVersion, trackedImages, type ImagePins } from '../stack/image-version.js';
import type { BrokenStack, DiscoveredStack, Discovery } from '../stack/types.js';
import type { VersionRef } from '../state/types.js';
import type { ReconcilerDeps } from './types.js';

/** Registry look-ups in flight at once: a pass of many stacks must not flood the registries. */
export const DIGEST_CONCURRENCY = 8;

/** A discovery whose stacks with image updates carry their composite versions. */
export interface PinnedDiscovery {
  discovery: Discovery;
  /** The digests behind each such stack's version; stacks that pin nothing are absent. */
  images: Map<string, ImagePins>;
}

export interface ImageUpdates {
  /**
   * Resolves the tagged images of the stacks with `updates.images` that `include` accepts, each
   * reference once, and gives each stack the version of its folder and its images' digests.
   * Without such stacks it returns the discovery as it is, without asking anything.
   */
  pin(
    discovery: Discovery,
    running: ReadonlyMap<string, VersionRef | undefined>,
    include: (stack: DiscoveredStack) => boolean,
  ): Promise<PinnedDiscovery>;
}

type Lookup = { digest: string | undefined } | { error: unknown };

type Pinned = { stack: DiscoveredStack; images: ImagePins } | { broken: BrokenStack };

export function createImageUpdates(
  deps: Pick<ReconcilerDeps, 'engine' | 'loadStack' | 'logger'>,
): ImageUpdates {
  // A folder version's tracked images never change: load each stack's project once per version.
  const refsOf = new Map<string, { version: string; refs: string[] }>();

  async function trackedRefs(stack: DiscoveredStack): Promise<string[]> {
    const known = refsOf.get(stack.name);
    if (known?.version === stack.version) return known.refs;
    const refs = trackedImages((await deps.loadStack(stack.dir, stack.name)).project);
    refsOf.set(stack.name, { version: stack.version, refs });
    return refs;
  }

  async function lookUp(refs: Iterable<string>): Promise<Map<string, Lookup>> {
    const limit = createLimiter(DIGEST_CONCURRENCY);
    const unique = [...new Set(refs)];
    const found = await Promise.all(
      unique.map((ref) =>
        limit(async (): Promise<[string, Lookup]> => {
          try {
            return [ref, { digest: await deps.engine.resolveDigest(ref) }];
          } catch (error) {
            return [ref, { error }];
          }
        }),
      ),
    );
    return new Map(found);
  }

  function pinStack(
    stack: DiscoveredStack,
    refs: string[],
    lookups: ReadonlyMap<string, Lookup>,
    running: VersionRef | undefined,
  ): Pinned {
    const images: ImagePins = {};
    for (const ref of refs) {
      const lookup = lookups.get(ref);
      if (lookup === undefined) continue;
      if ('digest' in lookup && lookup.digest !== undefined) {
        images[ref] = lookup.digest;
        continue;
      }
      const kept = keptDigest(stack, ref, running);
      if ('error' in lookup) {
        if (kept === undefined) return { broken: brokenBy(stack, ref, lookup.error) };
        deps.logger.warn(
          { stack: stack.name, image: ref, err: lookup.error },
          'image digest not resolved; keeping the running digest',
        );
      } else if (kept !== undefined) {
        // The tag the running version pinned is gone from its registry: keep what runs.
        deps.logger.warn(
          { stack: stack.name, image: ref },
          'image tag not found in its registry; keeping the running digest',
        );
      }
      // Otherwise a local-only image: no registry digest, it is the folder's, like a built one.
      if (kept !== undefined) images[ref] = kept;
    }
    return { stack: { ...stack, version: imageVersion(stack.version, images) }, images };
  }

  return {
    async pin(discovery, running, include): Promise<PinnedDiscovery> {
      const updating = discovery.stacks.filter((s) => s.settings.updates.images && include(s));
      if (updating.length === 0) return { discovery, images: new Map() };
      const asked = new Set(updating);
      const broken: BrokenStack[] = [];
      const refs = new Map<string, string[]>();
      await Promise.all(
        updating.map(async (stack) => {
          try {
            refs.set(stack.name, await trackedRefs(stack));
          } catch (err) {
            const error = asBerthError(err, 'ComposeInvalid');
            broken.push({ name: stack.name, dir: stack.dir, version: stack.version, error });
          }
        }),
      );
      const lookups = await lookUp([...refs.values()].flat());
      const images = new Map<string, ImagePins>();
      const stacks: DiscoveredStack[] = [];
      for (const stack of discovery.stacks) {
        const stackRefs = refs.get(stack.name);
        if (stackRefs === undefined) {
          if (!asked.has(stack)) stacks.push(stack);
          continue;
        }
        const pinned = pinStack(stack, stackRefs, lookups, running.get(stack.name));
        if ('broken' in pinned) {
          broken.push(pinned.broken);
          continue;
        }
        stacks.push(pinned.stack);
        if (Object.keys(pinned.images).length > 0) images.set(stack.name, pinned.images);
      }
      return { discovery: { stacks, broken: [...discovery.broken, ...broken] }, images };
    },
  };
}

/**
 * The running version's digest of `ref`, when the registry could not be asked and the running
 * version is this very folder (its version is this folder's hash with its own digests): a
 * flaky registry then keeps the stack as it runs instead of marking it broken every pass.
 * After a change in git there is nothing to keep: the new files wait for the registry.
 */
function keptDigest(
  stack: DiscoveredStack,
  ref: string,
  running: VersionRef | undefined,
): string | undefined {
  const images = running?.images;
  const digest = images?.[ref];
  if (images === undefined || digest === undefined) return undefined;
  return imageVersion(stack.version, images) === running?.version ? digest : undefined;
}

/** The stack cannot get a version: its running version stays, the other stacks go on. */
function brokenBy(stack: DiscoveredStack, ref: string, err: unknown): BrokenStack {
  const cause = asBerthError(err, 'ImageUnavailable');
  const error: BerthError = new EngineError(
    cause.reason,
    `stack ${stack.name}: the registry digest of image ${ref} is unknown`,
    {
      cause,
      place: { ...cause.place, stack: stack.name, field: 'image' },
      transient: isTransient(cause),
    },
  );
  return { name: stack.name, dir: stack.dir, error };
}
