import type Docker from 'dockerode';
import { pack } from 'tar-stream';
import type { ContainerFile } from './container-spec.js';

function numericId(id: string | undefined): number {
  const n = Number(id);
  return id !== undefined && Number.isInteger(n) && n >= 0 ? n : 0;
}

/**
 * A tar of the files rooted at `/`. No directory entries: Docker creates missing parents
 * itself, and an entry for an existing directory would change its mode (think /tmp).
 */
async function tarOf(files: ContainerFile[]): Promise<Buffer> {
  const tar = pack();
  for (const file of files) {
    tar.entry(
      {
        name: file.path.replace(/^\/+/, ''),
        mode: file.mode,
        uid: numericId(file.uid),
        gid: numericId(file.gid),
      },
      file.content,
    );
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Copies secret and config files into a created container before it starts. */
export async function uploadFiles(
  container: Docker.Container,
  files: ContainerFile[],
): Promise<void> {
  if (files.length === 0) return;
  await container.putArchive(await tarOf(files), { path: '/' });
}
