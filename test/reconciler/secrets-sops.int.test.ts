import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../../src/control/control-plane.js';
import type { StackOutcome } from '../../src/reconciler/types.js';
import { captureLog } from '../server/capture-log.js';
import { ageKeygen, type AgeKey } from '../stack/age.js';
import { healthcheckYaml } from '../helpers/compose.js';
import { FIXTURE_IMAGE } from '../helpers/docker.js';
import { Harness, composeFile } from '../helpers/harness.js';
import { encodeSops } from '../helpers/sops.js';
import {
  apiAnswers,
  diffOf,
  filesUnder,
  openWithKeys,
  plaintextIn,
  shellIn,
} from './secrets-world.js';

/**
 * SOPS files (dotenv, YAML, JSON, binary; one and several age recipients; nested values,
 * numbers, booleans) made by the test encoder, deployed over git and Docker; then each way a
 * file can fail to open, while the good version keeps running and other stacks deploy.
 */
const RUN = Math.random().toString(36).slice(2, 8);
const P = {
  dbPassword: `db-password-${RUN}`,
  nested: `nested-password-${RUN}`,
  jsonToken: `json-token-${RUN}`,
  apiKey: `api-key-${RUN}`,
  blob: `binary-blob-${RUN}`,
};
const NEEDLES = Object.values(P);

function stackCompose(envFiles = ['app.env', 'flat.yaml']): string {
  return [
    'services:',
    '  app:',
    `    image: ${FIXTURE_IMAGE}`,
    '    user: "1000:1000"',
    `    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`,
    '    stop_grace_period: 1s',
    `    env_file: [${envFiles.join(', ')}]`,
    '    secrets: [config_json]',
    '    configs: [{ source: cert, target: /cert.pem }]',
    '    volumes: [./settings.yaml:/etc/settings.yaml]',
    ...healthcheckYaml('test -s /etc/settings.yaml', '    '),
    'secrets:',
    '  config_json:',
    '    file: ./config.json',
    'configs:',
    '  cert:',
    '    file: ./cert.bin',
    '',
  ].join('\n');
}

/** Changes one character of the `data:` of the ENC value after `marker`: a flipped byte. */
function flipData(text: string, marker: string): string {
  const at = text.indexOf('data:', text.indexOf(marker)) + 'data:'.length;
  const c = text[at] === 'A' ? 'B' : 'A';
  return `${text.slice(0, at)}${c}${text.slice(at + 1)}`;
}

describe('SOPS-encrypted files in a deployed stack (git, Docker)', { timeout: 600_000 }, () => {
  let h: Harness;
  let mine: AgeKey;
  let second: AgeKey;
  let stranger: AgeKey;
  let control: ControlPlane;
  const log = captureLog();
  let stack: string;
  let bystander: string;
  let round = 0;

  beforeAll(async () => {
    h = await Harness.create();
    mine = ageKeygen(h.root, 'mine.txt');
    second = ageKeygen(h.root, 'second.txt');
    stranger = ageKeygen(h.root, 'stranger.txt');
    stack = h.name('sops');
    bystander = h.name('bystander');
    await writeStack();
    h.commit('sops stack');
    control = await openWithKeys(h, [mine.file, second.file], log.logger);
  });
  afterAll(async () => {
    await h.cleanup();
  });

  const files = {
    'app.env': (): Promise<string> =>
      encodeSops(`DB_PASSWORD=${P.dbPassword}\nPORT=5432\n`, {
        format: 'dotenv',
        recipients: [mine.recipient],
      }),
    'flat.yaml': (): Promise<string> =>
      encodeSops(`API_KEY: ${P.apiKey}\nRETRIES: 3\nDEBUG: false\nRATIO: 0.5\n`, {
        format: 'yaml',
        recipients: [second.recipient],
      }),
    'settings.yaml': (recipients = [stranger.recipient, mine.recipient]): Promise<string> =>
      encodeSops(
        `db:\n  user: app\n  password: ${P.nested}\n  port: 5432\n  ssl: true\nhosts:\n  - a.example\n  - b.example\n`,
        { format: 'yaml', recipients },
      ),
    'config.json': (): Promise<string> =>
      encodeSops(
        JSON.stringify({ api: { token: P.jsonToken, retries: 3, enabled: true }, ratio: 1.5 }),
        { format: 'json', recipients: [stranger.recipient, second.recipient] },
      ),
    'cert.bin': (): Promise<string> =>
      encodeSops(`-----BEGIN DATA-----\n${P.blob}\n-----END DATA-----\n`, {
        format: 'binary',
        recipients: [mine.recipient, second.recipient],
      }),
  };

  async function writeStack(
    overrides: Record<string, string> = {},
    compose = stackCompose(),
  ): Promise<void> {
    const written: Record<string, string> = {};
    for (const [name, make] of Object.entries(files))
      written[name] = overrides[name] ?? (await make());
    await h.writeStack(stack, compose, written);
  }

  /** Commits a broken variant beside a change to another stack; returns both outcomes. */
  async function broken(
    overrides: Record<string, string>,
    compose?: string,
  ): Promise<{ mine: StackOutcome | undefined; other: StackOutcome | undefined }> {
    await writeStack(overrides, compose);
    await h.writeStack(bystander, composeFile({ web: { marker: `round-${++round}` } }));
    h.commit(`broken ${round}`);
    const pass = await control.reconcile({});
    return {
      mine: pass.stacks.find((s) => s.stack === stack),
      other: pass.stacks.find((s) => s.stack === bystander),
    };
  }

  it('deploys dotenv, YAML, JSON and binary files to the containers', async () => {
    const pass = await control.reconcile({});
    expect(pass.stacks.map((s) => [s.result, s.message])).toEqual([
      ['deployed', expect.stringContaining('healthy')],
    ]);
    const env = await shellIn(
      h,
      stack,
      'app',
      'echo "$DB_PASSWORD|$PORT|$API_KEY|$RETRIES|$DEBUG|$RATIO"',
    );
    expect(env.trim()).toBe(`${P.dbPassword}|5432|${P.apiKey}|3|false|0.5`);
    const settings = await shellIn(h, stack, 'app', 'cat /etc/settings.yaml');
    expect(settings).toContain(`password: ${P.nested}`);
    expect(settings).toMatch(/port: 5432\n/);
    expect(settings).toMatch(/ssl: true\n/);
    expect(settings).toContain('- b.example');
    expect(settings).not.toContain('sops');
    const json = JSON.parse(
      await shellIn(h, stack, 'app', 'cat /run/secrets/config_json'),
    ) as unknown;
    expect(json).toEqual({ api: { token: P.jsonToken, retries: 3, enabled: true }, ratio: 1.5 });
    expect(await shellIn(h, stack, 'app', 'cat /cert.pem')).toBe(
      `-----BEGIN DATA-----\n${P.blob}\n-----END DATA-----\n`,
    );
    const diff = await diffOf(h, [mine.file, second.file], stack);
    expect(diff).toMatchObject({ status: 'in-sync', containers: [] });
  });

  it.each([
    [
      'a flipped byte in a value',
      'SecretTampered',
      'app.env',
      (t: string) => flipData(t, 'DB_PASSWORD='),
    ],
    [
      'a flipped byte in the MAC',
      'SecretTampered',
      'app.env',
      (t: string) => flipData(t, 'sops_mac='),
    ],
    [
      'a flipped byte in a YAML value',
      'SecretTampered',
      'settings.yaml',
      (t: string) => flipData(t, 'password:'),
    ],
    [
      'a flipped byte in the JSON MAC',
      'SecretTampered',
      'config.json',
      (t: string) => flipData(t, '"mac"'),
    ],
  ])(
    'fails the stack on %s, keeps the good version running, deploys the others',
    async (_what, reason, name, tamper) => {
      const before = await h.containers(stack);
      const good = tamper(await files[name as keyof typeof files]());
      const outcome = await broken({ [name]: good });
      expect(outcome.other?.result).toBe('deployed');
      expect(outcome.mine?.result).toBe('invalid');
      expect(outcome.mine?.error?.reason).toBe(reason);
      expect(outcome.mine?.message).toContain(`stacks/${stack}/${name}`);
      expect(await h.containers(stack)).toEqual(before);
    },
  );

  it('fails the stack when no key opens a file, naming its recipients', async () => {
    const before = await h.containers(stack);
    const outcome = await broken({
      'settings.yaml': await files['settings.yaml']([stranger.recipient]),
    });
    expect(outcome.other?.result).toBe('deployed');
    expect(outcome.mine?.result).toBe('invalid');
    expect(outcome.mine?.error?.reason).toBe('SecretKeyMissing');
    expect(outcome.mine?.message).toContain(`stacks/${stack}/settings.yaml`);
    expect(outcome.mine?.message).toContain(stranger.recipient);
    expect(await h.containers(stack)).toEqual(before);
  });

  it('refuses a nested SOPS YAML file as an env file, saying why', async () => {
    const before = await h.containers(stack);
    const outcome = await broken({}, stackCompose(['app.env', 'settings.yaml']));
    expect(outcome.mine?.result).toBe('invalid');
    expect(outcome.mine?.error?.reason).toBe('ComposeEnvFileInvalid');
    expect(outcome.mine?.message).toContain('cannot be used as an env file');
    expect(await h.containers(stack)).toEqual(before);
  });

  it('deploys the repaired files; no plaintext outside the running version’s decrypted files', async () => {
    await writeStack();
    h.commit('repaired');
    const pass = await control.reconcile({});
    expect(pass.stacks.find((s) => s.stack === stack)?.result).toBe('deployed');
    const mounted = path.join(h.dataDir, 'decrypted', stack);
    // settings.yaml, config.json and cert.bin; the env files live in the environment only.
    expect(await readdir(mounted)).toHaveLength(3);
    const plaintexts = await filesUnder(mounted);
    expect((await plaintextIn(plaintexts, NEEDLES)).length).toBe(3);
    expect(await readFile(plaintexts[0] ?? '', 'utf8')).not.toContain('ENC[');
    const elsewhere = await filesUnder(h.dataDir, [mounted]);
    expect(elsewhere.some((f) => f.endsWith('berth.db'))).toBe(true);
    expect(await plaintextIn(elsewhere, NEEDLES)).toEqual([]);
    const logs = log.text();
    expect(logs).toContain('stack is invalid');
    expect(NEEDLES.filter((n) => logs.includes(n))).toEqual([]);
    const api = await apiAnswers(h, [stack, bystander], log.logger);
    expect(api).toContain(stack);
    expect(NEEDLES.filter((n) => api.includes(n))).toEqual([]);
  });
});
