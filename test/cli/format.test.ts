import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { EXIT, UsageError, exitCodeFor } from '../../src/cli/exit-codes.js';
import {
  errorToJson,
  formatError,
  formatTable,
  formatVersionRef,
  relativeTime,
  shortHash,
} from '../../src/cli/format.js';
import { ComposeError, ConfigError, EngineError } from '../../src/errors.js';

describe('formatTable', () => {
  it('aligns columns and leaves the last one unpadded', () => {
    const text = formatTable(
      ['STACK', 'RESULT', 'MESSAGE'],
      [
        ['webapp', 'deployed', 'ok'],
        ['w', undefined, 'version changed'],
      ],
    );
    expect(text.split('\n')).toEqual([
      'STACK   RESULT    MESSAGE',
      'webapp  deployed  ok',
      'w       -         version changed',
    ]);
  });
});

describe('short forms', () => {
  it('shortens hashes and version refs', () => {
    expect(shortHash('0123456789abcdef0123')).toBe('0123456789ab');
    expect(shortHash(undefined)).toBeUndefined();
    expect(formatVersionRef({ version: 'aaaaaaaaaaaaaaaa', commit: 'bbbbbbbbbbbb' })).toBe(
      'aaaaaaaaaaaa @ bbbbbbb',
    );
  });

  it('says how long ago', () => {
    const now = Date.parse('2026-01-10T12:00:00Z');
    expect(relativeTime('2026-01-10T11:59:30Z', now)).toBe('30s ago');
    expect(relativeTime('2026-01-10T11:55:00Z', now)).toBe('5m ago');
    expect(relativeTime('2026-01-10T09:00:00Z', now)).toBe('3h ago');
    expect(relativeTime('2026-01-05T12:00:00Z', now)).toBe('5d ago');
    expect(relativeTime('2025-01-05T12:00:00.000Z', now)).toBe('2025-01-05T12:00:00.000Z');
  });
});

describe('errors', () => {
  it('lists every config problem', () => {
    const err = new ConfigError('invalid configuration', ['a: bad', 'b: worse'], {
      file: 'x.yaml',
    });
    const text = formatError(err);
    expect(text).toContain('a: bad');
    expect(text).toContain('b: worse');
    expect(errorToJson(err).problems).toEqual(['a: bad', 'b: worse']);
  });

  it('names file, stack, service and field', () => {
    const err = new ComposeError('ComposeFieldUnsupported', 'field runtime is not supported', {
      place: { file: '/r/web/compose.yaml', stack: 'web', service: 'api', field: 'runtime' },
    });
    expect(formatError(err)).toContain(
      'file /r/web/compose.yaml, stack web, service api, field runtime',
    );
  });

  it('maps errors to exit codes', () => {
    expect(exitCodeFor(new ConfigError('x', []))).toBe(EXIT.usage);
    expect(exitCodeFor(new UsageError('x'))).toBe(EXIT.usage);
    expect(exitCodeFor(new CommanderError(1, 'commander.unknownOption', 'x'))).toBe(EXIT.usage);
    expect(exitCodeFor(new CommanderError(0, 'commander.helpDisplayed', 'x'))).toBe(EXIT.ok);
    expect(exitCodeFor(new EngineError('DockerUnavailable', 'x'))).toBe(EXIT.failed);
    expect(exitCodeFor(new Error('x'))).toBe(EXIT.failed);
  });
});
