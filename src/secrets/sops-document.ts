import type { TreeBranch } from './sops-tree.js';

/**
 * A SOPS file read by one of the format modules: its metadata as plain data (unflattened),
 * its data as a tree whose leaves write back into the format's document, and `emit`, which
 * writes that document without the metadata once the values are decrypted.
 */
export interface SopsDocument {
  metadata: unknown;
  branches: TreeBranch[];
  emit: () => Buffer;
}
