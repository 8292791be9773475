import { createHash } from 'node:crypto';
import type { ComposeProject, ServiceConfig } from '../compose/types.js';

/**
 * Image updates (`updates: { images: true }`): a stack's version covers the registry digests
 * behind its tagged images as well as its files, so a new image pushed under the same tag is a
 * new version, deployed, health-gated, rolled back and marked bad like a git change. The
 * digests a version was computed from are its pins: deployed as `<repo>@<digest>`, so what
 * runs is exactly what was resolved, and a rollback brings its own digests back.
 */

/** Image reference as written in the compose file → the registry's manifest digest `sha256:…`. */
export type ImagePins = Record<string, string>;

/**
 * The version of a stack with image updates: SHA-256 (hex, as folder versions) over the folder
 * hash, a newline, then one `<ref> <digest>` line per pinned image, sorted by reference, each
 * ending in a newline. Without pins it is the folder hash itself, so a stack whose images are
 * all built or local keeps the version it had without updates.
 */
export function imageVersion(folderHash: string, pins: Readonly<ImagePins>): string {
  const refs = Object.keys(pins).sort();
  if (refs.length === 0) return folderHash;
  const hash = createHash('sha256').update(`${folderHash}\n`);
  for (const ref of refs) hash.update(`${ref} ${pins[ref]}\n`);
  return hash.digest('hex');
}

/** A reference that names a digest (`repo@sha256:…`) is pinned already: nothing to resolve. */
export function hasDigest(ref: string): boolean {
  return ref.includes('@');
}

/**
 * The repository part of a reference: without its tag and digest. A colon after the last
 * slash starts the tag; one before it belongs to a registry's port (`host:5000/app`).
 */
export function repositoryOf(ref: string): string {
  const at = ref.indexOf('@');
  const name = at === -1 ? ref : ref.slice(0, at);
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
}

/** `<repo>@<digest>`, as `docker compose config --resolve-image-digests` pins an image. */
export function pinnedRef(ref: string, digest: string): string {
  return `${repositoryOf(ref)}@${digest}`;
}

/** References some service of the project builds: the folder's business, never the registry's. */
function builtRefs(project: ComposeProject): Set<string> {
  const built = new Set<string>();
  for (const service of Object.values(project.services)) {
    if (service.build !== undefined && service.image !== undefined) built.add(service.image);
  }
  return built;
}

function followsRegistry(service: ServiceConfig, built: ReadonlySet<string>): boolean {
  const image = service.image;
  if (image === undefined || service.build !== undefined || built.has(image)) return false;
  // `never` and `build` keep their Compose meaning: the registry is not asked.
  if (service.pullPolicy === 'never' || service.pullPolicy === 'build') return false;
  // No reference holds whitespace; one that does could not be a line of version.txt either.
  return !hasDigest(image) && !/\s/.test(image);
}

/**
 * The image references whose registry digests count in the stack's version, sorted and
 * unique: services with a tagged `image:`, no `build:`, and a pull_policy that pulls.
 */
export function trackedImages(project: ComposeProject): string[] {
  const built = builtRefs(project);
  const refs = new Set<string>();
  for (const service of Object.values(project.services)) {
    if (followsRegistry(service, built) && service.image !== undefined) refs.add(service.image);
  }
  return [...refs].sort();
}

/**
 * The project with each tracked image that has a pin replaced by `<repo>@<digest>`. Services
 * the pins do not name are left as written; without pins the project is returned as it is.
 */
export function pinImages(project: ComposeProject, pins: Readonly<ImagePins>): ComposeProject {
  if (Object.keys(pins).length === 0) return project;
  const built = builtRefs(project);
  let changed = false;
  const services: Record<string, ServiceConfig> = {};
  for (const [name, service] of Object.entries(project.services)) {
    const digest = service.image === undefined ? undefined : pins[service.image];
    if (digest !== undefined && service.image !== undefined && followsRegistry(service, built)) {
      services[name] = { ...service, image: pinnedRef(service.image, digest) };
      changed = true;
    } else services[name] = service;
  }
  return changed ? { ...project, services } : project;
}
