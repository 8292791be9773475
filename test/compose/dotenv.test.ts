import { describe, expect, it } from 'vitest';
import { parseDotenv } from '../../src/compose/dotenv.js';
import { ComposeError } from '../../src/errors.js';

const env: Record<string, string | undefined> = { FROM_ENV: 'outer', SHADOW: 'env' };
const parse = (text: string): Record<string, string> =>
  parseDotenv(text, '/stack/.env', (name) => env[name]);

describe('parseDotenv', () => {
  it('reads KEY=VAL, export, comments and blank lines', () => {
    expect(parse('# comment\nA=1\n\nexport B=two\n  C = spaced  \n')).toEqual({
      A: '1',
      B: 'two',
      C: 'spaced',
    });
  });

  it('keeps single quotes literal', () => {
    expect(parse("A='x ${FROM_ENV} \\n # not comment'")).toEqual({
      A: 'x ${FROM_ENV} \\n # not comment',
    });
  });

  it('handles escapes and interpolation in double quotes', () => {
    expect(parse('A="line1\\nline2\\t\\"q\\" \\\\ ${FROM_ENV}" # trailing')).toEqual({
      A: 'line1\nline2\t"q" \\ outer',
    });
  });

  it('allows multi-line quoted values', () => {
    expect(parse('A="one\ntwo"\nB=3')).toEqual({ A: 'one\ntwo', B: '3' });
  });

  it('strips inline comments on unquoted values only after whitespace', () => {
    expect(parse('A=value # comment\nB=val#ue')).toEqual({ A: 'value', B: 'val#ue' });
  });

  it('expands variables from earlier lines before the environment', () => {
    expect(parse('SHADOW=file\nA=${SHADOW}-$FROM_ENV\nB=${MISSING:-d}')).toEqual({
      SHADOW: 'file',
      A: 'file-outer',
      B: 'd',
    });
  });

  it('takes a bare KEY from the environment only when set', () => {
    expect(parse('FROM_ENV\nNOT_SET\n')).toEqual({ FROM_ENV: 'outer' });
  });

  it('accepts empty values', () => {
    expect(parse('A=\nB=""')).toEqual({ A: '', B: '' });
  });

  it('rejects an invalid line with the file and line number', () => {
    expect(() => parse('A=1\n-bad line')).toThrow(/\/stack\/\.env:2/);
    expect(() => parse('A="unterminated')).toThrow(ComposeError);
  });
});

describe('parseDotenv dollar handling', () => {
  it('keeps a lone $ literal and turns $$ into $', () => {
    expect(parse('A=price$ 5\nB=pa$$word\nC="x\\$y"')).toEqual({
      A: 'price$ 5',
      B: 'pa$word',
      C: 'x$y',
    });
  });
});

describe('parseDotenv separators and line endings', () => {
  it('accepts KEY: value and CRLF files', () => {
    expect(parse('A: 1\r\nB=2\r\nC="3"\r\nFROM_ENV\r\n')).toEqual({
      A: '1',
      B: '2',
      C: '3',
      FROM_ENV: 'outer',
    });
  });
});
