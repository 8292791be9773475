import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SourceError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { createGitSource } from '../../../src/source/git/git-source.js';
import { createFixture, git, type Fixture } from './git-fixture.js';

let fx: Fixture;
let sshd: ChildProcess | undefined;
let url: string;
let knownHosts: string;
let clientKey: string;
let strangerKey: string;

function keygen(file: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file], { stdio: 'ignore' });
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function waitForPort(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sshd did not listen on ${port}`);
}

beforeAll(async () => {
  fx = createFixture('berth-ssh-');
  const etc = path.join(fx.root, 'sshd');
  mkdirSync(etc);
  mkdirSync('/run/sshd', { recursive: true });
  keygen(path.join(etc, 'host_key'));
  clientKey = path.join(fx.root, 'client_key');
  strangerKey = path.join(fx.root, 'stranger_key');
  keygen(clientKey);
  keygen(strangerKey);
  writeFileSync(path.join(etc, 'authorized_keys'), readFileSync(`${clientKey}.pub`));
  const port = await freePort();
  writeFileSync(
    path.join(etc, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(etc, 'host_key')}`,
      `PidFile ${path.join(etc, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(etc, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'StrictModes no',
      'UsePAM no',
      '',
    ].join('\n'),
  );
  sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(etc, 'sshd_config')], {
    stdio: 'ignore',
  });
  await waitForPort(port);
  knownHosts = path.join(fx.root, 'known_hosts');
  writeFileSync(
    knownHosts,
    execFileSync('ssh-keyscan', ['-p', String(port), '-t', 'ed25519', '127.0.0.1'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }),
  );
  url = `ssh://root@127.0.0.1:${port}${fx.bare}`;
});

afterAll(() => {
  sshd?.kill();
  fx.cleanup();
});

describe('git source over ssh', () => {
  it('clones with the key and the pinned host key', async () => {
    const dir = path.join(fx.root, 'pinned', 'repo');
    const src = createGitSource({
      url,
      dir,
      auth: { sshKeyFile: clientKey, knownHostsFile: knownHosts },
      logger: silentLogger(),
    });
    const rev = await src.sync();
    expect(rev.commit).toBe(git(fx.bare, 'rev-parse', 'main'));
    expect(existsSync(path.join(dir, 'stacks/web/compose.yaml'))).toBe(true);
    expect((await src.sync()).commit).toBe(rev.commit);
  });

  it('accepts a new host key into the data dir when no known_hosts is given', async () => {
    const dir = path.join(fx.root, 'tofu', 'repo');
    const src = createGitSource({
      url,
      dir,
      auth: { sshKeyFile: clientKey },
      logger: silentLogger(),
    });
    await src.sync();
    const hosts = path.join(fx.root, 'tofu', 'known_hosts');
    const port = new URL(url).port;
    // ssh may hash the host names, so ask ssh-keygen rather than reading the file.
    const found = execFileSync('ssh-keygen', ['-F', `[127.0.0.1]:${port}`, '-f', hosts], {
      encoding: 'utf8',
    });
    expect(found).toContain('ssh-ed25519');
    // Later syncs hold the host to the key seen first.
    expect((await src.sync()).commit).toBe(git(fx.bare, 'rev-parse', 'main'));
  });

  it('fails cleanly with a key the server does not know', async () => {
    const dir = path.join(fx.root, 'stranger', 'repo');
    const src = createGitSource({
      url,
      dir,
      auth: { sshKeyFile: strangerKey, knownHostsFile: knownHosts },
      logger: silentLogger(),
    });
    const err = await src.sync().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect(err).toMatchObject({ reason: 'AuthFailed', transient: false });
    expect(existsSync(dir)).toBe(false);
  });

  it('refuses a host whose key does not match known_hosts', async () => {
    const wrongHosts = path.join(fx.root, 'wrong_known_hosts');
    const stranger = readFileSync(`${strangerKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    const port = new URL(url).port;
    writeFileSync(wrongHosts, `[127.0.0.1]:${port} ${stranger}\n`);
    const src = createGitSource({
      url,
      dir: path.join(fx.root, 'mitm', 'repo'),
      auth: { sshKeyFile: clientKey, knownHostsFile: wrongHosts },
      logger: silentLogger(),
    });
    const err = await src.sync().catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'SourceError', reason: 'AuthFailed' });
    expect((err as Error).message).toContain('Host key verification failed');
  });
});
