import type { Document, Node, Pair, Scalar } from 'yaml';
import { isAlias, isMap, isScalar, isSeq, parseAllDocuments } from 'yaml';
import type { SopsDocument } from './sops-document.js';
import type { PlainValue } from './sops-values.js';
import type { TreeBranch, TreeComment, TreeList, TreeNode } from './sops-tree.js';
import { TreeInvalid } from './sops-tree.js';

interface Commented {
  comment?: string | null;
  commentBefore?: string | null;
}

/** The lines of one comment field, each a tree comment that writes its line back. */
function commentsOf(owner: Commented, field: 'comment' | 'commentBefore'): TreeComment[] {
  const value = owner[field];
  if (value === undefined || value === null || value === '') return [];
  const lines = value.split('\n');
  return lines.map((text, i) => ({
    kind: 'comment',
    text,
    set: (plain: string): void => {
      lines[i] = plain;
      owner[field] = lines.join('\n');
    },
  }));
}

function setScalar(scalar: Scalar, plain: PlainValue): void {
  scalar.value = plain.type === 'bytes' ? plain.value.toString('utf8') : plain.value;
  // Let the writer choose a style that keeps the type: a decrypted "true" stays a string.
  scalar.type = undefined;
  scalar.format = undefined;
  scalar.tag = undefined;
}

function leafOf(scalar: Scalar): TreeNode {
  const value = scalar.value;
  if (
    value !== null &&
    value !== undefined &&
    !['string', 'number', 'bigint', 'boolean'].includes(typeof value)
  ) {
    throw new TreeInvalid('a YAML scalar of a type SOPS files do not hold');
  }
  const scalarValue = (value ?? null) as string | number | bigint | boolean | null;
  return { kind: 'leaf', value: scalarValue, set: (plain) => setScalar(scalar, plain) };
}

function keyOf(pair: Pair): string {
  if (!isScalar(pair.key)) throw new TreeInvalid('a YAML mapping has a key that is not a scalar');
  return String(pair.key.value);
}

function nodeOf(node: unknown): TreeNode {
  if (node === null || node === undefined) return { kind: 'leaf', value: null, set: () => {} };
  if (isAlias(node)) throw new TreeInvalid('YAML aliases are not supported in SOPS files');
  if (isScalar(node)) return leafOf(node);
  if (isMap(node)) {
    const branch: TreeBranch = { kind: 'branch', items: commentsOf(node, 'commentBefore') };
    for (const pair of node.items) {
      if (isScalar(pair.key)) branch.items.push(...commentsOf(pair.key, 'commentBefore'));
      branch.items.push({ key: keyOf(pair), value: nodeOf(pair.value) });
      if (isScalar(pair.value)) branch.items.push(...commentsOf(pair.value, 'comment'));
    }
    branch.items.push(...commentsOf(node, 'comment'));
    return branch;
  }
  if (isSeq(node)) {
    const list: TreeList = { kind: 'list', items: commentsOf(node, 'commentBefore') };
    for (const item of node.items) {
      if (isScalar(item)) list.items.push(...commentsOf(item, 'commentBefore'));
      list.items.push(nodeOf(item));
      if (isScalar(item)) list.items.push(...commentsOf(item, 'comment'));
    }
    list.items.push(...commentsOf(node, 'comment'));
    return list;
  }
  throw new TreeInvalid('a YAML node of an unknown kind');
}

function topBranch(doc: Document): TreeBranch {
  const node = nodeOf(doc.contents);
  if (node.kind !== 'branch') throw new TreeInvalid('a YAML document is not a mapping');
  node.items.unshift(...commentsOf(doc, 'commentBefore'));
  node.items.push(...commentsOf(doc, 'comment'));
  return node;
}

/** Parses YAML text, strictly enough that detection does not guess. */
export function parseYamlDocuments(text: string): Document[] | undefined {
  const docs = parseAllDocuments(text, { uniqueKeys: false });
  if (!Array.isArray(docs) || docs.some((d) => d.errors.length > 0)) return undefined;
  return docs;
}

function metadataPair(doc: Document): Pair | undefined {
  const contents: Node | null = doc.contents;
  if (!isMap(contents)) return undefined;
  return contents.items.find((p) => isScalar(p.key) && p.key.value === 'sops');
}

/** The `sops` mapping of the first document, as plain data; undefined when there is none. */
export function yamlMetadata(docs: readonly Document[]): unknown {
  const first = docs[0];
  const pair = first === undefined ? undefined : metadataPair(first);
  return pair === undefined ? undefined : (pair.value as Node | null)?.toJSON();
}

/** A SOPS YAML file: metadata from the first document, `sops` keys dropped from all of them. */
export function loadSopsYaml(text: string): SopsDocument {
  const docs = parseYamlDocuments(text);
  if (docs === undefined || docs.length === 0) throw new TreeInvalid('not valid YAML');
  const metadata = yamlMetadata(docs);
  for (const doc of docs) {
    const pair = metadataPair(doc);
    if (pair !== undefined && isMap(doc.contents)) {
      doc.contents.items = doc.contents.items.filter((p) => p !== pair);
    }
  }
  const branches = docs.map(topBranch);
  return {
    metadata,
    branches,
    emit: () =>
      Buffer.from(
        docs
          .map((doc, i) => {
            if (i > 0 && doc.directives !== undefined) doc.directives.docStart = true;
            return doc.toString({ lineWidth: 0 });
          })
          .join(''),
      ),
  };
}
