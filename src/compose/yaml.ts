import {
  isNode,
  isScalar,
  LineCounter,
  parseDocument,
  visit,
  Pair,
  Scalar,
  YAMLMap,
  YAMLSeq,
  type Document,
  type Tags,
} from 'yaml';
import { describeCap, MAX_INPUT_FILE_BYTES } from '../bounded-read.js';
import { ComposeError } from '../errors.js';

/** `!reset` in a compose file: drop the inherited value of this field. */
export class ResetMarker {
  readonly kind = 'reset';
}

/** `!override` in a compose file: replace the inherited value instead of merging with it. */
export class OverrideMarker {
  readonly kind = 'override';
  constructor(readonly value: unknown) {}
}

const RESET_KEY = '\u0000berth-reset';
const OVERRIDE_KEY = '\u0000berth-override';

function markerTags(tag: string): Tags {
  return [
    { tag, resolve: (value: string): string => value },
    { tag, collection: 'map', nodeClass: YAMLMap, resolve: (node: unknown): unknown => node },
    { tag, collection: 'seq', nodeClass: YAMLSeq, resolve: (node: unknown): unknown => node },
  ];
}

/** Go's YAML reads a plain `0440` as octal, and Compose files rely on it for file modes. */
const goOctal = {
  identify: (value: unknown): boolean => typeof value === 'number',
  default: true,
  tag: 'tag:yaml.org,2002:int',
  test: /^0[0-7]+$/,
  resolve: (text: string): number => parseInt(text, 8),
};

const CUSTOM_TAGS = (tags: Tags): Tags => [
  goOctal,
  ...tags,
  ...markerTags('!reset'),
  ...markerTags('!override'),
];

/** How often aliases may be expanded (the yaml library's measure, which weighs nesting). */
const MAX_ALIAS_COUNT = 1000;

/**
 * How large a document may become once aliases are expanded: a string counts its length,
 * every value and key one more. Each alias of a large mapping is a copy later steps walk, and
 * an alias of its own ancestor is a cycle; both stop here.
 */
const MAX_EXPANDED_SIZE = 16 * MAX_INPUT_FILE_BYTES;

/** Whether the expanded document is larger than `budget`, walking no further than that. */
function exceedsSize(root: unknown, budget: number): boolean {
  const pending: unknown[] = [root];
  let used = 1;
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') used += value.length;
    else if (Array.isArray(value)) {
      // Children are paid for when queued, so the queue never outgrows the budget.
      used += value.length;
      if (used > budget) return true;
      for (const item of value) pending.push(item);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) {
        used += key.length + 1;
        if (used > budget) return true;
        pending.push(item);
      }
    }
    if (used > budget) return true;
  }
  return false;
}

/**
 * The first key repeated within a mapping, described with its position. One pass with a set
 * per mapping: the yaml library's `uniqueKeys` is quadratic, minutes for a 1 MiB mapping.
 * Scalar keys compare by value, as the library does; other keys never count as repeated.
 */
export function duplicateKey(doc: Document, lineCounter: LineCounter): string | undefined {
  let found: string | undefined;
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const value = pair.key.value;
        if (seen.has(value)) {
          const { line, col } = lineCounter.linePos(pair.key.range?.[0] ?? 0);
          found = `Map keys must be unique: "${String(value)}" at line ${line}, column ${col}`;
          return visit.BREAK;
        }
        seen.add(value);
      }
      return undefined;
    },
  });
  return found;
}

function wrap(key: string, node: unknown): YAMLMap {
  const map = new YAMLMap();
  map.items.push(new Pair(new Scalar(key), node));
  return map;
}

function unwrapMarkers(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapMarkers);
  if (value !== null && typeof value === 'object' && !(value instanceof OverrideMarker)) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    if (keys.length === 1 && keys[0] === RESET_KEY) return new ResetMarker();
    if (keys.length === 1 && keys[0] === OVERRIDE_KEY)
      return new OverrideMarker(unwrapMarkers(record[OVERRIDE_KEY]));
    const out: Record<string, unknown> = {};
    for (const key of keys) out[key] = unwrapMarkers(record[key]);
    return out;
  }
  return value;
}

/**
 * Parses one compose file into plain values, with YAML anchors, aliases and merge keys resolved
 * and `!reset` / `!override` turned into marker objects for the merge step.
 */
export function parseComposeYaml(text: string, file: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    merge: true,
    customTags: CUSTOM_TAGS,
    prettyErrors: true,
    // Checked below in one pass: the library compares every key with every other.
    uniqueKeys: false,
    lineCounter,
  });
  const problem = doc.errors[0]?.message ?? duplicateKey(doc, lineCounter);
  if (problem !== undefined) {
    throw new ComposeError('ComposeYamlInvalid', `${file}: invalid YAML: ${problem}`, {
      cause: doc.errors[0],
      place: { file },
    });
  }
  // Tagged nodes become single-key wrapper maps so the plain conversion keeps the information.
  visit(doc, {
    Node(_key, node) {
      if (!isNode(node)) return undefined;
      if (node.tag === '!reset') {
        node.tag = undefined;
        return wrap(RESET_KEY, node);
      }
      if (node.tag === '!override') {
        node.tag = undefined;
        return wrap(OVERRIDE_KEY, node);
      }
      return undefined;
    },
  });
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // Alias bombs and similar structural problems surface only while converting.
    const message = (err as Error).message;
    const why = /alias/i.test(message)
      ? `too many alias expansions (an alias bomb?): ${message}`
      : message;
    throw new ComposeError('ComposeYamlInvalid', `${file}: invalid YAML: ${why}`, {
      cause: err,
      place: { file },
    });
  }
  if (exceedsSize(value, MAX_EXPANDED_SIZE))
    throw new ComposeError(
      'ComposeYamlInvalid',
      `${file}: invalid YAML: aliases expand the document past ${describeCap(MAX_EXPANDED_SIZE)} (an alias bomb?)`,
      { place: { file } },
    );
  return unwrapMarkers(value);
}
