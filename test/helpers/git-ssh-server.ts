import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import path from 'node:path';

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

function isOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await isOpen(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sshd did not listen on ${port}`);
}

/**
 * A real sshd on 127.0.0.1 (its own host key, config and pid, no PAM) that lets in one client
 * key as root, so git over ssh reaches any repository on this machine by its absolute path.
 */
export class GitSshServer {
  private constructor(
    private readonly sshd: ChildProcess,
    readonly port: number,
    /** The private key the server accepts (for `auth.sshKeyFile`). */
    readonly clientKey: string,
    /** known_hosts pinning the server's host key (for `auth.knownHostsFile`). */
    readonly knownHosts: string,
  ) {}

  /** Starts sshd with its files under `dir` (created). */
  static async start(dir: string): Promise<GitSshServer> {
    mkdirSync(dir, { recursive: true });
    mkdirSync('/run/sshd', { recursive: true });
    keygen(path.join(dir, 'host_key'));
    const clientKey = path.join(dir, 'client_key');
    keygen(clientKey);
    writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`));
    const port = await freePort();
    const config = path.join(dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${path.join(dir, 'host_key')}`,
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'StrictModes no',
        'UsePAM no',
        '',
      ].join('\n'),
    );
    const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: 'ignore' });
    await waitForPort(port);
    const knownHosts = path.join(dir, 'known_hosts');
    writeFileSync(
      knownHosts,
      execFileSync('ssh-keyscan', ['-p', String(port), '-t', 'ed25519', '127.0.0.1'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }),
    );
    return new GitSshServer(sshd, port, clientKey, knownHosts);
  }

  /** The ssh URL of a repository on this machine. */
  url(repo: string): string {
    return `ssh://root@127.0.0.1:${this.port}${repo}`;
  }

  /** Stops sshd (by its pid) and waits until its port refuses connections. */
  async stop(): Promise<void> {
    const { pid } = this.sshd;
    if (pid === undefined || this.sshd.exitCode !== null || this.sshd.signalCode !== null) return;
    const exited = new Promise((resolve) => this.sshd.once('exit', resolve));
    process.kill(pid, 'SIGTERM');
    await exited;
    for (let attempt = 0; attempt < 100 && (await isOpen(this.port)); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
