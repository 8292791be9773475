import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSops, type SopsTestFormat } from '../helpers/sops.js';
import { runBerth, type CliRun } from './run-cli.js';

/**
 * `berth validate` and `berth secrets` on stacks holding age files made by the real age CLI
 * and SOPS files made by the test encoder: formats, recipients, whether the configured keys
 * open them, how the stacks use them, and never a plaintext value in any output.
 */

const IMAGE = 'berth-fixture/busybox:latest';
/** Every plaintext value in this test carries this marker: none may appear in any output. */
const MARK = `PLAIN${randomBytes(4).toString('hex')}`;
const value = (name: string): string => `${MARK}-${name}`;

interface Key {
  file: string;
  recipient: string;
}

let tmp: string;
let key: Key;
let other: Key;

async function write(rel: string, content: string | Uint8Array): Promise<string> {
  const file = path.join(tmp, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  return file;
}

function keygen(file: string): Key {
  execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
  const text = execFileSync('age-keygen', ['-y', file], { encoding: 'utf8' });
  return { file, recipient: text.trim() };
}

/** An age file from the real age CLI, armored or binary. */
async function ageFile(rel: string, plaintext: string, to: Key, armor: boolean): Promise<void> {
  const plain = path.join(tmp, `plain-${randomBytes(4).toString('hex')}`);
  await writeFile(plain, plaintext);
  const out = path.join(tmp, rel);
  await mkdir(path.dirname(out), { recursive: true });
  execFileSync('age', ['-r', to.recipient, ...(armor ? ['-a'] : []), '-o', out, plain]);
  await rm(plain);
}

async function sopsFile(
  rel: string,
  plaintext: string,
  format: SopsTestFormat,
  to: Key[],
): Promise<string> {
  return write(
    rel,
    await encodeSops(plaintext, { format, recipients: to.map((k) => k.recipient) }),
  );
}

/** Flips one base64 character of the first `data:` after `after` (a value, or the MAC). */
async function tamper(file: string, after: RegExp): Promise<void> {
  const text = await readFile(file, 'utf8');
  const at = text.search(after);
  const data = text.indexOf('data:', at) + 'data:'.length;
  const c = text[data + 2];
  const flipped = c === 'A' ? 'B' : 'A';
  await writeFile(file, text.slice(0, data + 2) + flipped + text.slice(data + 3));
}

function config(name: string, keyFiles: string[]): Promise<string> {
  return write(
    `${name}.yaml`,
    [
      'source:',
      `  path: ${path.join(tmp, 'repo')}`,
      '  paths: stacks/*',
      `dataDir: ${path.join(tmp, `data-${name}`)}`,
      'secrets:',
      '  age:',
      `    keyFiles: [${keyFiles.join(', ')}]`,
      '    sopsDefaults: false',
      '',
    ].join('\n'),
  );
}

/** No SOPS default place may hold a key of the developer's. */
function env(): NodeJS.ProcessEnv {
  return { XDG_CONFIG_HOME: path.join(tmp, 'xdg'), HOME: path.join(tmp, 'home') };
}

async function berth(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const run = await runBerth(args, { cwd: tmp, env: { ...env(), ...extra } });
  expect(run.stdout + run.stderr, 'no plaintext in any output').not.toContain(MARK);
  return run;
}

interface FileDoc {
  path: string;
  format: string;
  recipients: string[];
  opens: boolean;
  problem?: string;
  uses?: { as: string; service?: string; name?: string }[];
}
interface StackDoc {
  stack: string;
  valid: boolean;
  encrypted: FileDoc[];
  error?: { reason: string; message: string };
}

function stackOf(doc: { stacks: StackDoc[] }, name: string): StackDoc {
  const stack = doc.stacks.find((s) => s.stack === name);
  if (stack === undefined) throw new Error(`no stack ${name} in ${JSON.stringify(doc)}`);
  return stack;
}

function fileOf(files: FileDoc[], rel: string): FileDoc {
  const file = files.find((f) => f.path === rel);
  if (file === undefined) throw new Error(`no file ${rel} in ${JSON.stringify(files)}`);
  return file;
}

const WEB = `services:
  app:
    image: ${IMAGE}
    env_file: [app.env]
    secrets: [db]
    configs: [settings]
    volumes:
      - ./certs:/certs:ro
secrets:
  db:
    file: ./secrets/db.age
configs:
  settings:
    file: ./settings.json
`;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-secrets-cli-'));
  await mkdir(path.join(tmp, 'xdg'), { recursive: true });
  key = keygen(path.join(tmp, 'key.txt'));
  other = keygen(path.join(tmp, 'other.txt'));
  const web = (rel: string): string => `repo/stacks/web/${rel}`;
  await write(web('compose.yaml'), WEB);
  await sopsFile(web('.env'), `TAG=${value('tag')}\n`, 'dotenv', [key]);
  await ageFile(web('app.env'), `PASSWORD=${value('password')}\n`, key, true);
  await ageFile(web('secrets/db.age'), value('db'), key, false);
  await sopsFile(
    web('settings.json'),
    JSON.stringify({ db: { user: value('user'), port: 5432, tls: true } }),
    'json',
    [key, other],
  );
  await sopsFile(web('certs/tls.yaml'), `key: ${value('tls')}\nn: 3\n`, 'yaml', [key]);
  await write(web('certs/ca.pem'), 'public\n');
  await sopsFile(web('spare.env'), `SPARE=${value('spare')}\n`, 'dotenv', [key]);
  await write('repo/stacks/plain/compose.yaml', `services:\n  app:\n    image: ${IMAGE}\n`);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('berth validate and berth secrets on encrypted files', { timeout: 120_000 }, () => {
  it('validate reports every encrypted file, its format, recipients, uses and that it opens', async () => {
    const cfg = await config('good', [key.file]);
    const run = await berth(['validate', '--config', cfg, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const doc = JSON.parse(run.stdout) as { ok: boolean; stacks: StackDoc[] };
    expect(doc.ok).toBe(true);
    const web = stackOf(doc, 'web');
    expect(web.valid).toBe(true);
    expect(web.encrypted.map((f) => [f.path, f.format, f.opens])).toEqual([
      ['.env', 'sops-dotenv', true],
      ['app.env', 'age', true],
      ['certs/tls.yaml', 'sops-yaml', true],
      ['secrets/db.age', 'age', true],
      ['settings.json', 'sops-json', true],
      ['spare.env', 'sops-dotenv', true],
    ]);
    expect(fileOf(web.encrypted, 'settings.json').recipients.sort()).toEqual(
      [key.recipient, other.recipient].sort(),
    );
    expect(fileOf(web.encrypted, '.env').recipients).toEqual([key.recipient]);
    expect(fileOf(web.encrypted, 'app.env').recipients).toEqual([]);
    expect(fileOf(web.encrypted, '.env').uses).toEqual([{ as: '.env' }]);
    expect(fileOf(web.encrypted, 'app.env').uses).toEqual([{ as: 'env_file', service: 'app' }]);
    expect(fileOf(web.encrypted, 'secrets/db.age').uses).toEqual([
      { as: 'secret', service: 'app', name: 'db' },
    ]);
    expect(fileOf(web.encrypted, 'settings.json').uses).toEqual([
      { as: 'config', service: 'app', name: 'settings' },
    ]);
    expect(fileOf(web.encrypted, 'certs/tls.yaml').uses).toEqual([
      { as: 'bind', service: 'app', name: '/certs/tls.yaml' },
    ]);
    expect(fileOf(web.encrypted, 'spare.env').uses).toEqual([]);
    expect(stackOf(doc, 'plain').encrypted).toEqual([]);

    const text = await berth(['validate', '--config', cfg]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^web\s+\.env\s+sops-dotenv\s+yes\s+\.env \(interpolation\)/m);
    expect(text.stdout).toMatch(
      /^web\s+settings\.json\s+sops-json\s+yes\s+config settings of app/m,
    );
    expect(text.stdout).toMatch(/^web\s+spare\.env\s+sops-dotenv\s+yes\s+not used/m);
    expect(text.stdout).toContain(key.recipient);
    expect(text.stdout).toContain('2 stacks valid');
  });

  it('a wrong key: every file that does not open is named with its recipients; the stack is invalid', async () => {
    const cfg = await config('wrong', [other.file]);
    const run = await berth(['validate', '--config', cfg, '--json']);
    expect(run.code).toBe(1);
    const doc = JSON.parse(run.stdout) as { ok: boolean; stacks: StackDoc[] };
    expect(doc.ok).toBe(false);
    expect(stackOf(doc, 'plain').valid).toBe(true);
    const web = stackOf(doc, 'web');
    expect(web.valid).toBe(false);
    expect(web.error?.reason).toBe('SecretKeyMissing');
    // settings.json is also for the other key: it opens; the rest does not.
    expect(web.encrypted.filter((f) => f.opens).map((f) => f.path)).toEqual(['settings.json']);
    const dotenv = fileOf(web.encrypted, '.env');
    expect(dotenv.problem).toContain(key.recipient);
    // A file the stack loader could not open still says how it is used.
    expect(fileOf(web.encrypted, 'secrets/db.age').uses).toEqual([
      { as: 'secret', service: 'app', name: 'db' },
    ]);

    const text = await berth(['validate', '--config', cfg]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^web\s+invalid/m);
    expect(text.stdout).toMatch(/^web\s+secrets\/db\.age\s+age\s+NO\s+secret db of app/m);
    expect(text.stdout).toContain(`web: .env does not open:`);
    expect(text.stdout).toContain('1 of 2 stacks invalid');
  });

  it('no key at all (validate DIR, no config, no SOPS default key): nothing opens', async () => {
    const run = await berth(['validate', path.join(tmp, 'repo'), '--json']);
    expect(run.code).toBe(1);
    const web = stackOf(JSON.parse(run.stdout) as { stacks: StackDoc[] }, 'web');
    expect(web.encrypted.length).toBe(6);
    expect(web.encrypted.every((f) => !f.opens && f.problem !== undefined)).toBe(true);
  });

  it('validate DIR takes its keys from SOPS defaults: SOPS_AGE_KEY_FILE, SOPS_AGE_KEY', async () => {
    const byFile = await berth(['validate', path.join(tmp, 'repo'), '--json'], {
      SOPS_AGE_KEY_FILE: key.file,
    });
    expect(byFile.code, byFile.stdout).toBe(0);
    const secret = (await readFile(key.file, 'utf8')).match(/AGE-SECRET-KEY-1\S+/)?.[0] ?? '';
    const inline = await berth(['validate', path.join(tmp, 'repo')], { SOPS_AGE_KEY: secret });
    expect(inline.code, inline.stdout).toBe(0);
    expect(inline.stdout + inline.stderr).not.toContain(secret);
  });

  it('a flipped byte in a value or in the MAC: tampered, named, the stack invalid', async () => {
    const cases = [
      { name: 'value', rel: 'tampered-value', after: /^SECRET=/m },
      { name: 'mac', rel: 'tampered-mac', after: /^sops_mac=/m },
    ];
    for (const c of cases) {
      const dir = `repo-${c.rel}/stacks/t`;
      await write(
        `${dir}/compose.yaml`,
        `services:\n  app:\n    image: ${IMAGE}\n    env_file: app.env\n`,
      );
      const file = await sopsFile(
        `${dir}/app.env`,
        `SECRET=${value(c.name)}\nOTHER=${value('other')}\n`,
        'dotenv',
        [key],
      );
      await tamper(file, c.after);
      const run = await berth(['validate', path.join(tmp, `repo-${c.rel}`), '--json'], {
        SOPS_AGE_KEY_FILE: key.file,
      });
      expect(run.code, c.name).toBe(1);
      const stack = stackOf(JSON.parse(run.stdout) as { stacks: StackDoc[] }, 't');
      expect(stack.error?.reason, c.name).toBe('SecretTampered');
      const app = fileOf(stack.encrypted, 'app.env');
      expect(app.opens).toBe(false);
      expect(app.problem).toBeDefined();
      expect(app.uses).toEqual([{ as: 'env_file', service: 'app' }]);
    }
  });

  it('berth secrets lists which stacks use which files, and whether they open', async () => {
    const cfg = await config('list', [key.file]);
    const run = await berth(['secrets', '--config', cfg]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^web\s+app\.env\s+age\s+yes\s+env_file of app/m);
    expect(run.stdout).toMatch(
      /^web\s+certs\/tls\.yaml\s+sops-yaml\s+yes\s+bind \/certs\/tls\.yaml in app/m,
    );
    expect(run.stdout).toMatch(/^web\s+spare\.env\s+sops-dotenv\s+yes\s+not used/m);
    expect(run.stdout).not.toMatch(/^plain\s/m);
    expect(run.stdout).toContain('6 encrypted files in 1 of 2 stacks');

    const json = await berth(['secrets', 'web', '--config', cfg, '--json']);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as {
      ok: boolean;
      stacks: { stack: string; files: FileDoc[] }[];
    };
    expect(doc.ok).toBe(true);
    expect(doc.stacks.map((s) => s.stack)).toEqual(['web']);
    expect(doc.stacks[0]?.files.map((f) => f.path)).toContain('secrets/db.age');

    const none = await berth(['secrets', 'plain', '--config', cfg]);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('plain holds no encrypted file');

    const unknown = await berth(['secrets', 'nope', '--config', cfg]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no stack named nope');
  });

  it('berth secrets with a wrong key: exit 1, the files that do not open and why', async () => {
    const cfg = await config('list-wrong', [other.file]);
    const run = await berth(['secrets', '--config', cfg]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^web\s+\.env\s+sops-dotenv\s+NO\s+\.env \(interpolation\)/m);
    expect(run.stdout).toMatch(/^web\s+settings\.json\s+sops-json\s+yes/m);
    expect(run.stdout).toContain('5 do not open');
    const json = await berth(['secrets', '--config', cfg, '--json']);
    const doc = JSON.parse(json.stdout) as {
      ok: boolean;
      stacks: { error?: { reason: string } }[];
    };
    expect(doc.ok).toBe(false);
  });

  it('is read-only: no data dir, no lock, no decrypted files written', async () => {
    const cfg = await config('nolock', [key.file]);
    expect((await berth(['secrets', '--config', cfg])).code).toBe(0);
    expect((await berth(['validate', '--config', cfg])).code).toBe(0);
    await expect(stat(path.join(tmp, 'data-nolock'))).rejects.toThrow();
  });
});
