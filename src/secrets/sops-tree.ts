import { createHash } from 'node:crypto';
import type { SopsMetadata } from './sops-metadata.js';
import type { PlainValue } from './sops-values.js';
import { TagMismatch, macBytes, openValue, parseEncrypted, typeValue } from './sops-values.js';

/**
 * The tree every SOPS format is read into, in file order, as sops.go walks it. Leaves and
 * comments write their decrypted value back into the format's own document through `set`.
 */
export type ScalarValue = string | number | bigint | boolean | null;

export interface TreeLeaf {
  kind: 'leaf';
  value: ScalarValue;
  set: (value: PlainValue) => void;
}
export interface TreeComment {
  kind: 'comment';
  text: string;
  set: (text: string) => void;
}
export interface TreeBranch {
  kind: 'branch';
  items: Array<{ key: string; value: TreeNode } | TreeComment>;
}
export interface TreeList {
  kind: 'list';
  items: Array<TreeNode | TreeComment>;
}
export type TreeNode = TreeLeaf | TreeBranch | TreeList;

/** Something in the file is not what SOPS writes; the message names where, never a value. */
export class TreeInvalid extends Error {}
/** A value's GCM tag does not verify; `path` says which value. */
export class ValueTampered extends Error {
  constructor(readonly path: string) {
    super(`the value at ${path} fails its integrity check`);
  }
}

/** sops.go's MACOnlyEncryptedInitialization: sha256("sops"). */
const MAC_ONLY_ENCRYPTED_INIT = createHash('sha256').update('sops').digest();

/** Go's regexp against JavaScript's: `(?P<name>` and a leading `(?i)` are the differences seen. */
function goRegex(pattern: string): RegExp {
  let source = pattern.replace(/\(\?P</g, '(?<');
  let flags = '';
  const inline = /^\(\?([ims]+)\)/.exec(source);
  if (inline !== null) {
    flags = inline[1] ?? '';
    source = source.slice(inline[0].length);
  }
  return new RegExp(source, flags);
}

interface Rules {
  unencryptedSuffix?: string;
  encryptedSuffix?: string;
  unencryptedRegex?: RegExp;
  encryptedRegex?: RegExp;
  unencryptedCommentRegex?: RegExp;
  encryptedCommentRegex?: RegExp;
}

function rulesOf(meta: SopsMetadata): Rules {
  const regex = (p: string | undefined): RegExp | undefined =>
    p === undefined || p === '' ? undefined : goRegex(p);
  const nonEmpty = (s: string | undefined): string | undefined => (s === '' ? undefined : s);
  return {
    unencryptedSuffix: nonEmpty(meta.unencryptedSuffix),
    encryptedSuffix: nonEmpty(meta.encryptedSuffix),
    unencryptedRegex: regex(meta.unencryptedRegex),
    encryptedRegex: regex(meta.encryptedRegex),
    unencryptedCommentRegex: regex(meta.unencryptedCommentRegex),
    encryptedCommentRegex: regex(meta.encryptedCommentRegex),
  };
}

/** sops.go's shouldBeEncrypted, rule for rule. */
function shouldBeEncrypted(
  rules: Rules,
  path: readonly string[],
  comments: readonly string[][],
  isComment: boolean,
): boolean {
  let encrypted = true;
  const { unencryptedSuffix, encryptedSuffix } = rules;
  if (unencryptedSuffix !== undefined && path.some((p) => p.endsWith(unencryptedSuffix))) {
    encrypted = false;
  }
  if (encryptedSuffix !== undefined) encrypted = path.some((p) => p.endsWith(encryptedSuffix));
  const unencryptedRegex = rules.unencryptedRegex;
  if (unencryptedRegex !== undefined && path.some((p) => unencryptedRegex.test(p))) {
    encrypted = false;
  }
  const encryptedRegex = rules.encryptedRegex;
  if (encryptedRegex !== undefined) encrypted = path.some((p) => encryptedRegex.test(p));
  const unencryptedComment = rules.unencryptedCommentRegex;
  if (unencryptedComment !== undefined && comments.flat().some((c) => unencryptedComment.test(c))) {
    encrypted = false;
  }
  const encryptedComment = rules.encryptedCommentRegex;
  if (encryptedComment !== undefined) {
    const last = comments.length - 1;
    // The comment line that matches is itself left in the clear: skip the current one.
    encrypted = comments.some((cs, i) =>
      cs.some(
        (c, j) => !(isComment && i === last && j === cs.length - 1) && encryptedComment.test(c),
      ),
    );
  }
  return encrypted;
}

interface WalkState {
  key: Uint8Array;
  rules: Rules;
  macOnlyEncrypted: boolean;
  hash: ReturnType<typeof createHash>;
}

function aadOf(path: readonly string[]): string {
  return `${path.join(':')}:`;
}

function decryptLeaf(state: WalkState, leaf: TreeLeaf, path: readonly string[]): PlainValue {
  if (leaf.value === '') return { type: 'str', value: '' };
  if (typeof leaf.value !== 'string') {
    throw new TreeInvalid(`the value at ${aadOf(path)} should be encrypted but is not`);
  }
  const encrypted = parseEncrypted(leaf.value);
  if (encrypted === undefined) {
    throw new TreeInvalid(`the value at ${aadOf(path)} is not a SOPS encrypted value`);
  }
  let bytes: Buffer;
  try {
    bytes = openValue(encrypted, state.key, aadOf(path));
  } catch (err) {
    if (err instanceof TagMismatch) throw new ValueTampered(aadOf(path));
    throw err;
  }
  const plain = typeValue(encrypted.type, bytes);
  if (plain === undefined || plain.type === 'comment') {
    throw new TreeInvalid(`the value at ${aadOf(path)} has an invalid type`);
  }
  return plain;
}

function onLeaf(state: WalkState, leaf: TreeLeaf, path: string[], comments: string[][]): void {
  if (leaf.value === null) return;
  const encrypted = shouldBeEncrypted(state.rules, path, comments, false);
  let macValue: string | number | bigint | boolean | Buffer = leaf.value;
  if (encrypted) {
    const plain = decryptLeaf(state, leaf, path);
    leaf.set(plain);
    macValue = plain.value;
  }
  if (!state.macOnlyEncrypted || encrypted) state.hash.update(macBytes(macValue));
}

/** Comments are outside the MAC; one that does not open is kept as it is, as sops does. */
function onComment(state: WalkState, c: TreeComment, path: string[], comments: string[][]): void {
  if (!shouldBeEncrypted(state.rules, path, comments, true)) return;
  const encrypted = parseEncrypted(c.text);
  if (encrypted?.type !== 'comment') return;
  try {
    c.set(openValue(encrypted, state.key, aadOf(path)).toString('utf8'));
  } catch {
    // Not decryptable with this key and path: sops keeps such a comment unchanged.
  }
}

function walk(state: WalkState, node: TreeNode, path: string[], stack: string[][]): void {
  if (node.kind === 'leaf') return onLeaf(state, node, path, stack);
  const comments = [...stack, []];
  const current = comments[comments.length - 1] as string[];
  for (const item of node.items) {
    if ('kind' in item && item.kind === 'comment') {
      current.push(item.text);
      onComment(state, item, path, comments);
      continue;
    }
    if (node.kind === 'branch' && 'key' in item)
      walk(state, item.value, [...path, item.key], comments);
    else walk(state, item as TreeNode, path, comments);
    current.length = 0;
  }
}

/**
 * Decrypts every value of the branches in place (through their `set`) and returns the MAC
 * sops computes over them: SHA-512, upper-case hex.
 */
export function decryptTree(
  branches: readonly TreeBranch[],
  meta: SopsMetadata,
  key: Uint8Array,
): string {
  const state: WalkState = {
    key,
    rules: rulesOf(meta),
    macOnlyEncrypted: meta.macOnlyEncrypted,
    hash: createHash('sha512'),
  };
  if (meta.macOnlyEncrypted) state.hash.update(MAC_ONLY_ENCRYPTED_INIT);
  for (const branch of branches) walk(state, branch, [], []);
  return state.hash.digest('hex').toUpperCase();
}
