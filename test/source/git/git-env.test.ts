import { describe, expect, it } from 'vitest';
import { classifyGitFailure } from '../../../src/source/git/git-source.js';
import {
  createScrubber,
  gitEnvironment,
  isSshUrl,
  sshCommand,
} from '../../../src/source/git/git-env.js';

describe('gitEnvironment', () => {
  const base = {
    PATH: '/usr/bin',
    HOME: '/root',
    GIT_DIR: '/elsewhere/.git',
    GIT_SSL_CAINFO: '/etc/ca.pem',
    EDITOR: 'vim',
    GIT_ASKPASS: '/usr/bin/askpass',
  };

  it('never prompts and drops variables that would redirect git', () => {
    const env = gitEnvironment('https://git.example.org/ops/stacks.git', undefined, '/d/kh', base);
    expect(env).toMatchObject({
      PATH: '/usr/bin',
      GIT_TERMINAL_PROMPT: '0',
      GIT_SSL_CAINFO: '/etc/ca.pem',
    });
    expect(env).not.toHaveProperty('GIT_DIR');
    expect(env).not.toHaveProperty('EDITOR');
    expect(env).not.toHaveProperty('GIT_ASKPASS');
    expect(env).not.toHaveProperty('GIT_CONFIG_COUNT');
    expect(env).not.toHaveProperty('GIT_SSH_COMMAND');
  });

  it('sends the token as a basic auth header scoped to the remote origin', () => {
    const env = gitEnvironment(
      'https://git.example.org:8443/ops/stacks.git',
      { token: 's3cret' },
      '/d/kh',
      base,
    );
    expect(env.GIT_CONFIG_COUNT).toBe('1');
    expect(env.GIT_CONFIG_KEY_0).toBe('http.https://git.example.org:8443/.extraHeader');
    const basic = Buffer.from('x-access-token:s3cret').toString('base64');
    expect(env.GIT_CONFIG_VALUE_0).toBe(`Authorization: Basic ${basic}`);
  });

  it('uses the configured username with the token', () => {
    const env = gitEnvironment('http://h/r.git', { token: 't', username: 'ci' }, '/d/kh', base);
    expect(env.GIT_CONFIG_VALUE_0).toBe(
      `Authorization: Basic ${Buffer.from('ci:t').toString('base64')}`,
    );
  });

  it('sets an ssh command for ssh and scp-like urls', () => {
    for (const url of ['ssh://git@h:22/r.git', 'git@github.com:ops/stacks.git']) {
      expect(isSshUrl(url)).toBe(true);
      expect(gitEnvironment(url, undefined, '/d/kh', base).GIT_SSH_COMMAND).toContain(
        'BatchMode=yes',
      );
    }
    expect(isSshUrl('https://h/r.git')).toBe(false);
    expect(isSshUrl('file:///srv/r.git')).toBe(false);
  });
});

describe('sshCommand', () => {
  it('pins the key and the known hosts strictly when both are given', () => {
    const cmd = sshCommand({ sshKeyFile: '/k/id', knownHostsFile: '/k/hosts' }, '/d/kh');
    expect(cmd).toContain("-i '/k/id' -o IdentitiesOnly=yes");
    expect(cmd).toContain("UserKnownHostsFile='/k/hosts'");
    expect(cmd).toContain('StrictHostKeyChecking=yes');
  });

  it('accepts a new host key into the data dir file without known hosts', () => {
    const cmd = sshCommand({ sshKeyFile: "/k/it's" }, '/data/known_hosts');
    expect(cmd).toContain("UserKnownHostsFile='/data/known_hosts'");
    expect(cmd).toContain('StrictHostKeyChecking=accept-new');
    expect(cmd).toContain(`-i '/k/it'\\''s'`);
  });
});

describe('createScrubber', () => {
  it('removes the token, its header form and url credentials', () => {
    const scrub = createScrubber({ token: 'abc123', username: 'me' });
    const basic = Buffer.from('me:abc123').toString('base64');
    const text = `fatal: https://me:abc123@h/r.git failed; header ${basic}; token abc123; ssh://git:pw@h/x`;
    const clean = scrub(text);
    expect(clean).not.toContain('abc123');
    expect(clean).not.toContain(basic);
    expect(clean).not.toContain(':pw@');
    expect(clean).toContain('https://***@h/r.git');
  });

  it('keeps a plain ssh user', () => {
    expect(createScrubber(undefined)('ssh://root@127.0.0.1:22/r')).toBe(
      'ssh://root@127.0.0.1:22/r',
    );
  });
});

describe('classifyGitFailure', () => {
  it.each([
    ["fatal: could not read Username for 'https://h': terminal prompts disabled", 'AuthFailed'],
    ['fatal: Authentication failed for https://h/r.git', 'AuthFailed'],
    ['git@h: Permission denied (publickey).', 'AuthFailed'],
    ['Host key verification failed.', 'AuthFailed'],
    ["fatal: couldn't find remote ref refs/heads/nope", 'RefNotFound'],
    [
      'warning: Could not find remote branch nope to clone.\nfatal: Remote branch nope not found in upstream origin',
      'RefNotFound',
    ],
    ['fatal: unable to access http://127.0.0.1:9/r.git/: Failed to connect', 'FetchFailed'],
    ["fatal: '/gone.git' does not appear to be a git repository", 'FetchFailed'],
  ])('%s -> %s', (text, reason) => {
    expect(classifyGitFailure(text).reason).toBe(reason);
  });
});
