import type { SopsDocument } from './sops-document.js';
import type { PlainValue } from './sops-values.js';
import type { TreeBranch, TreeNode } from './sops-tree.js';
import { TreeInvalid } from './sops-tree.js';

/**
 * JSON kept in file order. JSON.parse cannot be used: it moves integer-like keys first, and
 * the MAC covers the values in the order SOPS read them.
 */
export type JsonValue =
  | { t: 'object'; entries: Array<[string, JsonValue]> }
  | { t: 'array'; items: JsonValue[] }
  | { t: 'scalar'; value: string | number | boolean | null }
  | { t: 'raw'; bytes: Buffer };

class JsonReader {
  private at = 0;
  constructor(private readonly text: string) {}

  fail(): never {
    throw new TreeInvalid(`invalid JSON at offset ${this.at}`);
  }

  private skip(): void {
    while (/\s/.test(this.text[this.at] ?? '')) this.at++;
  }

  document(): JsonValue {
    const value = this.value();
    this.skip();
    if (this.at !== this.text.length) this.fail();
    return value;
  }

  private value(): JsonValue {
    this.skip();
    const c = this.text[this.at];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return { t: 'scalar', value: this.string() };
    const match = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(
      this.text.slice(this.at, this.at + 400),
    );
    if (match === null) this.fail();
    this.at += match[0].length;
    const literal: string = match[0];
    if (literal === 'true' || literal === 'false')
      return { t: 'scalar', value: literal === 'true' };
    return { t: 'scalar', value: literal === 'null' ? null : Number(literal) };
  }

  private string(): string {
    const match = /^"(?:[^"\\]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/.exec(this.text.slice(this.at));
    if (match === null) this.fail();
    this.at += match[0].length;
    try {
      // JSON.parse also refuses the raw control characters JSON forbids in strings.
      return JSON.parse(match[0]) as string;
    } catch {
      return this.fail();
    }
  }

  private expect(c: string): void {
    this.skip();
    if (this.text[this.at] !== c) this.fail();
    this.at++;
  }

  private peekIs(c: string): boolean {
    this.skip();
    if (this.text[this.at] !== c) return false;
    this.at++;
    return true;
  }

  private object(): JsonValue {
    this.expect('{');
    const entries: Array<[string, JsonValue]> = [];
    if (this.peekIs('}')) return { t: 'object', entries };
    do {
      this.skip();
      if (this.text[this.at] !== '"') this.fail();
      const key = this.string();
      this.expect(':');
      entries.push([key, this.value()]);
    } while (this.peekIs(','));
    this.expect('}');
    return { t: 'object', entries };
  }

  private array(): JsonValue {
    this.expect('[');
    const items: JsonValue[] = [];
    if (this.peekIs(']')) return { t: 'array', items };
    do items.push(this.value());
    while (this.peekIs(','));
    this.expect(']');
    return { t: 'array', items };
  }
}

export function parseOrderedJson(text: string): JsonValue {
  return new JsonReader(text).document();
}

/** Plain data of a parsed value (for the metadata). */
export function jsonToPlain(value: JsonValue): unknown {
  switch (value.t) {
    case 'object':
      return Object.fromEntries(value.entries.map(([k, v]) => [k, jsonToPlain(v)]));
    case 'array':
      return value.items.map(jsonToPlain);
    case 'scalar':
      return value.value;
    case 'raw':
      return value.bytes.toString('utf8');
  }
}

function plainToJson(plain: PlainValue): JsonValue {
  switch (plain.type) {
    case 'bytes':
      return { t: 'scalar', value: plain.value.toString('utf8') };
    case 'int':
      return typeof plain.value === 'bigint'
        ? { t: 'raw', bytes: Buffer.from(plain.value.toString()) }
        : { t: 'scalar', value: plain.value };
    default:
      return { t: 'scalar', value: plain.value };
  }
}

function nodeOf(value: JsonValue, replace: (next: JsonValue) => void): TreeNode {
  switch (value.t) {
    case 'object':
      return {
        kind: 'branch',
        items: value.entries.map((entry) => ({
          key: entry[0],
          value: nodeOf(entry[1], (next) => (entry[1] = next)),
        })),
      };
    case 'array':
      return {
        kind: 'list',
        items: value.items.map((item, i) => nodeOf(item, (next) => (value.items[i] = next))),
      };
    case 'scalar':
      return { kind: 'leaf', value: value.value, set: (plain) => replace(plainToJson(plain)) };
    case 'raw':
      return { kind: 'leaf', value: value.bytes.toString('utf8'), set: () => {} };
  }
}

/** Go's json.Indent with a tab, as sops writes JSON. */
export function writeJson(value: JsonValue, indent = ''): string {
  const inner = `${indent}\t`;
  switch (value.t) {
    case 'object':
      if (value.entries.length === 0) return '{}';
      return `{\n${value.entries
        .map(([k, v]) => `${inner}${JSON.stringify(k)}: ${writeJson(v, inner)}`)
        .join(',\n')}\n${indent}}`;
    case 'array':
      if (value.items.length === 0) return '[]';
      return `[\n${value.items.map((v) => inner + writeJson(v, inner)).join(',\n')}\n${indent}]`;
    case 'scalar':
      return JSON.stringify(value.value);
    case 'raw':
      return value.bytes.toString('utf8');
  }
}

function topOf(text: string): Extract<JsonValue, { t: 'object' }> {
  const top = parseOrderedJson(text);
  if (top.t !== 'object') throw new TreeInvalid('the JSON document is not an object');
  return top;
}

function splitMetadata(top: Extract<JsonValue, { t: 'object' }>): unknown {
  const entry = top.entries.find(([k]) => k === 'sops');
  top.entries = top.entries.filter(([k]) => k !== 'sops');
  return entry === undefined ? undefined : jsonToPlain(entry[1]);
}

/** A SOPS JSON file; the plaintext is the same JSON without `sops`, tab-indented as sops does. */
export function loadSopsJson(text: string): SopsDocument {
  const top = topOf(text);
  const metadata = splitMetadata(top);
  const branch = nodeOf(top, () => {}) as TreeBranch;
  return { metadata, branches: [branch], emit: () => Buffer.from(`${writeJson(top)}\n`) };
}

/** A SOPS binary file: a JSON envelope whose `data` holds the file; the plaintext is that. */
export function loadSopsBinary(text: string): SopsDocument {
  const top = topOf(text);
  const metadata = splitMetadata(top);
  let data: Buffer | undefined;
  const branch: TreeBranch = { kind: 'branch', items: [] };
  for (const [key, value] of top.entries) {
    if (value.t !== 'scalar') throw new TreeInvalid('a SOPS binary envelope holds only strings');
    branch.items.push({
      key,
      value: {
        kind: 'leaf',
        value: value.value,
        set: (plain) => {
          if (key !== 'data') return;
          data = plain.type === 'bytes' ? plain.value : Buffer.from(String(plain.value), 'utf8');
        },
      },
    });
  }
  return {
    metadata,
    branches: [branch],
    emit: () => {
      if (data === undefined) throw new TreeInvalid('the SOPS binary envelope has no data');
      return data;
    },
  };
}
