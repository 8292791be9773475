import { describe, expect, it } from 'vitest';
import { explainConfigError } from '../../src/cli/config-hint.js';
import { EXIT, UsageError, exitCodeFor } from '../../src/cli/exit-codes.js';
import { ConfigError } from '../../src/errors.js';

describe('explainConfigError', () => {
  it('turns "no file and no source in the environment" into where berth looked', () => {
    const err = new ConfigError('invalid configuration (1 problem)', ['env: source: required']);
    const explained = explainConfigError(err, { env: {}, cwd: '/srv/here' });
    expect(explained).toBeInstanceOf(UsageError);
    const message = (explained as Error).message;
    expect(message).toContain('no configuration found');
    expect(message).toContain('--config FILE');
    expect(message).toContain('$BERTH_CONFIG');
    expect(message).toContain('/srv/here/berth.yaml');
    expect(message).toContain('berth init');
    expect(exitCodeFor(explained)).toBe(EXIT.usage);
  });

  it('keeps the other problems the environment has', () => {
    const err = new ConfigError('invalid', [
      'env: source: required',
      'BERTH_SCHEDULE: schedule: expected a cron expression',
    ]);
    expect((explainConfigError(err, { env: {} }) as Error).message).toContain('BERTH_SCHEDULE');
  });

  it('names the file --config or $BERTH_CONFIG gave when it does not exist', () => {
    const file = '/etc/berth/nope.yaml';
    const err = new ConfigError(
      'invalid',
      [`${file}: cannot read the config file (ENOENT)`, `${file}: source: required`],
      { file },
    );
    const byOption = explainConfigError(err, { config: 'nope.yaml', env: {} }) as Error;
    expect(byOption.message).toContain(`${file} (named by --config) does not exist`);
    expect(byOption.message).toContain(`berth init --config ${file}`);
    const byEnv = explainConfigError(err, { env: { BERTH_CONFIG: file } }) as Error;
    expect(byEnv.message).toContain('(named by $BERTH_CONFIG)');
  });

  it('leaves every other error as it is', () => {
    const broken = new ConfigError('invalid', ['/x/berth.yaml:3: bogus: unknown key'], {
      file: '/x/berth.yaml',
    });
    expect(explainConfigError(broken, { env: {} })).toBe(broken);
    const envOnly = new ConfigError('invalid', ['BERTH_PRUNE: prune: expected boolean']);
    expect(explainConfigError(envOnly, { env: {} })).toBe(envOnly);
    const other = new Error('boom');
    expect(explainConfigError(other, { env: {} })).toBe(other);
  });
});
