import type { SopsDocument } from './sops-document.js';
import { unflatten } from './sops-metadata.js';
import type { PlainValue } from './sops-values.js';
import type { TreeBranch } from './sops-tree.js';
import { TreeInvalid } from './sops-tree.js';

/** Lines as stores/dotenv/store.go reads them: `#comment` or `KEY=value`, `\n` escaped. */
type Line = { comment: string } | { key: string; value: string };

export const DOTENV_METADATA_PREFIX = 'sops_';

export function parseDotenvLines(text: string): Line[] | undefined {
  const lines: Line[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      lines.push({ comment: line.slice(1) });
      continue;
    }
    const eq = line.indexOf('=');
    if (eq === -1) return undefined;
    lines.push({ key: line.slice(0, eq), value: line.slice(eq + 1).replaceAll('\\n', '\n') });
  }
  return lines;
}

function valueText(plain: PlainValue): string {
  return plain.type === 'bytes' ? plain.value.toString('utf8') : String(plain.value);
}

/** A SOPS dotenv file: `sops_*` lines are the flattened metadata. */
export function loadSopsDotenv(text: string): SopsDocument {
  const lines = parseDotenvLines(text);
  if (lines === undefined) throw new TreeInvalid('a dotenv line has no "="');
  const flat: Array<[string, string]> = [];
  const kept: Line[] = [];
  for (const line of lines) {
    if ('key' in line && line.key.startsWith(DOTENV_METADATA_PREFIX)) {
      flat.push([line.key.slice(DOTENV_METADATA_PREFIX.length), line.value]);
    } else kept.push(line);
  }
  const branch: TreeBranch = {
    kind: 'branch',
    items: kept.map((line) =>
      'comment' in line
        ? { kind: 'comment', text: line.comment, set: (plain) => (line.comment = plain) }
        : {
            key: line.key,
            value: {
              kind: 'leaf',
              value: line.value,
              set: (plain) => (line.value = valueText(plain)),
            },
          },
    ),
  };
  const emit = (): Buffer =>
    Buffer.from(
      kept
        .map((line) =>
          'comment' in line
            ? `#${line.comment}\n`
            : `${line.key}=${line.value.replaceAll('\n', '\\n')}\n`,
        )
        .join(''),
    );
  return { metadata: flat.length === 0 ? undefined : unflatten(flat), branches: [branch], emit };
}
