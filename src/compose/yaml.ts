import { isNode, parseDocument, visit, Pair, Scalar, YAMLMap, YAMLSeq, type Tags } from 'yaml';
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
  const doc = parseDocument(text, {
    merge: true,
    customTags: CUSTOM_TAGS,
    prettyErrors: true,
    uniqueKeys: true,
  });
  const problem = doc.errors[0];
  if (problem !== undefined) {
    throw new ComposeError('ComposeYamlInvalid', `${file}: invalid YAML: ${problem.message}`, {
      cause: problem,
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
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    // Alias bombs and similar structural problems surface only while converting.
    throw new ComposeError(
      'ComposeYamlInvalid',
      `${file}: invalid YAML: ${(err as Error).message}`,
      {
        cause: err,
        place: { file },
      },
    );
  }
  return unwrapMarkers(value);
}
