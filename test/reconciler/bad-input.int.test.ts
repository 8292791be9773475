import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdir, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatError } from '../../src/cli/format.js';
import type { StackOutcome } from '../../src/reconciler/types.js';
import { FIXTURE_IMAGE, uniqueName } from '../helpers/docker.js';
import { Harness, composeFile } from '../helpers/harness.js';

/**
 * The bad-input corpus (issue 10): one pass over many broken or hostile stacks, each of which
 * ran a good version before. For every case the user sees an error naming the stack, the file
 * and (where there is one) the field; every other stack of the pass deploys; nothing is
 * written outside the data dir; and the good version keeps running.
 */

interface Case {
  /** What the case is; the stack's name is derived from it. */
  id: string;
  /** Files of the bad version, by path inside the stack folder; `null` for a link (see links). */
  files: (ctx: CaseContext) => Record<string, string>;
  /** Links inside the stack folder of the bad version: path -> target text. */
  links?: (ctx: CaseContext) => Record<string, string>;
  /** The results the pass may give the stack. */
  results: StackOutcome['result'][];
  /** What the user sees (formatError of the outcome's error, or its message) must match each. */
  says: (ctx: CaseContext) => (string | RegExp)[];
}

interface CaseContext {
  stack: string;
  /** Another stack of the corpus (the control stack), for `../` references. */
  other: string;
  /** A folder outside the repository and the data dir that nothing may read or write. */
  outside: string;
  dataDir: string;
  port: number;
}

const OK_STACK = composeFile({ web: {} });
const INVALID: StackOutcome['result'][] = ['invalid'];
const RUNTIME: StackOutcome['result'][] = ['failed', 'rolled-back'];

function service(extra: string, options: { image?: string } = {}): string {
  return [
    'services:',
    '  web:',
    `    image: ${options.image ?? FIXTURE_IMAGE}`,
    '    command: ["sh", "-c", "sleep 3600"]',
    '    stop_grace_period: 1s',
    ...extra.split('\n').map((line) => (line === '' ? line : `    ${line}`)),
    '',
  ].join('\n');
}

const compose =
  (text: string): Case['files'] =>
  (): Record<string, string> => ({
    'compose.yaml': text,
  });

const big = (bytes: number): string => `# ${'x'.repeat(bytes)}\n`;

const CASES: Case[] = [
  // YAML and Compose.
  {
    id: 'yaml-malformed',
    files: compose('services:\n  web: [\n'),
    results: INVALID,
    says: () => ['compose.yaml'],
  },
  {
    id: 'yaml-duplicate-key',
    files: compose(`services:\n  web:\n    image: a\n    image: b\n`),
    results: INVALID,
    says: () => ['compose.yaml', /duplicate|unique/i],
  },
  {
    id: 'yaml-alias-bomb',
    files: compose(
      [
        'x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        'x-b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
        'x-c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
        'x-d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
        'x-e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
        'x-f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]',
        'x-g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]',
        'services:',
        '  web:',
        `    image: ${FIXTURE_IMAGE}`,
        '    labels:',
        '      bomb: *g',
        '',
      ].join('\n'),
    ),
    results: INVALID,
    says: () => ['compose.yaml', /alias/i],
  },
  {
    id: 'yaml-not-a-mapping',
    files: compose('- just\n- a list\n'),
    results: INVALID,
    says: () => ['compose.yaml'],
  },
  {
    id: 'compose-empty',
    files: compose(''),
    results: INVALID,
    says: () => ['compose.yaml'],
  },
  {
    id: 'unknown-service-key',
    files: compose(service('imagee: typo')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'imagee'],
  },
  {
    id: 'unknown-top-key',
    files: compose(`servics: {}\n${service('')}`),
    results: INVALID,
    says: () => ['compose.yaml', 'servics'],
  },
  {
    id: 'services-not-a-map',
    files: compose('services: 5\n'),
    results: INVALID,
    says: () => ['compose.yaml', 'services'],
  },
  {
    id: 'dependency-cycle',
    files: compose(
      [
        'services:',
        '  a:',
        `    image: ${FIXTURE_IMAGE}`,
        '    depends_on: [b]',
        '  b:',
        `    image: ${FIXTURE_IMAGE}`,
        '    depends_on: [a]',
        '',
      ].join('\n'),
    ),
    results: INVALID,
    says: () => ['compose.yaml', /cycl|circular/i],
  },
  {
    id: 'depends-on-undefined',
    files: compose(service('depends_on: [ghost]')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'depends_on.ghost'],
  },
  {
    id: 'bad-port',
    files: compose(service('ports: ["not-a-port"]')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'ports'],
  },
  {
    id: 'bad-service-name',
    files: compose(`services:\n  "bad name!":\n    image: ${FIXTURE_IMAGE}\n`),
    results: INVALID,
    says: () => ['compose.yaml', 'bad name!'],
  },
  {
    id: 'required-variable',
    files: compose(service('environment:\n  X: ${MUST_BE_SET:?set MUST_BE_SET}')),
    results: INVALID,
    says: () => ['compose.yaml', 'MUST_BE_SET'],
  },
  {
    id: 'bad-healthcheck-duration',
    files: compose(service('healthcheck:\n  test: ["CMD", "true"]\n  interval: soon')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'healthcheck.interval'],
  },
  {
    id: 'undeclared-network',
    files: compose(service('networks: [nowhere]')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'nowhere'],
  },
  {
    id: 'undeclared-volume',
    files: compose(service('volumes: ["undeclared:/data"]')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'undeclared'],
  },
  {
    id: 'undeclared-secret',
    files: compose(service('secrets: [nothere]')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'nothere'],
  },
  {
    id: 'extends-missing',
    files: compose(service('extends: { service: ghost }')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'extends'],
  },
  {
    id: 'include-circular',
    files: () => ({
      'compose.yaml': `include: [other.yaml]\n${service('')}`,
      'other.yaml': 'include: [compose.yaml]\n',
    }),
    results: INVALID,
    says: () => [/circular include/],
  },
  // Deploy settings.
  {
    id: 'settings-unknown-key',
    files: () => ({ 'compose.yaml': OK_STACK, 'deploy.yaml': 'methodd: simple\n' }),
    results: INVALID,
    says: () => ['deploy.yaml', 'methodd'],
  },
  {
    id: 'settings-bad-method',
    files: () => ({ 'compose.yaml': OK_STACK, 'deploy.yaml': 'method: rolling\n' }),
    results: INVALID,
    says: () => ['deploy.yaml', 'method'],
  },
  {
    id: 'settings-bad-duration',
    files: () => ({ 'compose.yaml': OK_STACK, 'deploy.yaml': 'healthTimeout: forever\n' }),
    results: INVALID,
    says: () => ['deploy.yaml', 'healthTimeout'],
  },
  {
    id: 'settings-timer-overflow',
    files: () => ({ 'compose.yaml': OK_STACK, 'deploy.yaml': 'hooks:\n  timeout: 30d\n' }),
    results: INVALID,
    says: () => ['deploy.yaml', 'hooks.timeout'],
  },
  {
    id: 'settings-x-berth-bad',
    files: compose(`x-berth:\n  markBad: perhaps\n${OK_STACK}`),
    results: INVALID,
    says: () => ['compose.yaml', 'markBad'],
  },
  {
    id: 'settings-hook-missing',
    files: () => ({ 'compose.yaml': OK_STACK, 'deploy.yaml': 'hooks:\n  preDeploy: nope.sh\n' }),
    results: INVALID,
    says: () => ['deploy.yaml', 'hooks.preDeploy'],
  },
  {
    id: 'settings-hook-escapes',
    files: () => ({
      'compose.yaml': OK_STACK,
      'deploy.yaml': 'hooks:\n  preDeploy: ../../../../../../bin/true\n',
    }),
    results: INVALID,
    says: () => ['deploy.yaml', 'hooks.preDeploy'],
  },
  // Files over the caps.
  {
    id: 'compose-over-cap',
    files: () => ({ 'compose.yaml': `${OK_STACK}${big(2 * 1024 * 1024)}` }),
    results: INVALID,
    says: () => ['compose.yaml', /MiB|bytes|too large|cap/i],
  },
  {
    id: 'env-over-cap',
    files: () => ({ 'compose.yaml': OK_STACK, '.env': big(2 * 1024 * 1024) }),
    results: INVALID,
    says: () => ['.env', /MiB|bytes|too large|cap/i],
  },
  {
    id: 'settings-over-cap',
    files: () => ({ 'compose.yaml': OK_STACK, 'deploy.yaml': big(2 * 1024 * 1024) }),
    results: INVALID,
    says: () => ['deploy.yaml', /MiB|bytes|too large|cap/i],
  },
  // Files outside the stack.
  {
    id: 'env-file-absolute',
    files: compose(service('env_file: /etc/passwd')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'env_file', '/etc/passwd'],
  },
  {
    id: 'env-file-dotdot',
    files: ({ other }) => ({ 'compose.yaml': service(`env_file: ../${other}/.env`) }),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'env_file', '../'],
  },
  {
    id: 'link-escapes',
    files: compose(OK_STACK),
    links: () => ({ data: '../../../../../../etc' }),
    results: INVALID,
    says: () => ['data', /outside/],
  },
  {
    id: 'link-absolute',
    files: compose(OK_STACK),
    links: ({ outside }) => ({ 'secret.txt': path.join(outside, 'secret.txt') }),
    results: INVALID,
    says: () => ['secret.txt', /outside/],
  },
  {
    id: 'bind-dotdot',
    files: compose(service('volumes: ["../:/up"]')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'volumes'],
  },
  {
    id: 'secret-file-dotdot',
    files: compose(
      `${service('secrets: [token]')}secrets:\n  token:\n    file: ../../../../../../etc/hostname\n`,
    ),
    results: INVALID,
    says: () => ['compose.yaml', 'token', /file/],
  },
  {
    id: 'build-context-dotdot',
    files: compose(`services:\n  web:\n    image: bt-never-built\n    build:\n      context: ..\n`),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'build'],
  },
  {
    id: 'extends-file-dotdot',
    files: ({ other }) => ({
      'compose.yaml': service(`extends: { file: ../${other}/compose.yaml, service: web }`),
    }),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'extends'],
  },
  {
    id: 'include-dotdot',
    files: ({ other }) => ({ 'compose.yaml': `include: [../${other}/compose.yaml]\n` }),
    results: INVALID,
    says: () => ['compose.yaml', 'include'],
  },
  // Policy (the corpus runs under the strict preset).
  {
    id: 'privileged',
    files: compose(service('privileged: true')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'privileged', 'policy'],
  },
  {
    id: 'host-network',
    files: compose(service('network_mode: host')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'network_mode', 'policy'],
  },
  {
    id: 'host-pid',
    files: compose(service('pid: host')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'pid', 'policy'],
  },
  {
    id: 'cap-add',
    files: compose(service('cap_add: [SYS_ADMIN]')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'cap_add', 'SYS_ADMIN', 'policy'],
  },
  {
    id: 'devices',
    files: compose(service('devices: ["/dev/kmsg:/dev/kmsg"]')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'devices', 'policy'],
  },
  {
    id: 'bind-root',
    files: compose(service('volumes: ["/:/host"]')),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'volumes', 'policy'],
  },
  {
    id: 'bind-data-dir',
    files: ({ dataDir }) => ({ 'compose.yaml': service(`volumes: ["${dataDir}:/berth"]`) }),
    results: INVALID,
    says: () => ['compose.yaml', 'web', 'volumes', 'policy'],
  },
  // Failures only Docker or a hook can show: the good version stays.
  {
    id: 'missing-image',
    files: compose(service('pull_policy: never', { image: 'bt-missing/image:nope' })),
    results: RUNTIME,
    says: () => ['bt-missing/image:nope'],
  },
  {
    id: 'port-clash',
    files: ({ port }) => ({ 'compose.yaml': service(`ports: ["127.0.0.1:${port}:80"]`) }),
    results: RUNTIME,
    says: ({ port }) => [String(port)],
  },
  {
    id: 'hook-fails',
    files: () => ({
      'compose.yaml': composeFile({ web: { marker: 'v2' } }),
      'deploy.yaml': 'hooks:\n  preDeploy: pre.sh\n',
      'pre.sh': '#!/bin/sh\necho refusing\nexit 3\n',
    }),
    results: ['failed'],
    says: () => [/pre-deploy/],
  },
  {
    id: 'hook-hangs',
    files: () => ({
      'compose.yaml': composeFile({ web: { marker: 'v2' } }),
      'deploy.yaml': 'hooks:\n  preDeploy: pre.sh\n  timeout: 2s\n',
      'pre.sh': '#!/bin/sh\nsleep 3600\n',
    }),
    results: ['failed'],
    says: () => [/pre-deploy/, /time/i],
  },
  {
    id: 'hook-writes-own-folder',
    files: () => ({
      'compose.yaml': composeFile({ web: { marker: 'v2' } }),
      'deploy.yaml': 'hooks:\n  preDeploy: pre.sh\n',
      'pre.sh': '#!/bin/sh\necho changed > compose.yaml\nexit 1\n',
    }),
    results: ['failed'],
    says: () => [/pre-deploy/],
  },
  {
    id: 'unhealthy',
    files: () => ({ 'compose.yaml': composeFile({ web: { marker: 'v2', health: 'false' } }) }),
    results: ['rolled-back'],
    says: () => [/health/i],
  },
];

/** Every file under dir with its size and modification time; links by their text. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  async function walk(current: string): Promise<void> {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) {
        out.set(full, 'dir');
        await walk(full);
      } else {
        const info = await stat(full).catch(() => undefined);
        out.set(full, `${info?.size}:${info?.mtimeMs}`);
      }
    }
  }
  await walk(dir);
  return out;
}

function said(outcome: StackOutcome | undefined): string {
  if (outcome === undefined) return '';
  // Without an error object the CLI prints the message on the stack's own line.
  return outcome.error === undefined
    ? `${outcome.stack}: ${outcome.message}`
    : formatError(outcome.error);
}

async function listen(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port };
}

describe('bad-input corpus: each broken or hostile stack fails alone, clearly, and safely', () => {
  let h: Harness;
  let held: { server: Server; port: number };
  const names = new Map<string, string>();
  let ctxOf: (id: string) => CaseContext;
  const firstVersions = new Map<string, string | undefined>();
  let control: string;
  let pass: Awaited<ReturnType<Harness['control']['reconcile']>>;
  let outsideBefore: Map<string, string>;
  let outside: string;

  beforeAll(async () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    h = await Harness.create();
    held = await listen();
    outside = path.join(h.root, 'outside');
    await mkdir(outside);
    await writeFile(path.join(outside, 'secret.txt'), 'outside\n');
    await writeFile(path.join(outside, 'compose.yaml'), OK_STACK);
    control = h.name('ok');
    for (const c of CASES) names.set(c.id, h.name(c.id.slice(0, 18)));
    ctxOf = (id) => ({
      stack: names.get(id)!,
      other: control,
      outside,
      dataDir: h.dataDir,
      port: held.port,
    });
    // Version 1: every stack good.
    await h.writeStack(control, OK_STACK, { '.env': 'A=1\n' });
    for (const name of names.values()) await h.writeStack(name, OK_STACK);
    h.commit('all good');
    await h.open({ concurrency: 8, policy: { preset: 'strict' } });
    const first = await h.control.reconcile({});
    expect(first.stacks.filter((s) => s.result !== 'deployed')).toEqual([]);
    for (const name of [control, ...names.values()])
      firstVersions.set(name, h.store.getStack(name)?.running?.version);

    // Version 2: every case stack turns bad, the control stack changes and must deploy.
    await h.writeStack(control, composeFile({ web: { marker: 'v2' } }), { '.env': 'A=2\n' });
    for (const c of CASES) {
      const ctx = ctxOf(c.id);
      await rm(path.join(h.work, 'stacks', ctx.stack), { recursive: true, force: true });
      for (const [file, content] of Object.entries(c.files(ctx)))
        await h.write(`stacks/${ctx.stack}/${file}`, content);
      for (const [link, target] of Object.entries(c.links?.(ctx) ?? {}))
        await symlink(target, path.join(h.work, 'stacks', ctx.stack, link));
    }
    // Stacks that never ran: a link to a folder outside, and names berth refuses.
    await symlink(outside, path.join(h.work, 'stacks', uniqueName('evil')));
    await h.writeStack(`Upper-${uniqueName('x').slice(3)}`, OK_STACK);
    await h.writeStack(`dot.${uniqueName('x').slice(3)}`, OK_STACK);
    h.commit('everything breaks');
    outsideBefore = await snapshot(outside);
    pass = await h.control.reconcile({});
  }, 600_000);

  afterAll(async () => {
    held?.server.close();
    await h?.cleanup();
  });

  it('deploys the control stack in the same pass', () => {
    const outcome = pass.stacks.find((s) => s.stack === control);
    expect(outcome?.result).toBe('deployed');
    expect(pass.ok).toBe(false);
  });

  it.each(CASES.map((c) => [c.id, c] as const))('%s', async (_id, c) => {
    const ctx = ctxOf(c.id);
    const outcome = pass.stacks.find((s) => s.stack === ctx.stack);
    const text = said(outcome);
    expect(c.results, `${c.id}: ${outcome?.result}: ${text}`).toContain(outcome?.result);
    expect(text).toContain(ctx.stack);
    // Files are named where the user keeps them, not by berth's private copy.
    expect(text).not.toContain(path.join(h.dataDir, 'staging'));
    for (const expected of c.says(ctx)) {
      if (typeof expected === 'string') expect(text).toContain(expected);
      else expect(text).toMatch(expected);
    }
    // The good version keeps running.
    const containers = await h.containers(ctx.stack);
    expect(containers.length).toBeGreaterThan(0);
    for (const container of containers) {
      expect(container.state).toBe('running');
      expect(container.version).toBe(firstVersions.get(ctx.stack));
    }
    expect(h.store.getStack(ctx.stack)?.running?.version).toBe(firstVersions.get(ctx.stack));
  });

  it('reports stacks berth refuses to read: a linked folder, bad names', async () => {
    const reported = pass.stacks.filter((s) => s.result === 'invalid').map(said);
    expect(reported.some((t) => /evil/.test(t) && /link/i.test(t))).toBe(true);
    expect(reported.some((t) => /Upper-/.test(t) && /not a valid stack name/.test(t))).toBe(true);
    expect(reported.some((t) => /dot\./.test(t) && /not a valid stack name/.test(t))).toBe(true);
    // Nothing was deployed from outside the repository, and nothing was written there.
    expect(await snapshot(outside)).toEqual(outsideBefore);
    const running = await readdir(path.join(h.dataDir, 'running_stacks'));
    expect(running.filter((n) => n.includes('evil'))).toEqual([]);
  });

  it('writes nothing into the checkout: hooks ran on a private copy', () => {
    const checkout = path.join(h.dataDir, 'repo');
    const status = execFileSync('git', ['status', '--porcelain'], {
      cwd: checkout,
      encoding: 'utf8',
    });
    expect(status).toBe('');
  });
});

describe('bad-input corpus: a repository that cannot be fetched', () => {
  it('reports the source and keeps the running stacks', async () => {
    const h = await Harness.create();
    try {
      const stack = h.name('kept');
      await h.writeStack(stack, OK_STACK);
      h.commit('one stack');
      await h.open();
      expect((await h.control.reconcile({})).ok).toBe(true);
      const before = await h.containers(stack);
      await rename(h.remote, `${h.remote}.gone`);
      const failed = await h.control.reconcile({});
      expect(failed.ok).toBe(false);
      expect(formatError(failed.sourceError)).toContain('remote.git');
      expect(await h.containers(stack)).toEqual(before);
      await rename(`${h.remote}.gone`, h.remote);

      // A first clone that fails leaves nothing behind but the error.
      const fresh = await Harness.create();
      try {
        await rm(fresh.remote, { recursive: true, force: true });
        await fresh.open();
        const refused = await fresh.control.reconcile({}).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(formatError(refused)).toMatch(/git ls-remote failed: .*remote\.git/);
        expect(formatError(refused)).toContain('source.git.url');
        expect(await readdir(path.join(fresh.dataDir, 'running_stacks')).catch(() => [])).toEqual(
          [],
        );
      } finally {
        await fresh.cleanup();
      }
    } finally {
      await h.cleanup();
    }
  }, 180_000);
});
