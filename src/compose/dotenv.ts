import { describeCap, MAX_INPUT_FILE_BYTES } from '../bounded-read.js';
import { ComposeError } from '../errors.js';
import { interpolateString, type Lookup } from './interpolate.js';

/**
 * How much `${VAR}` expansion may add to one env file's values: each line may repeat the one
 * before (B=${A}${A}, C=${B}${B}, ...), doubling its size, so expansion is counted, not trusted.
 */
export const MAX_DOTENV_EXPANSION = 4 * MAX_INPUT_FILE_BYTES;

/**
 * Turns an env file's text as read into the dotenv text to parse. The loader's caller
 * injects one to open encrypted env files (the compose adapter knows no keys); `file` is the
 * absolute path the text was read from.
 */
export type EnvFileReader = (file: string, text: string) => string;

/** Reads env files as they are. */
export const plainEnvFile: EnvFileReader = (_file, text) => text;

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*/;
const DOUBLE_QUOTE_ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  '"': '"',
  '\\': '\\',
  $: '$$',
};

/**
 * Parses a dotenv file the way Compose does: `KEY=VAL`, `export KEY=VAL`, comments, single quotes
 * literal, double quotes with escapes, ` #` comments after unquoted values, `${VAR}` expanded from
 * earlier lines then `lookup`, and a bare `KEY` taken from `lookup` when set.
 */
export function parseDotenv(text: string, file: string, lookup: Lookup): Record<string, string> {
  const values: Record<string, string> = {};
  let pos = 0;
  let line = 1;
  let expanded = 0;
  const fail = (message: string): never => {
    throw new ComposeError('ComposeEnvFileInvalid', `${file}:${line}: ${message}`, {
      place: { file, field: `line ${line}` },
    });
  };
  const resolve: Lookup = (name) => {
    const value = values[name] ?? lookup(name);
    expanded += value?.length ?? 0;
    if (expanded > MAX_DOTENV_EXPANSION)
      fail(`variables expand to more than ${describeCap(MAX_DOTENV_EXPANSION)}`);
    return value;
  };
  const expand = (raw: string): string =>
    interpolateString(raw, {
      lookup: resolve,
      place: { file },
      path: `line ${line}`,
      lenient: true,
    });

  while (pos < text.length) {
    const c = text[pos];
    if (c === '\n') {
      line++;
      pos++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\uFEFF') {
      pos++;
      continue;
    }
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    if (c === '#') {
      pos = eol;
      continue;
    }
    let rest = text.slice(pos, eol);
    const exported = /^export[ \t]+/.exec(rest);
    if (exported !== null) {
      pos += exported[0].length;
      rest = rest.slice(exported[0].length);
    }
    const keyMatch = KEY.exec(rest);
    if (keyMatch === null) fail(`invalid line "${rest.trim()}"`);
    const key = (keyMatch as RegExpExecArray)[0];
    pos += key.length;
    while (text[pos] === ' ' || text[pos] === '\t') pos++;
    const sep = text[pos];
    if (sep === undefined || sep === '\n' || sep === '\r' || sep === '#') {
      const inherited = lookup(key);
      if (inherited !== undefined) values[key] = inherited;
      pos = eol;
      continue;
    }
    // godotenv, which Compose's parser derives from, also takes the YAML-like `KEY: value`.
    if (sep !== '=' && sep !== ':') fail(`invalid line for "${key}": expected "="`);
    pos++;
    while (text[pos] === ' ' || text[pos] === '\t') pos++;
    const quote = text[pos];
    if (quote === "'") {
      const end = text.indexOf("'", pos + 1);
      if (end < 0) fail(`unterminated single quote for "${key}"`);
      const value = text.slice(pos + 1, end);
      line += value.split('\n').length - 1;
      values[key] = value;
      pos = end + 1;
    } else if (quote === '"') {
      let raw = '';
      let i = pos + 1;
      for (; i < text.length && text[i] !== '"'; i++) {
        const ch = text[i] ?? '';
        if (ch === '\\' && i + 1 < text.length) {
          const escaped = text[i + 1] ?? '';
          raw += DOUBLE_QUOTE_ESCAPES[escaped] ?? `\\${escaped}`;
          i++;
        } else {
          raw += ch;
        }
      }
      if (i >= text.length) fail(`unterminated double quote for "${key}"`);
      values[key] = expand(raw);
      line += text.slice(pos, i).split('\n').length - 1;
      pos = i + 1;
    } else {
      let eolHere = text.indexOf('\n', pos);
      if (eolHere < 0) eolHere = text.length;
      let raw = text.slice(pos, eolHere);
      const comment = /[ \t]#/.exec(raw);
      if (comment !== null) raw = raw.slice(0, comment.index);
      values[key] = expand(raw.trim());
      pos = eolHere;
      continue;
    }
    // Whatever follows a closing quote on the same line (usually a comment) is ignored.
    const after = text.indexOf('\n', pos);
    pos = after < 0 ? text.length : after;
  }
  return values;
}
