import { access } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Compose's own lookup order. Kept here until src/compose/load.ts exports the same list, so
 * discovery does not depend on the full loader.
 */
export const COMPOSE_FILE_NAMES = [
  'compose.yaml',
  'compose.yml',
  'docker-compose.yaml',
  'docker-compose.yml',
] as const;

/** The absolute path of the folder's compose file, or undefined when it holds none. */
export async function findComposeFile(dir: string): Promise<string | undefined> {
  for (const name of COMPOSE_FILE_NAMES) {
    const file = join(dir, name);
    try {
      await access(file);
      return file;
    } catch {
      // Not this name: try the next one.
    }
  }
  return undefined;
}
