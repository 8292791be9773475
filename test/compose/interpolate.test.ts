import { describe, expect, it } from 'vitest';
import { ComposeError } from '../../src/errors.js';
import { interpolateString, interpolateValues } from '../../src/compose/interpolate.js';
import { OverrideMarker } from '../../src/compose/yaml.js';

const env: Record<string, string | undefined> = { SET: 'value', EMPTY: '', B: 'bee' };

function run(text: string, unset: string[] = []): string {
  return interpolateString(text, {
    lookup: (name) => env[name],
    onUnset: (name) => unset.push(name),
    place: { file: 'compose.yaml', service: 'web', field: 'image' },
    path: 'services.web.image',
  });
}

describe('interpolateString', () => {
  it.each([
    ['${SET}', 'value'],
    ['$SET', 'value'],
    ['a-$SET-b', 'a-value-b'],
    ['$SET.suffix', 'value.suffix'],
    ['${UNSET:-dflt}', 'dflt'],
    ['${EMPTY:-dflt}', 'dflt'],
    ['${SET:-dflt}', 'value'],
    ['${UNSET-dflt}', 'dflt'],
    ['${EMPTY-dflt}', ''],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${UNSET:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['${UNSET:-${B:-x}}', 'bee'],
    ['${UNSET:-${ALSO_UNSET:-x}}', 'x'],
    ['${UNSET:-a ${B} c}', 'a bee c'],
    ['$${SET}', '${SET}'],
    ['$$SET', '$SET'],
    ['cost: $$5', 'cost: $5'],
    ['no vars', 'no vars'],
    ['${SET:?must be set}', 'value'],
    ['${EMPTY?must be set}', ''],
  ])('%s -> %s', (text, expected) => {
    expect(run(text)).toBe(expected);
  });

  it('reports an unset variable without default and yields empty', () => {
    const unset: string[] = [];
    expect(run('x${NOPE}y$NOPE2', unset)).toBe('xy');
    expect(unset).toEqual(['NOPE', 'NOPE2']);
  });

  it('does not evaluate a default it does not need', () => {
    expect(run('${SET:-${NOPE:?boom}}')).toBe('value');
  });

  it.each([['${NOPE:?needs a value}'], ['${EMPTY:?needs a value}'], ['${NOPE?needs a value}']])(
    '%s is an error naming the variable and the file',
    (text) => {
      let error: unknown;
      try {
        run(text);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ComposeError);
      const message = (error as ComposeError).message;
      expect(message).toContain('compose.yaml');
      expect(message).toMatch(/NOPE|EMPTY/);
      expect(message).toContain('needs a value');
      expect((error as ComposeError).place).toMatchObject({ file: 'compose.yaml', service: 'web' });
    },
  );

  it.each([['${'], ['${SET'], ['${1BAD}'], ['$ alone'], ['${SET:x}']])('%s is invalid', (text) => {
    expect(() => run(text)).toThrow(ComposeError);
  });
});

describe('interpolateValues', () => {
  it('interpolates values but not keys, through arrays and markers', () => {
    const out = interpolateValues(
      { $SET: ['$SET', 3, true, null], nested: { k: '${B}' }, o: new OverrideMarker('$B') },
      { lookup: (name) => env[name], place: { file: 'f' }, path: '' },
    ) as Record<string, unknown>;
    expect(out.$SET).toEqual(['value', 3, true, null]);
    expect(out.nested).toEqual({ k: 'bee' });
    expect(out.o).toEqual(new OverrideMarker('bee'));
  });
});
