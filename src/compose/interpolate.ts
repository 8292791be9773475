import { ComposeError, type ErrorPlace } from '../errors.js';
import { OverrideMarker, ResetMarker } from './yaml.js';

export type Lookup = (name: string) => string | undefined;

export interface InterpolationContext {
  lookup: Lookup;
  /** Called for a variable that is not set and has no default. */
  onUnset?: (name: string, path: string) => void;
  /** Where the text comes from, for error messages. */
  place: ErrorPlace;
  /** Human-readable position, e.g. "services.web.environment.FOO". */
  path: string;
  /** Keep a `$` that starts no variable as a literal instead of failing (dotenv files). */
  lenient?: boolean;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const BRACED = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:-|-|:\?|\?|:\+|\+)([\s\S]*))?$/;

function fail(ctx: InterpolationContext, message: string): never {
  const file = ctx.place.file ?? 'compose file';
  throw new ComposeError('ComposeInterpolation', `${file}: ${ctx.path}: ${message}`, {
    place: ctx.place,
  });
}

/** Index of the `}` closing a `${` whose body starts at `start`, honouring nested `${...}`. */
function findClose(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '$' && (text[i + 1] === '$' || text[i + 1] === '{')) {
      if (text[i + 1] === '{') depth++;
      i++;
    } else if (c === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

function expandBraced(body: string, ctx: InterpolationContext): string {
  const match = BRACED.exec(body);
  if (match === null) fail(ctx, `invalid interpolation format "\${${body}}"`);
  const name = match[1] ?? '';
  const op = match[2];
  const arg = match[3] ?? '';
  const value = ctx.lookup(name);
  const set = value !== undefined;
  const nonEmpty = set && value !== '';
  switch (op) {
    case undefined:
      if (!set) ctx.onUnset?.(name, ctx.path);
      return value ?? '';
    case ':-':
      return nonEmpty ? value : interpolateString(arg, ctx);
    case '-':
      return set ? value : interpolateString(arg, ctx);
    case ':?':
      if (!nonEmpty)
        fail(ctx, `required variable ${name} is missing a value: ${interpolateString(arg, ctx)}`);
      return value;
    case '?':
      if (!set)
        fail(ctx, `required variable ${name} is missing a value: ${interpolateString(arg, ctx)}`);
      return value;
    case ':+':
      return nonEmpty ? interpolateString(arg, ctx) : '';
    default:
      // '+'
      return set ? interpolateString(arg, ctx) : '';
  }
}

/** Expands `$VAR`, `${VAR}` and the default/error/alternative forms Compose supports; `$$` is a literal `$`. */
export function interpolateString(text: string, ctx: InterpolationContext): string {
  if (!text.includes('$')) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
    } else if (next === '{') {
      const end = findClose(text, dollar + 2);
      if (end < 0) fail(ctx, `invalid interpolation format "${text}": missing "}"`);
      out += expandBraced(text.slice(dollar + 2, end), ctx);
      i = end + 1;
    } else {
      const match = NAME.exec(text.slice(dollar + 1));
      if (match === null && ctx.lenient === true) {
        out += '$';
        i = dollar + 1;
        continue;
      }
      if (match === null)
        fail(ctx, `invalid interpolation format "${text}": use "$$" for a literal "$"`);
      const name = match[0];
      const value = ctx.lookup(name);
      if (value === undefined) ctx.onUnset?.(name, ctx.path);
      out += value ?? '';
      i = dollar + 1 + name.length;
    }
  }
  return out;
}

/** Interpolates every string value of a parsed compose document; keys are left alone, as Compose does. */
export function interpolateValues(
  value: unknown,
  ctx: InterpolationContext,
  placeAt?: (path: string[]) => ErrorPlace,
  path: string[] = [],
): unknown {
  if (typeof value === 'string') {
    return interpolateString(value, {
      ...ctx,
      place: placeAt === undefined ? ctx.place : placeAt(path),
      path: path.join('.'),
    });
  }
  if (Array.isArray(value))
    return value.map((item, index) => interpolateValues(item, ctx, placeAt, [...path, `${index}`]));
  if (value instanceof ResetMarker) return value;
  if (value instanceof OverrideMarker)
    return new OverrideMarker(interpolateValues(value.value, ctx, placeAt, path));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>))
      out[key] = interpolateValues(item, ctx, placeAt, [...path, key]);
    return out;
  }
  return value;
}
