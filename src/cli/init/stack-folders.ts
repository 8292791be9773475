import path from 'node:path';
import fg from 'fast-glob';
import { COMPOSE_FILE_NAMES } from '../../compose/load.js';

/** Folders never searched for stacks: VCS data, dependencies, and berth's own copies. */
const IGNORED = ['.git', 'node_modules'];

/** How deep a compose file may sit below the repository root (stacks/group/app/compose.yaml). */
const MAX_DEPTH = 4;

/**
 * Folders below `root` holding a compose file, as sorted `/`-separated paths relative to it
 * (`.` for the root itself). `ignore` lists folders (relative to `root`) to leave out, such as
 * a data dir inside the repository. Reads the file tree only: no Docker, no compose parsing.
 */
export async function findStackFolders(root: string, ignore: string[] = []): Promise<string[]> {
  const files = await fg(
    COMPOSE_FILE_NAMES.map((name) => `**/${name}`),
    {
      cwd: root,
      onlyFiles: true,
      followSymbolicLinks: false,
      dot: false,
      deep: MAX_DEPTH + 1,
      ignore: [
        ...IGNORED.flatMap((folder) => [`**/${folder}`, `**/${folder}/**`]),
        ...ignore.map((folder) => `${fg.escapePath(folder)}/**`),
      ],
    },
  );
  const folders = new Set(files.map((file) => path.posix.dirname(file)));
  return [...folders].sort();
}

/**
 * The `source.paths` globs matching `folders` (as findStackFolders returns them): one
 * `<parent>/*` per parent folder, `*` for stacks at the top level. Sibling folders without a
 * compose file match too, which is harmless: discovery wants a compose file. The root itself
 * (`.`) is left out: a stack is a folder inside the repository.
 */
export function deriveGlobs(folders: readonly string[]): string[] {
  const parents = new Set<string>();
  for (const folder of folders) {
    if (folder === '.' || folder === '') continue;
    parents.add(path.posix.dirname(folder));
  }
  return [...parents].map((parent) => (parent === '.' ? '*' : `${escapeGlob(parent)}/*`)).sort();
}

/** Folder names with glob syntax in them must match only themselves. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]{}()!@+\\]/g, (c) => `\\${c}`);
}
