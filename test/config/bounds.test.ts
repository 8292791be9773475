import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { useConfigDir } from './config-dir.js';
import {
  BoundedDuration,
  DURATION_TOO_LONG,
  MAX_DURATION_MS,
  MAX_TIMER_MS,
  parseBoundedDuration,
  timerDelay,
} from '../../src/duration.js';
import { SettingsError } from '../../src/errors.js';
import { NotifyConfig } from '../../src/notify/schema.js';
import { readDeploySettings } from '../../src/stack/settings.js';
import { methodNames } from '../../src/strategies/index.js';
import { systemClock } from '../../src/clock.js';
import { DEFAULTS } from '../stack/fixtures.js';

const cfg = useConfigDir('berth-bounds-');
const { write, problems } = cfg;

const GIT = 'source:\n  git:\n    url: https://git.example.org/ops/stacks.git\n';
const TOO_LONG = `must be at most 576h (24 days)`;

describe('bounded durations', () => {
  it('stays below what a Node timer holds', () => {
    expect(MAX_DURATION_MS).toBeLessThan(MAX_TIMER_MS);
    expect(MAX_TIMER_MS).toBe(2 ** 31 - 1);
    expect(DURATION_TOO_LONG).toBe(TOO_LONG);
    expect(parseBoundedDuration('576h')).toEqual({ ms: MAX_DURATION_MS });
    expect(parseBoundedDuration(MAX_DURATION_MS / 1000)).toEqual({ ms: MAX_DURATION_MS });
    expect(parseBoundedDuration('576h1ms')).toEqual({ error: TOO_LONG });
    expect(parseBoundedDuration('25000h')).toEqual({ error: TOO_LONG });
    expect(parseBoundedDuration(1e300)).toEqual({ error: TOO_LONG });
    expect(BoundedDuration.safeParse('1h').data).toBe(3_600_000);
    expect(BoundedDuration.safeParse({}).success).toBe(false);
  });

  it('clamps timer delays into what Node keeps', () => {
    expect(timerDelay(-5)).toBe(0);
    expect(timerDelay(Number.NaN)).toBe(0);
    expect(timerDelay(1500)).toBe(1500);
    expect(timerDelay(30 * 86_400_000)).toBe(MAX_TIMER_MS);
    expect(timerDelay(Number.POSITIVE_INFINITY)).toBe(MAX_TIMER_MS);
  });

  it('does not let a too-long sleep fire at once', async () => {
    const abort = new AbortController();
    let settled = false;
    const sleeping = systemClock.sleep(30 * 86_400_000, abort.signal).then(
      () => (settled = true),
      () => 'aborted',
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    abort.abort();
    expect(await sleeping).toBe('aborted');
  });

  it('refuses every config duration above the maximum, naming the key and the line', async () => {
    const file = write(
      'berth.yaml',
      [
        GIT.trimEnd(), // 1-3
        'defaults:', // 4
        '  healthTimeout: 577h', // 5
        '  stabilityPeriod: 2100000', // 6
        '  hookTimeout: 25000h', // 7
        '  drain: 600h', // 8
        '  canary: { window: 1000h }', // 9
      ].join('\n'),
    );
    expect(await problems({ file })).toEqual([
      `${file}:5: defaults.healthTimeout: ${TOO_LONG}`,
      `${file}:6: defaults.stabilityPeriod: ${TOO_LONG}`,
      `${file}:7: defaults.hookTimeout: ${TOO_LONG}`,
      `${file}:8: defaults.drain: ${TOO_LONG}`,
      `${file}:9: defaults.canary.window: ${TOO_LONG}`,
    ]);
  });

  it('accepts the maximum itself', async () => {
    const file = write('berth.yaml', `${GIT}defaults:\n  hookTimeout: 576h\n`);
    const config = await loadConfig({ file, env: {} });
    expect(config.defaults.hooks.timeoutMs).toBe(MAX_DURATION_MS);
  });

  it('refuses a too-long duration from an env override, naming the variable', async () => {
    const file = write('berth.yaml', GIT);
    expect(await problems({ file, env: { BERTH_DEFAULTS__HOOKTIMEOUT: '600h' } })).toEqual([
      `BERTH_DEFAULTS__HOOKTIMEOUT: defaults.hookTimeout: ${TOO_LONG}`,
    ]);
  });

  it('refuses a notification timeout above the maximum', () => {
    const result = NotifyConfig.safeParse([
      { type: 'webhook', url: 'https://example.org/hook', timeout: '600h' },
    ]);
    expect(result.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['0.timeout', TOO_LONG],
    ]);
    expect(
      NotifyConfig.safeParse([{ type: 'webhook', url: 'https://example.org/h', timeout: '30s' }])
        .success,
    ).toBe(true);
  });

  it.each([
    ['hooks:\n  timeout: 25000h\n', 'hooks.timeout'],
    ['healthTimeout: 600h\n', 'healthTimeout'],
    ['stabilityPeriod: 3000000\n', 'stabilityPeriod'],
    ['drain: 577h\n', 'drain'],
    ['canary:\n  window: 1000h\n', 'canary.window'],
  ])('refuses a deploy setting above the maximum: %s', async (text, field) => {
    const stack = path.join(cfg.path, 'stacks', 'web');
    write('stacks/web/compose.yaml', 'services:\n  web:\n    image: busybox\n');
    write('stacks/web/deploy.yaml', text);
    const err = await readDeploySettings(
      stack,
      path.join(stack, 'compose.yaml'),
      DEFAULTS,
      methodNames(),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SettingsError);
    expect((err as SettingsError).message).toContain(`${field}: ${TOO_LONG}`);
    expect((err as SettingsError).place?.field).toBe(field);
  });

  it('takes a hook timeout of 24 days in the comment block', async () => {
    const stack = path.join(cfg.path, 'stacks', 'web');
    write(
      'stacks/web/compose.yaml',
      '# Deploy Start #\n# hooks:\n#   timeout: 576h\n# Deploy End #\nservices:\n  web:\n    image: busybox\n',
    );
    const settings = await readDeploySettings(
      stack,
      path.join(stack, 'compose.yaml'),
      DEFAULTS,
      methodNames(),
    );
    expect(settings.hooks.timeoutMs).toBe(MAX_DURATION_MS);
  });
});

describe('minimum secret lengths', () => {
  it('refuses short tokens and webhook secrets in the file, naming key and line', async () => {
    const file = write(
      'berth.yaml',
      [
        GIT.trimEnd(), // 1-3
        'server:', // 4
        '  tokens:', // 5
        '    - { name: ci, token: abc }', // 6
        '    - { name: ok, token: 0123456789abcdef }', // 7
        '  webhooks:', // 8
        '    github: { secret: s3cret }', // 9
      ].join('\n'),
    );
    expect(await problems({ file })).toEqual([
      `${file}:6: server.tokens[0].token: must be at least 16 characters`,
      `${file}:9: server.webhooks.github.secret: must be at least 16 characters`,
    ]);
  });

  it('refuses a short secret from an env override, naming the variable', async () => {
    const file = write('berth.yaml', `${GIT}server: {}\n`);
    const env = { BERTH_SERVER__WEBHOOKS__GENERIC__SECRET: 'short' };
    expect(await problems({ file, env })).toEqual([
      'BERTH_SERVER__WEBHOOKS__GENERIC__SECRET: server.webhooks.generic.secret: must be at least 16 characters',
    ]);
  });
});
