import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { REFUSED_FIELDS } from '../../src/compose/fields.js';
import {
  parseRaw,
  RawFileDefinition,
  RawInclude,
  RawNetwork,
  RawService,
  RawTopLevel,
  RawVolume,
} from '../../src/compose/schema.js';
import { ComposeError } from '../../src/errors.js';

/**
 * Every field of the compose specification is either mapped (accepted by berth's schemas) or
 * refused by name (REFUSED_FIELDS), and docs/compose-fields.md lists it with the same verdict.
 * The spec is the JSON schema of the reference docker-compose 1.29 installed on this machine
 * (scripts/ensure-docker.sh), plus the names the compose-spec added since (NEWER_FIELDS).
 * Field paths: `*` is any name (a service, a network), `[]` any list item.
 */

const SPEC_FILE = '/usr/lib/python3/dist-packages/compose/config/compose_spec.json';
const DOC_FILE = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../docs/compose-fields.md',
);

/** Fields of compose-spec/compose-spec schema/compose-spec.json that docker-compose 1.29's schema lacks. */
const NEWER_FIELDS: Record<string, string[]> = {
  '': ['name', 'include', 'models'],
  'include[]': ['path', 'env_file', 'project_directory'],
  'services.*': [
    'develop',
    'annotations',
    'attach',
    'cgroup',
    'label_file',
    'provider',
    'gpus',
    'models',
    'post_start',
    'pre_stop',
    'pull_refresh_after',
    'use_api_socket',
    'uts',
  ],
  'services.*.build': [
    'dockerfile_inline',
    'entitlements',
    'ssh',
    'cache_to',
    'no_cache',
    'additional_contexts',
    'pull',
    'privileged',
    'secrets',
    'tags',
    'ulimits',
    'platforms',
  ],
  'services.*.deploy.resources.limits': ['pids'],
  'services.*.depends_on.*': ['restart', 'required'],
  'services.*.devices[]': ['source', 'target', 'permissions'],
  'services.*.env_file[]': ['path', 'format', 'required'],
  'services.*.gpus[]': ['capabilities', 'count', 'device_ids', 'driver', 'options'],
  'services.*.healthcheck': ['start_interval'],
  'services.*.networks.*': ['interface_name', 'mac_address', 'driver_opts', 'gw_priority'],
  'services.*.ports[]': ['name', 'host_ip', 'app_protocol'],
  'services.*.volumes[]': ['image'],
  'services.*.volumes[].bind': ['create_host_path', 'recursive', 'selinux'],
  'services.*.volumes[].volume': ['labels', 'subpath'],
  'services.*.volumes[].tmpfs': ['mode'],
  'services.*.volumes[].image': ['subpath'],
  'networks.*': ['enable_ipv4'],
  'secrets.*': ['environment'],
  'configs.*': ['content', 'environment'],
};

/** Resolved by the loader (src/compose/load.ts) before a service reaches RawService. */
const LOADER_FIELDS: Record<string, string[]> = {
  'services.*': ['extends'],
  'services.*.extends': ['service', 'file'],
};

interface JsonSchema {
  $ref?: string;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  definitions?: Record<string, JsonSchema>;
}

/** path -> field names, for every object the JSON schema describes. */
function specFields(spec: JsonSchema): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const resolve = (node: JsonSchema | undefined): JsonSchema | undefined => {
    let current = node;
    while (current?.$ref !== undefined)
      current = spec.definitions?.[current.$ref.split('/').pop() ?? ''];
    return current;
  };
  const walk = (raw: JsonSchema | undefined, at: string, depth: number): void => {
    const node = resolve(raw);
    if (node === undefined || depth > 20) return;
    for (const branch of [...(node.oneOf ?? []), ...(node.anyOf ?? []), ...(node.allOf ?? [])])
      walk(branch, at, depth + 1);
    if (node.properties !== undefined) {
      const names = out.get(at) ?? new Set<string>();
      for (const [name, child] of Object.entries(node.properties)) {
        names.add(name);
        walk(child, at === '' ? name : `${at}.${name}`, depth + 1);
      }
      out.set(at, names);
    }
    for (const [pattern, child] of Object.entries(node.patternProperties ?? {}))
      if (!pattern.startsWith('^x-')) walk(child, `${at}.*`, depth + 1);
    if (typeof node.additionalProperties === 'object')
      walk(node.additionalProperties, `${at}.*`, depth + 1);
    if (node.items !== undefined) walk(node.items, `${at}[]`, depth + 1);
  };
  walk(spec, '', 0);
  for (const [at, names] of Object.entries(NEWER_FIELDS)) {
    const set = out.get(at) ?? new Set<string>();
    for (const name of names) set.add(name);
    out.set(at, set);
  }
  return out;
}

function key(at: string, field: string): string {
  return at === '' ? field : `${at}.${field}`;
}

/** True when a field above this one is refused: what is inside it is never read. */
function underRefused(fieldKey: string): boolean {
  return Object.keys(REFUSED_FIELDS).some(
    (refused) => fieldKey.startsWith(`${refused}.`) || fieldKey.startsWith(`${refused}[]`),
  );
}

type Node = z.core.$ZodType;

/** The schemas a value at `node` may match, looking through optional, pipes and unions. */
function leaves(node: Node): Node[] {
  const def = node._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      return leaves(def.innerType as Node);
    case 'pipe':
      return leaves(def.in as Node);
    case 'lazy':
      return leaves((def.getter as () => Node)());
    case 'union':
      return (def.options as Node[]).flatMap(leaves);
    default:
      return [node];
  }
}

function step(nodes: Node[], segment: string): Node[] {
  const list = segment.endsWith('[]');
  const name = list ? segment.slice(0, -2) : segment;
  let next: Node[] = [];
  for (const node of nodes.flatMap(leaves)) {
    const def = node._zod.def as unknown as Record<string, unknown> & { type: string };
    if (name === '*' && def.type === 'record') next.push(def.valueType as Node);
    const shape = def.type === 'object' ? (def.shape as Record<string, Node>) : undefined;
    if (name !== '*' && shape?.[name] !== undefined) next.push(shape[name]);
  }
  if (list) {
    next = next
      .flatMap(leaves)
      .filter((n) => n._zod.def.type === 'array')
      .map((n) => (n._zod.def as unknown as { element: Node }).element);
  }
  return next;
}

/** The schema a path starts in, and the rest of the path. */
function root(at: string): [z.ZodType, string[]] {
  const segments = at === '' ? [] : at.split('.');
  const [first, second, ...rest] = segments;
  const sections: Record<string, z.ZodType> = {
    services: RawService,
    networks: RawNetwork,
    volumes: RawVolume,
    secrets: RawFileDefinition,
    configs: RawFileDefinition,
  };
  const section = first === undefined ? undefined : sections[first];
  if (section !== undefined && second === '*') return [section, rest];
  if (first === 'include[]') return [RawInclude, segments.slice(1)];
  return [RawTopLevel, segments];
}

/** The fields berth's schemas accept in the object at `at`. */
function acceptedAt(at: string): Set<string> {
  const [start, rest] = root(at);
  let nodes: Node[] = [start];
  for (const segment of rest) nodes = step(nodes, segment);
  const names = new Set<string>(LOADER_FIELDS[at] ?? []);
  for (const node of nodes.flatMap(leaves)) {
    const def = node._zod.def as unknown as { type: string; shape?: Record<string, Node> };
    if (def.type === 'object') for (const name of Object.keys(def.shape ?? {})) names.add(name);
  }
  return names;
}

interface DocRow {
  verdict: string;
  text: string;
}

/**
 * Sections headed `## Title (`path`)`, `## `path`` or `## Top level`, with rows
 * `| `field` | mapped or refused | text |`.
 */
function docRows(markdown: string): Map<string, DocRow> {
  const rows = new Map<string, DocRow>();
  let at: string | undefined;
  for (const line of markdown.split('\n')) {
    const heading = /^## (?:`([^`]+)`|.*\(`([^`]+)`\)|Top level)\s*$/.exec(line);
    if (line.startsWith('## ')) {
      at = heading === null ? undefined : (heading[1] ?? heading[2] ?? '');
      continue;
    }
    const row = /^\| `([^`]+)` \| (mapped|refused) \| (.*) \|\s*$/.exec(line);
    if (row !== null && at !== undefined)
      rows.set(key(at, row[1] ?? ''), { verdict: row[2] ?? '', text: row[3] ?? '' });
  }
  return rows;
}

function readSpec(): JsonSchema {
  if (!existsSync(SPEC_FILE))
    throw new Error(
      `${SPEC_FILE} is missing: run scripts/ensure-docker.sh (installs docker-compose)`,
    );
  return JSON.parse(readFileSync(SPEC_FILE, 'utf8')) as JsonSchema;
}

const spec = specFields(readSpec());
/** Every field berth reads or refuses: `path.field` -> path. */
const inventory = new Map<string, string>();
for (const [at, names] of spec)
  for (const name of names) if (!underRefused(key(at, name))) inventory.set(key(at, name), at);

describe('compose-spec field inventory', () => {
  it('walks the spec schema down to nested objects', () => {
    for (const at of ['', 'services.*', 'services.*.build', 'services.*.deploy', 'networks.*'])
      expect(spec.has(at), at).toBe(true);
    expect(spec.get('services.*')?.size).toBeGreaterThan(80);
  });

  it('maps or refuses every field, never both', () => {
    const neither: string[] = [];
    const both: string[] = [];
    for (const [fieldKey, at] of inventory) {
      const name = fieldKey.slice(at === '' ? 0 : at.length + 1);
      const accepted = acceptedAt(at).has(name);
      const refused = REFUSED_FIELDS[fieldKey] !== undefined;
      if (!accepted && !refused) neither.push(fieldKey);
      if (accepted && refused) both.push(fieldKey);
    }
    expect(neither, 'neither mapped nor in REFUSED_FIELDS').toEqual([]);
    expect(both, 'mapped and refused').toEqual([]);
  });

  it('refuses only fields of the spec', () => {
    const unknown = Object.keys(REFUSED_FIELDS).filter((k) => !inventory.has(k));
    expect(unknown).toEqual([]);
  });

  it('lists every field in docs/compose-fields.md with the same verdict and reason', () => {
    const rows = docRows(readFileSync(DOC_FILE, 'utf8'));
    const missing: string[] = [];
    const wrong: string[] = [];
    for (const fieldKey of inventory.keys()) {
      const row = rows.get(fieldKey);
      const why = REFUSED_FIELDS[fieldKey];
      if (row === undefined) missing.push(fieldKey);
      else if (why === undefined ? row.verdict !== 'mapped' : row.verdict !== 'refused')
        wrong.push(`${fieldKey}: the doc says ${row.verdict}`);
      else if (why !== undefined && row.text !== why)
        wrong.push(`${fieldKey}: the doc's reason differs from REFUSED_FIELDS`);
    }
    const extra = [...rows.keys()].filter((k) => !inventory.has(k));
    expect(missing, 'not in the doc').toEqual([]);
    expect(wrong).toEqual([]);
    expect(extra, 'in the doc but not in the spec').toEqual([]);
  });

  it('states the counts in docs/compose-fields.md', () => {
    const count = (at?: string): string => {
      let mapped = 0;
      let refused = 0;
      for (const [fieldKey, where] of inventory) {
        if (at !== undefined && where !== at) continue;
        if (REFUSED_FIELDS[fieldKey] === undefined) mapped += 1;
        else refused += 1;
      }
      return `${mapped} | ${refused} |`;
    };
    const objects = new Set(inventory.values()).size;
    const doc = readFileSync(DOC_FILE, 'utf8');
    expect(doc).toContain(`| Top level | ${count('')}`);
    expect(doc).toContain(`| Service | ${count('services.*')}`);
    expect(doc).toContain(`| All ${objects} objects of the specification | ${count()}`);
  });
});

/** A value that is valid where the list item or object at a path is expected, but for one field. */
const ITEM_BASE: Record<string, Record<string, unknown>> = {
  'volumes[]': { type: 'volume', target: '/data' },
  'env_file[]': { path: '/stack/app.env' },
  'ports[]': { target: 80 },
};

/** Builds `{a: {b: [{...c: value}]}}` for the segments `a.b[].c`. */
function nest(segments: string[], value: unknown): { value: unknown; field: string } {
  const [head, ...rest] = segments;
  if (head === undefined) return { value, field: '' };
  const inner = nest(rest, value);
  const list = head.endsWith('[]');
  const name = list ? head.slice(0, -2) : head === '*' ? 'front' : head;
  const base = list ? (ITEM_BASE[head] ?? {}) : {};
  const child =
    rest.length === 0 ? value : { ...base, ...(inner.value as Record<string, unknown>) };
  const field = `${name}${list ? '[0]' : ''}${inner.field === '' ? '' : `.${inner.field}`}`;
  return { value: { [name]: list ? [child] : child }, field };
}

describe('refused fields', () => {
  it.each(Object.entries(REFUSED_FIELDS))('%s fails naming the field and why', (fieldKey, why) => {
    const dot = fieldKey.lastIndexOf('.');
    const [schema, rest] = root(dot < 0 ? '' : fieldKey.slice(0, dot));
    const segments = [...rest, fieldKey.slice(dot + 1)];
    const built = nest(segments, {});
    const service = schema === RawService;
    const section = !service && schema !== RawTopLevel ? fieldKey.split('.')[0] : undefined;
    const value = service ? { image: 'a', ...(built.value as object) } : built.value;
    const place = service
      ? { file: 'compose.yaml', service: 'web', what: 'service' }
      : section !== undefined
        ? { file: 'compose.yaml', prefix: `${section}.front`, what: 'definition' }
        : { file: 'compose.yaml', what: 'top level' };
    let error: unknown;
    try {
      parseRaw(schema, value, place);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ComposeError);
    const err = error as ComposeError;
    const field = section === undefined ? built.field : `${section}.front.${built.field}`;
    expect(err.reason).toBe('ComposeFieldUnsupported');
    expect(err.place.field).toBe(field);
    expect(err.message).toContain(`field "${field}" is not supported: ${why}`);
  });

  it('says a service field is not supported and why', () => {
    expect(() =>
      parseRaw(
        RawService,
        { image: 'a', develop: { watch: [] } },
        {
          file: 'compose.yaml',
          service: 'web',
          what: 'service',
        },
      ),
    ).toThrow(
      'compose.yaml: service "web": field "develop" is not supported: watch mode is a development feature; berth deploys from git',
    );
  });

  it('names a field outside the spec as unknown', () => {
    expect(() =>
      parseRaw(
        RawService,
        { image: 'a', imagee: 'b' },
        {
          file: 'compose.yaml',
          service: 'web',
          what: 'service',
        },
      ),
    ).toThrow('field "imagee" is not supported: not a compose-spec field berth knows');
  });
});
