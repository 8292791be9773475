import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type Docker from 'dockerode';
import { inspectOrUndefined } from './docker-errors.js';
import type { HostMount } from './host-paths.js';
import { LABEL, type SelfContainer } from './types.js';

/** berth's own container as its daemon reports it, with the mounts paths are translated through. */
export interface SelfInfo extends SelfContainer {
  mounts: HostMount[];
}

/** One line of /proc/self/mountinfo (proc(5)), with the octal escapes undone. */
export interface MountInfoEntry {
  /** The path inside the mounted filesystem that is mounted (field 4). */
  root: string;
  /** Where it is mounted (field 5). */
  mountPoint: string;
  fsType: string;
  source: string;
}

/** Where berth looks for itself; tests feed another container's mountinfo. */
export interface SelfProbe {
  mountinfo(): Promise<string>;
  hostname(): string;
}

export const PROC_SELF: SelfProbe = {
  mountinfo: () => readFile('/proc/self/mountinfo', 'utf8'),
  hostname: () => os.hostname(),
};

/** mountinfo escapes space, tab, newline and backslash as `\040`, `\011`, `\012`, `\134`. */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

/** Parses mountinfo text; malformed lines are skipped. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    // Optional fields (shared:N, master:N) run up to the lone `-` separator.
    const dash = fields.indexOf('-', 6);
    if (fields.length < 7 || dash === -1 || dash + 2 >= fields.length) continue;
    entries.push({
      root: unescapeMountField(fields[3]!),
      mountPoint: unescapeMountField(fields[4]!),
      fsType: fields[dash + 1]!,
      source: unescapeMountField(fields[dash + 2]!),
    });
  }
  return entries;
}

/** The files the runtime bind-mounts into every container, from the container's own folder. */
const RUNTIME_FILES = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf']);

/**
 * Docker: `/var/lib/docker/containers/<id>/hostname` (the root is relative to its filesystem,
 * so the prefix varies); Podman: `.../overlay-containers/<id>/userdata/hostname`.
 */
const CONTAINER_FILE = /\/([0-9a-f]{64})\/(?:userdata\/)?(?:hostname|hosts|resolv\.conf)$/;

/**
 * Container ids the mountinfo names, most mentioned first. Only mounts on /etc/hostname,
 * /etc/hosts and /etc/resolv.conf count: on the Docker host itself the mount table also lists
 * other containers' folders, but never mounted there.
 */
export function containerIdsFromMountInfo(entries: readonly MountInfoEntry[]): string[] {
  const counts = new Map<string, number>();
  for (const entry of entries) {
    if (!RUNTIME_FILES.has(entry.mountPoint)) continue;
    const id = CONTAINER_FILE.exec(entry.root)?.[1];
    if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([id]) => id);
}

function toMount(m: Docker.ContainerInspectInfo['Mounts'][number]): HostMount {
  const raw = m as typeof m & { Type?: string };
  return {
    type: raw.Type ?? (m.Name === undefined ? 'bind' : 'volume'),
    source: m.Source,
    destination: m.Destination,
    ...(m.Name === undefined ? {} : { name: m.Name }),
  };
}

function toSelf(info: Docker.ContainerInspectInfo): SelfInfo {
  const project = info.Config.Labels?.[LABEL.project];
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    ...(project === undefined ? {} : { project }),
    mounts: (info.Mounts ?? []).map(toMount),
  };
}

/**
 * Finds the container berth runs in, on the daemon berth talks to. The mountinfo and the
 * hostname only propose ids: this machine may be a container of another runtime, or of
 * another daemon, so only the Engine API's answer counts. Undefined when berth runs in no
 * container that daemon knows.
 */
export async function detectSelf(
  docker: Docker,
  probe: SelfProbe = PROC_SELF,
): Promise<SelfInfo | undefined> {
  let text: string;
  try {
    text = await probe.mountinfo();
  } catch {
    return undefined; // not Linux, or no /proc: not in a container berth can find
  }
  for (const id of containerIdsFromMountInfo(parseMountInfo(text))) {
    const info = await inspectOrUndefined(docker, id);
    if (info?.Id === id) return toSelf(info);
  }
  // Docker names a container's host after its short id unless told otherwise.
  const hostname = probe.hostname();
  if (!/^[0-9a-f]{12}$/.test(hostname)) return undefined;
  const info = await inspectOrUndefined(docker, hostname);
  if (info === undefined || !info.Id.startsWith(hostname)) return undefined;
  return info.Config.Hostname === hostname ? toSelf(info) : undefined;
}
