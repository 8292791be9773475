import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { STANDARD, STRICT } from '../../src/policy/index.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-config-policy-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const GIT = ['source:', '  git:', '    url: https://git.example.org/ops/stacks.git'];

function write(lines: string[]): string {
  const file = path.join(dir, 'berth.yaml');
  writeFileSync(file, `${[...GIT, ...lines].join('\n')}\n`);
  return file;
}

async function problems(file: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const err = await loadConfig({ file, env, cwd: dir }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).problems;
}

describe('the policy section', () => {
  it('is absent from the config when not written (the standard preset applies)', async () => {
    const config = await loadConfig({ file: write([]), env: {} });
    expect(config.policy).toBeUndefined();
  });

  it('applies the preset, explicit keys on top, and keeps per-stack exceptions as written', async () => {
    const file = write([
      'policy:',
      '  preset: strict',
      '  capabilities: [cap_net_admin]',
      '  devices: true',
      '  securityOpt: ["seccomp=unconfined"]',
      '  adopt: [legacy]',
      '  stacks:',
      '    monitoring: { hostNamespaces: [pid], bindMounts: ["/proc/**", "/sys/**"] }',
      '    media: { devices: ["/dev/dri/**"] }',
    ]);
    const config = await loadConfig({ file, env: {} });
    expect(config.policy).toEqual({
      preset: 'strict',
      rules: {
        ...STRICT,
        capabilities: ['NET_ADMIN'],
        devices: ['**'],
        securityOpt: ['seccomp:unconfined'],
      },
      stacks: {
        monitoring: { hostNamespaces: ['pid'], bindMounts: ['/proc/**', '/sys/**'] },
        media: { devices: ['/dev/dri/**'] },
      },
      adopt: ['legacy'],
    });
  });

  it('defaults to standard when the section only sets keys', async () => {
    const config = await loadConfig({ file: write(['policy:', '  privileged: false']), env: {} });
    expect(config.policy?.rules).toEqual({ ...STANDARD, privileged: false });
  });

  it('takes the preset from the environment', async () => {
    const config = await loadConfig({ file: write([]), env: { BERTH_POLICY__PRESET: 'strict' } });
    expect(config.policy?.rules).toEqual(STRICT);
  });

  it('refuses wrong keys and values, naming the line and the key', async () => {
    const file = write([
      'policy:',
      '  preset: paranoid',
      '  hostNamespaces: [network, uts]',
      '  bindMounts: ["srv/**", "/srv/../etc"]',
      '  capabilities: ["NET ADMIN"]',
      '  stacks:',
      '    web: { preset: strict, adopt: true }',
      '  privilegd: true',
    ]);
    const found = await problems(file);
    const at = (line: number, text: string): string => `${file}:${line}: ${text}`;
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^${file}:5: policy\\.preset: `)),
        expect.stringMatching(new RegExp(`^${file}:6: policy\\.hostNamespaces\\[1\\]: `)),
        at(
          7,
          'policy.bindMounts[0]: expected an absolute host path or glob such as /srv/** (or ** for any path)',
        ),
        at(
          7,
          'policy.bindMounts[1]: expected an absolute host path or glob such as /srv/** (or ** for any path)',
        ),
        at(8, 'policy.capabilities[0]: expected a capability name such as NET_ADMIN, or *'),
        at(10, 'policy.stacks.web.preset: unknown key'),
        at(10, 'policy.stacks.web.adopt: unknown key'),
        at(11, 'policy.privilegd: unknown key'),
      ]),
    );
  });
});
