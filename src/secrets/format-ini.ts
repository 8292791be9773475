import type { SopsDocument } from './sops-document.js';
import { unflatten } from './sops-metadata.js';
import type { PlainValue } from './sops-values.js';
import type { TreeBranch, TreeComment } from './sops-tree.js';
import { TreeInvalid } from './sops-tree.js';

/**
 * INI as gopkg.in/ini.v1 reads it with its defaults, which is what stores/ini/store.go uses:
 * a DEFAULT section first, repeated sections merged, a repeated key keeping its first place,
 * `;`/`#` comments attached to the section or key that follows.
 */
interface IniKey {
  name: string;
  value: string;
  comment: string;
}
interface IniSection {
  name: string;
  comment: string;
  keys: IniKey[];
}

const DEFAULT_SECTION = 'DEFAULT';

function unquote(raw: string): string {
  for (const q of ['"""', '"', '`']) {
    if (raw.length >= 2 * q.length && raw.startsWith(q) && raw.endsWith(q)) {
      return raw.slice(q.length, raw.length - q.length);
    }
  }
  const cut = raw.search(/[#;]/);
  return (cut === -1 ? raw : raw.slice(0, cut)).trim();
}

function sectionNamed(sections: IniSection[], name: string): IniSection {
  const found = sections.find((s) => s.name === name);
  if (found !== undefined) return found;
  const section: IniSection = { name, comment: '', keys: [] };
  sections.push(section);
  return section;
}

export function parseIni(text: string): IniSection[] | undefined {
  const sections: IniSection[] = [{ name: DEFAULT_SECTION, comment: '', keys: [] }];
  let current = sections[0] as IniSection;
  let pending: string[] = [];
  for (const rawLine of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '') continue;
    if (line.startsWith('#') || line.startsWith(';')) {
      pending.push(line);
      continue;
    }
    if (line.startsWith('[')) {
      const end = line.indexOf(']');
      if (end === -1) return undefined;
      current = sectionNamed(sections, line.slice(1, end).trim());
      if (pending.length > 0) current.comment = pending.join('\n');
      pending = [];
      continue;
    }
    const delimiter = line.search(/[=:]/);
    if (delimiter <= 0) return undefined;
    const name = line.slice(0, delimiter).trim();
    const value = unquote(line.slice(delimiter + 1).trim());
    const existing = current.keys.find((k) => k.name === name);
    if (existing !== undefined) existing.value = value;
    else current.keys.push({ name, value, comment: pending.join('\n') });
    pending = [];
  }
  return sections;
}

/** stores/ini/store.go's stripCommentChar. */
function stripComment(comment: string): string {
  if (comment.startsWith(';')) return comment.replace(/^[; ]+/, '');
  if (comment.startsWith('#')) return comment.replace(/^[# ]+/, '');
  return comment;
}

function commentItem(owner: { comment: string }): TreeComment {
  return {
    kind: 'comment',
    text: stripComment(owner.comment),
    set: (plain) => (owner.comment = `; ${plain}`),
  };
}

function branchOf(section: IniSection): TreeBranch {
  const branch: TreeBranch = { kind: 'branch', items: [] };
  if (section.comment !== '') branch.items.push(commentItem(section));
  for (const key of section.keys) {
    const set = (plain: PlainValue): void => {
      key.value = plain.type === 'bytes' ? plain.value.toString('utf8') : String(plain.value);
    };
    branch.items.push({ key: key.name, value: { kind: 'leaf', value: key.value, set } });
    if (key.comment !== '') branch.items.push(commentItem(key));
  }
  return branch;
}

function writeValue(value: string): string {
  if (value.includes('\n')) return `"""${value}"""`;
  if (!/[#;"]|^\s|\s$/.test(value)) return value;
  return value.includes('"') ? `\`${value}\`` : `"${value}"`;
}

function writeIni(sections: readonly IniSection[]): string {
  const out: string[] = [];
  for (const section of sections) {
    if (section.name === DEFAULT_SECTION && section.keys.length === 0) continue;
    if (section.comment !== '') out.push(section.comment);
    if (section.name !== DEFAULT_SECTION) out.push(`[${section.name}]`);
    for (const key of section.keys) {
      if (key.comment !== '') out.push(key.comment);
      out.push(`${key.name} = ${writeValue(key.value)}`);
    }
    out.push('');
  }
  return out.join('\n');
}

/** A SOPS INI file: the `[sops]` section holds the flattened metadata. */
export function loadSopsIni(text: string): SopsDocument {
  const sections = parseIni(text);
  if (sections === undefined) throw new TreeInvalid('not valid INI');
  const sops = sections.find((s) => s.name === 'sops');
  const data = sections.filter((s) => s !== sops);
  const metadata =
    sops === undefined
      ? undefined
      : unflatten(sops.keys.map((k) => [k.name, k.value.replaceAll('\\n', '\n')]));
  const branch: TreeBranch = {
    kind: 'branch',
    items: data.map((section) => ({ key: section.name, value: branchOf(section) })),
  };
  return { metadata, branches: [branch], emit: () => Buffer.from(writeIni(data)) };
}
