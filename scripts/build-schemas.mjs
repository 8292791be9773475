// Writes the editor JSON Schemas (schemas/*.json) from berth's zod schemas, as compiled to
// dist/ by `tsc -p tsconfig.build.json`: part of `npm run build`, so it needs nothing but Node.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { editorSchemas, formatJson } from '../dist/config/json-schema.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const folder = path.join(root, 'schemas');
await mkdir(folder, { recursive: true });
for (const { file, schema } of editorSchemas()) {
  await writeFile(path.join(folder, file), formatJson(schema));
}
