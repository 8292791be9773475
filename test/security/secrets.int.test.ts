import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentRecord, StackRecord } from '../../src/state/types.js';
import { ROOT, berthCommand } from '../helpers/berth-bin.js';
import { DaemonProcess, sign, waitFor } from '../helpers/daemon-process.js';
import { testDocker } from '../helpers/docker.js';
import { Harness, composeFile } from '../helpers/harness.js';
import { GitHttpServer, RecordingSink } from './servers.js';

/**
 * Every secret berth knows, configured every way berth takes one (env variable, inline, a
 * `…File` key), and copies of them under berth's own and innocent names in its environment.
 * After deploys, failing hooks, a rollback, webhooks, API and CLI calls and notifications,
 * none of them may appear in anything berth wrote or answered.
 */
const RUN = randomBytes(6).toString('hex');
const secret = (what: string): string => `SECRET-${RUN}-${what}`;
const S = {
  gitToken: secret('GITTOKEN'), // BERTH_GIT_TOKEN
  apiInline: secret('APITOKEN1'), // server.tokens[0].token
  apiFile: secret('APITOKEN2'), // server.tokens[1].tokenFile
  generic: secret('WHGENERIC'), // server.webhooks.generic.secret
  github: secret('WHGITHUB'), // server.webhooks.github.secretFile
  gitea: secret('WHGITEA'), // BERTH_SERVER__WEBHOOKS__GITEA__SECRET
  notifyUrl: secret('NOTIFYURL'), // in notify[0].url
  notifyHeader: secret('NOTIFYHEADER'), // notify[0].headers.authorization
  ntfy: secret('NTFYTOKEN'), // notify[1].tokenFile
};
/** Besides the values: the git token as its basic-auth header carries it. */
const NEEDLES = [
  ...Object.values(S),
  Buffer.from(`x-access-token:${S.gitToken}`).toString('base64'),
];
const YEARLY = '0 0 1 1 *';

function findings(where: string, text: string | Buffer): string[] {
  const haystack = typeof text === 'string' ? Buffer.from(text) : text;
  return NEEDLES.filter((n) => haystack.includes(n)).map((n) => `${where}: ${n}`);
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** Runs the CLI under umask 0 (as the daemon) and returns everything it printed. */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  const berth = berthCommand(args);
  const previous = process.umask(0);
  try {
    return new Promise((resolve) => {
      execFile(berth.command, berth.args, { cwd: ROOT, env }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, out: `${stdout}\n${stderr}` });
      });
    });
  } finally {
    process.umask(previous);
  }
}

describe(
  'berth keeps its secrets (real daemon, git over http, Docker)',
  { timeout: 420_000 },
  () => {
    let harness: Harness;
    let git: GitHttpServer;
    let sink: RecordingSink;
    let daemon: DaemonProcess | undefined;
    let hookOut: string;
    let env: NodeJS.ProcessEnv;
    const answers: string[] = [];
    const inspected = new Map<string, string>();
    let polling = true;
    let poller: Promise<void> | undefined;
    let ok: string;
    let prehook: string;
    let flaky: string;

    beforeAll(async () => {
      harness = await Harness.create();
      git = await GitHttpServer.start(harness.root, S.gitToken);
      sink = await RecordingSink.start();
      hookOut = path.join(harness.root, 'hook-out');
      await mkdir(hookOut);
      ok = harness.name('sec-ok');
      prehook = harness.name('sec-pre');
      flaky = harness.name('sec-flaky');
    });

    afterAll(async () => {
      polling = false;
      await poller;
      await daemon?.stop('SIGKILL');
      await git?.close();
      await sink?.close();
      await harness?.cleanup();
    });

    /** Keeps the newest `docker inspect` of every container of the test's stacks. */
    async function pollContainers(): Promise<void> {
      const docker = testDocker();
      while (polling) {
        for (const project of [ok, prehook, flaky]) {
          const filters = { label: [`com.docker.compose.project=${project}`] };
          for (const c of await docker.listContainers({ all: true, filters })) {
            const info = await docker
              .getContainer(c.Id)
              .inspect()
              .catch(() => undefined);
            if (info !== undefined) inspected.set(c.Id, JSON.stringify(info));
          }
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    }

    async function writeConfig(): Promise<string> {
      await writeFile(path.join(harness.root, 'api-token'), `${S.apiFile}\n`);
      await writeFile(path.join(harness.root, 'github-secret'), `${S.github}\n`);
      await writeFile(path.join(harness.root, 'ntfy-token'), `${S.ntfy}\n`);
      const file = path.join(harness.root, 'berth.yaml');
      const sinkUrl = `http://127.0.0.1:${sink.port}`;
      await writeFile(
        file,
        [
          'source:',
          '  git:',
          `    url: ${git.url(harness.remote)}`,
          '    branch: main',
          '  paths: ["stacks/*"]',
          `dataDir: ${harness.dataDir}`,
          'defaults:',
          '  healthTimeout: 30s',
          '  stabilityPeriod: 500ms',
          `schedule: "${YEARLY}"`,
          'server:',
          '  listen: 127.0.0.1:0',
          '  tokens:',
          `    - { name: ci, token: "${S.apiInline}" }`,
          '    - { name: ops, tokenFile: api-token }',
          '  webhooks:',
          `    generic: { secret: "${S.generic}" }`,
          '    github: { secretFile: github-secret }',
          'notify:',
          '  - type: webhook',
          `    url: "${sinkUrl}/notify/${S.notifyUrl}"`,
          `    headers: { authorization: "Bearer ${S.notifyHeader}" }`,
          `  - { type: ntfy, url: "${sinkUrl}", topic: berth, tokenFile: ntfy-token }`,
        ].join('\n'),
      );
      return file;
    }

    /** A stack whose compose file asks interpolation for berth's secrets. */
    function leakyCompose(marker: string, health = 'true'): string {
      const leaks = [
        '      LEAK_TOKEN: "${BERTH_GIT_TOKEN}"',
        '      LEAK_INNOCENT: "${INNOCENT}"',
        '      LEAK_WEBHOOK: "${BERTH_SERVER__WEBHOOKS__GITEA__SECRET:-}"',
        '      INNOCENT_API:',
        '    labels:',
        '      leak: "${INNOCENT}${BERTH_GIT_TOKEN}"',
      ].join('\n');
      return composeFile({ app: { marker, health, extra: undefined } }).replace(
        `      MARKER: "${marker}"`,
        `      MARKER: "${marker}"\n${leaks}`,
      );
    }

    const dumpEnv = (phase: string): string =>
      `#!/bin/sh\nenv > "${hookOut}/${phase}-$BERTH_STACK-$$.env"\necho "--- env of the ${phase} hook"\nenv\n`;

    async function api(
      route: string,
      init: RequestInit = {},
      token = S.apiInline,
    ): Promise<string> {
      const port = daemon?.port();
      const res = await fetch(`http://127.0.0.1:${port}/api/v1${route}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) },
      });
      const text = await res.text();
      answers.push(`${route} ${res.status} ${text}`);
      expect(res.status, `${route}: ${text}`).toBeLessThan(500);
      return text;
    }

    async function stackRecord(stack: string): Promise<StackRecord | undefined> {
      const list = (JSON.parse(await api('/stacks')) as { stacks: StackRecord[] }).stacks;
      return list.find((s) => s.name === stack);
    }

    async function deployments(stack: string): Promise<DeploymentRecord[]> {
      const text = await api(`/stacks/${stack}/deployments?limit=100`);
      return (JSON.parse(text) as { deployments?: DeploymentRecord[] }).deployments ?? [];
    }

    async function webhook(provider: string, headers: Record<string, string>, body: string) {
      const res = await fetch(`http://127.0.0.1:${daemon?.port()}/webhooks/${provider}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      const text = await res.text();
      answers.push(`webhook ${provider} ${res.status} ${text}`);
      expect(res.status, `${provider}: ${text}`).toBe(202);
    }

    async function everythingBerthWrote(): Promise<string[]> {
      const found: string[] = [];
      for (const file of await filesUnder(harness.dataDir))
        found.push(...findings(file, await readFile(file).catch(() => Buffer.alloc(0))));
      return found;
    }

    it('never hands a secret to repository code, a container, a log, the state or an answer', async () => {
      // Stacks: one deploys with a post-deploy hook, one fails its pre-deploy hook, one is healthy
      // first and then rolled back; every compose file asks for berth's secrets.
      await harness.writeStack(ok, leakyCompose('v1'), {
        'deploy.yaml': 'hooks:\n  postDeploy: post.sh\n',
        'post.sh': dumpEnv('post'),
      });
      await harness.writeStack(prehook, leakyCompose('v1'), {
        'deploy.yaml': 'hooks:\n  preDeploy: pre.sh\n',
        'pre.sh': `${dumpEnv('pre')}exit 1\n`,
      });
      await harness.writeStack(flaky, leakyCompose('v1'), {
        'deploy.yaml': 'hooks:\n  postDeploy: post.sh\n',
        'post.sh': dumpEnv('post'),
      });
      harness.commit('three stacks');
      const configFile = await writeConfig();

      env = {
        ...process.env,
        BERTH_LOG_LEVEL: 'trace',
        BERTH_GIT_TOKEN: S.gitToken,
        BERTH_SERVER__WEBHOOKS__GITEA__SECRET: S.gitea,
        INNOCENT: S.gitToken,
        INNOCENT_API: S.apiInline,
        INNOCENT_URL: `http://127.0.0.1:${sink.port}/notify/${S.notifyUrl}`,
      };
      poller = pollContainers();
      const previous = process.umask(0);
      try {
        daemon = DaemonProcess.start(['daemon', '--config', configFile], env);
      } finally {
        process.umask(previous);
      }
      let stdout = '';
      daemon.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      await waitFor(() => daemon?.port(), 60_000, 'the listener');

      await waitFor(async () => (await stackRecord(ok))?.state === 'AVAILABLE', 120_000, 'ok');
      await waitFor(async () => (await stackRecord(flaky))?.state === 'AVAILABLE', 120_000, 'v1');
      await waitFor(
        async () => (await deployments(prehook)).some((d) => d.result === 'failed'),
        120_000,
        'the failing pre-deploy hook',
      );
      expect(git.authorized).toBeGreaterThan(0);

      // An unhealthy version, announced by a signed generic webhook, is rolled back.
      await harness.writeStack(flaky, leakyCompose('v2', 'false'), {
        'deploy.yaml': 'hooks:\n  postDeploy: post.sh\n',
        'post.sh': dumpEnv('post'),
      });
      const v2 = harness.commit('flaky v2');
      const genericBody = JSON.stringify({ ref: 'refs/heads/main', commit: v2 });
      await webhook(
        'generic',
        { 'x-berth-signature': sign(S.generic, genericBody), 'x-berth-delivery': `d-${RUN}-1` },
        genericBody,
      );
      await waitFor(
        async () => (await deployments(flaky)).some((d) => d.state === 'ROLLED_BACK'),
        120_000,
        'the rollback',
      );

      // GitHub (secret from a file) and Gitea (secret from env) webhooks deploy ok v2.
      await harness.writeStack(ok, leakyCompose('v2'), {
        'deploy.yaml': 'hooks:\n  postDeploy: post.sh\n',
        'post.sh': dumpEnv('post'),
      });
      const okV2 = harness.commit('ok v2');
      const ghBody = JSON.stringify({ ref: 'refs/heads/main', after: okV2 });
      await webhook(
        'github',
        {
          'x-github-event': 'push',
          'x-github-delivery': `gh-${RUN}`,
          'x-hub-signature-256': sign(S.github, ghBody),
        },
        ghBody,
      );
      const giteaBody = JSON.stringify({ ref: 'refs/heads/main', after: okV2 });
      await webhook(
        'gitea',
        {
          'x-gitea-event': 'push',
          'x-gitea-delivery': `gt-${RUN}`,
          'x-gitea-signature': createHmac('sha256', S.gitea).update(giteaBody).digest('hex'),
        },
        giteaBody,
      );
      await waitFor(
        async () =>
          (await deployments(ok)).some((d) => d.result === 'succeeded' && d.commit === okV2),
        120_000,
        'ok v2',
      );

      // API calls with both tokens, a rollback through the API and one through the CLI.
      for (const stack of [ok, prehook, flaky]) {
        await api(`/stacks/${stack}`, {}, S.apiFile);
        await api(`/stacks/${stack}/health`);
      }
      await api(`/stacks/${flaky}/rollback`, { method: 'POST', body: '{}' });
      const rollback = await cli(['rollback', ok, '--config', configFile, '--json'], env);
      answers.push(`cli rollback ${rollback.out}`);
      await waitFor(
        async () =>
          (await deployments(ok)).every((d) => d.state !== 'RUNNING' && d.state !== 'WAITING'),
        120_000,
        'the rollbacks to settle',
      );
      await waitFor(
        () => sink.received.some((r) => r.body.includes('rolled-back')),
        60_000,
        'the rolled-back notification',
      );

      // What the CLI's readers print.
      const outputs = [await cli(['status', '--config', configFile, '--json'], env)];
      for (const stack of [ok, prehook, flaky]) {
        outputs.push(await cli(['history', stack, '-v', '--config', configFile, '--json'], env));
        outputs.push(await cli(['history', stack, '-v', '--config', configFile], env));
      }
      for (const output of outputs) answers.push(output.out);

      // Sanity: the hooks ran and wrote what they saw; containers exist; notifications came.
      const hookFiles = await filesUnder(hookOut);
      expect(hookFiles.some((f) => path.basename(f).startsWith(`pre-${prehook}`))).toBe(true);
      expect(hookFiles.some((f) => path.basename(f).startsWith(`post-${ok}`))).toBe(true);
      const hookTexts = await Promise.all(hookFiles.map((f) => readFile(f, 'utf8')));
      expect(hookTexts.every((t) => t.includes('BERTH_STACK=') && t.includes('PATH='))).toBe(true);
      const history = outputs.map((o) => o.out).join('\n');
      expect(history).toContain('--- env of the pre hook');
      expect(inspected.size).toBeGreaterThan(0);
      expect(sink.received.length).toBeGreaterThan(0);

      // The data dir, its state and its socket are private even under umask 0.
      const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;
      expect(await mode(harness.dataDir)).toBe(0o700);
      for (const file of ['berth.db', 'berth.lock', 'berth.lock.json', 'berth.sock'])
        expect([file, await mode(path.join(harness.dataDir, file))]).toEqual([file, 0o600]);
      for (const dir of ['running_stacks', 'good_stacks', 'staging'])
        expect([dir, await mode(path.join(harness.dataDir, dir))]).toEqual([dir, 0o700]);

      // Now search everything berth wrote or answered.
      const found: string[] = [];
      found.push(...(await everythingBerthWrote()));
      polling = false;
      await poller;
      expect(await daemon.stop('SIGTERM')).toBe(0);
      found.push(...(await everythingBerthWrote()));
      found.push(...findings('daemon stderr', daemon.stderr), ...findings('daemon stdout', stdout));
      answers.forEach((text, i) => found.push(...findings(`answer ${i}`, text)));
      for (const [id, text] of inspected) found.push(...findings(`container ${id}`, text));
      for (const [i, text] of hookTexts.entries())
        found.push(...findings(hookFiles[i] ?? '', text));
      for (const r of sink.received) found.push(...findings(`notification body ${r.path}`, r.body));
      daemon = undefined;
      expect(found).toEqual([]);

      // Interpolation found the variables unset: compose's empty value, not berth's.
      const envOf = [...inspected.values()].map(
        (text) => (JSON.parse(text) as { Config: { Env: string[] } }).Config.Env,
      );
      for (const e of envOf)
        expect(e).toEqual(expect.arrayContaining(['LEAK_TOKEN=', 'LEAK_INNOCENT=']));
    });
  },
);
