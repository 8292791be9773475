import { z } from 'zod';
import { BoundedDuration, MAX_DURATION_MS } from '../duration.js';
import { DeploySettingsInput } from '../stack/settings.js';
import { methodNames } from '../strategies/registry.js';
import { ConfigFile } from './schema.js';

/**
 * JSON Schemas of berth.yaml and a stack's deploy settings, for editors (yaml-language-server).
 * Draft-07: the draft the VS Code YAML extension validates. They accept all that berth accepts
 * in a file: refinements and cross-key rules stay with zod, so the schemas are looser, never
 * stricter. `scripts/build-schemas.mjs` writes them to schemas/ at build time.
 */
export type JsonSchema = Record<string, unknown>;

export interface EditorSchema {
  /** The file under schemas/. */
  file: string;
  schema: JsonSchema;
}

/** A duration as parseDuration reads it: Go's syntax or a bare number, spaces around allowed. */
const DURATION_PATTERN = String.raw`^\s*(?:\d+(?:\.\d+)?|(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)\s*$`;

const DURATION_JSON: JsonSchema = {
  description:
    'A duration: "30s", "2m", "1h30m", "500ms" or a bare number of seconds; at most 576h.',
  anyOf: [
    { type: 'string', pattern: DURATION_PATTERN },
    { type: 'number', minimum: 0, maximum: MAX_DURATION_MS / 1000 },
  ],
};

/** The schemas, in the order they are written. */
export function editorSchemas(): EditorSchema[] {
  return [
    {
      file: 'berth.schema.json',
      schema: withHeader(envFillable(toJson(ConfigFile)), {
        $id: 'urn:berth:schema:berth.yaml',
        title: 'berth configuration (berth.yaml)',
        description:
          "berth's configuration file. Keys may also come from BERTH_* environment variables (BERTH_GIT_URL sets source.git.url), so source and source.git.url are not required here.",
      }),
    },
    {
      file: 'deploy.schema.json',
      schema: withHeader(withMethods(toJson(DeploySettingsInput)), {
        $id: 'urn:berth:schema:deploy.yaml',
        title: "berth stack deploy settings (deploy.yaml, x-berth, '# Deploy Start #')",
        description:
          "A stack's deploy settings; keys left out take the defaults of berth.yaml (defaults:).",
      }),
    },
  ];
}

function toJson(schema: z.ZodType): JsonSchema {
  const duration = BoundedDuration._zod.def.out;
  return z.toJSONSchema(schema, {
    target: 'draft-07',
    io: 'input',
    unrepresentable: 'any',
    // Every duration is BoundedDuration (an unknown piped into a parser) or a refined copy of
    // it sharing the parser; left alone it would become {}, which tells an editor nothing.
    override: ({ zodSchema, jsonSchema }) => {
      const def = zodSchema._zod.def;
      if (def.type === 'pipe' && def.out === duration)
        Object.assign(jsonSchema, structuredClone(DURATION_JSON));
    },
  });
}

/** `$schema` first, then the header, then the rest. */
function withHeader(schema: JsonSchema, header: JsonSchema): JsonSchema {
  const { $schema, ...rest } = schema;
  return { $schema, ...header, ...rest };
}

/**
 * Env variables set keys along paths of nested objects (BERTH_SOURCE__GIT__URL), so a key
 * zod requires may be missing from a valid file. Entries of lists and maps are not reached.
 */
function envFillable(schema: JsonSchema): JsonSchema {
  const entries = Object.entries(schema).filter(([key]) => key !== 'required');
  return Object.fromEntries(
    entries.map(([key, value]) =>
      key === 'properties' && isObject(value)
        ? [key, mapValues(value, objectsEnvFillable)]
        : [key, value],
    ),
  );
}

function objectsEnvFillable(value: unknown): unknown {
  return isObject(value) && value.type === 'object' ? envFillable(value) : value;
}

function mapValues(
  record: Record<string, unknown>,
  fn: (value: unknown) => unknown,
): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, fn(value)]));
}

/** The strategy registry says which methods there are; the zod schema takes any name. */
function withMethods(schema: JsonSchema): JsonSchema {
  const properties = isObject(schema.properties) ? schema.properties : {};
  const method = { type: 'string', enum: [...methodNames()] };
  return { ...schema, properties: { ...properties, method, methode: method } };
}

/** The files' text: generated, so prettier leaves them alone (.prettierignore). */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
