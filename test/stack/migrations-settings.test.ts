import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ComposeProject } from '../../src/compose/types.js';
import { SettingsError } from '../../src/errors.js';
import { assertExclusiveVolumesDeclared, readDeploySettings } from '../../src/stack/settings.js';
import { DEFAULT_MIGRATION_TIMEOUT_MS } from '../../src/stack/types.js';
import { methodNames } from '../../src/strategies/index.js';
import { COMPOSE, DEFAULTS, removeDir, tempDir, writeTree } from './fixtures.js';

const METHODS = methodNames();

describe('the migrations setting', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => removeDir(dir));

  async function read(deployYaml: string): ReturnType<typeof readDeploySettings> {
    await writeTree(dir, { 'compose.yaml': COMPOSE, 'deploy.yaml': deployYaml });
    return readDeploySettings(dir, join(dir, 'compose.yaml'), DEFAULTS, METHODS);
  }

  async function problem(deployYaml: string): Promise<SettingsError> {
    const err = await read(deployYaml).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SettingsError);
    return err as SettingsError;
  }

  it('reads jobs with their defaults: name from the service, numbered; 10m timeout', async () => {
    const settings = await read(
      [
        'migrations:',
        '  - service: app',
        '  - service: app',
        '    command: ./migrate --step "two words"',
        '    timeout: 30s',
        '  - name: seed',
        '    service: db',
        '    command: [sh, -c, "echo hi"]',
      ].join('\n'),
    );
    expect(settings.migrations).toEqual([
      { name: 'app', service: 'app', timeoutMs: DEFAULT_MIGRATION_TIMEOUT_MS },
      {
        name: 'app-2',
        service: 'app',
        command: ['./migrate', '--step', 'two words'],
        timeoutMs: 30_000,
      },
      { name: 'seed', service: 'db', command: ['sh', '-c', 'echo hi'], timeoutMs: 600_000 },
    ]);
  });

  it('has no jobs unless the stack names some', async () => {
    expect((await read('method: simple\n')).migrations).toBeUndefined();
  });

  it('refuses unknown keys, a missing service, bad names, a zero timeout and twin names', async () => {
    const err = await problem(
      [
        'migrations:',
        '  - service: app',
        '    name: app',
        '  - service: other',
        '    name: app',
        '  - name: "-bad"',
        '    service: app',
        '  - service: app',
        '    timeout: 0s',
        '    extra: 1',
        '  - command: x',
      ].join('\n'),
    );
    expect(err.reason).toBe('SettingsInvalid');
    expect(err.message).toContain(join(dir, 'deploy.yaml'));
    expect(err.message).toContain('migrations[2].name');
    expect(err.message).toContain('migrations[3].timeout');
    expect(err.message).toContain('migrations[3].extra: unknown key');
    expect(err.message).toContain('migrations[4].service');
    const twins = await problem(
      'migrations:\n  - service: app\n    name: x\n  - service: db\n    name: x\n',
    );
    expect(twins.message).toContain('migrations[1].name: another job is named x');
  });

  it('refuses a job whose service the stack does not have, naming file, stack and field', async () => {
    const settings = await read('migrations:\n  - service: app\n  - service: ghost\n');
    const project = {
      name: 'shop',
      services: { app: {} },
      volumes: {},
    } as unknown as ComposeProject;
    let err: unknown;
    try {
      assertExclusiveVolumesDeclared(project, settings, 'shop');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SettingsError);
    const e = err as SettingsError;
    expect(e.place).toEqual({
      stack: 'shop',
      file: join(dir, 'deploy.yaml'),
      field: 'migrations[1].service',
    });
    expect(e.message).toContain('ghost is not a service of the stack');
    expect(e.message).toContain('stack shop');
    expect(e.message).toContain(join(dir, 'deploy.yaml'));
  });
});
