import path from 'node:path';

export interface GitAuthOptions {
  /** Sent with the token over http(s); x-access-token when not given. */
  username?: string;
  token?: string;
  sshKeyFile?: string;
  knownHostsFile?: string;
}

/**
 * Inherited variables berth does not pass on: git's own (they could point it at another
 * repository, config or program) apart from TLS settings, and the editor/pager/askpass ones
 * that would make git interactive.
 */
function inherited(key: string): boolean {
  if (/^GIT_(SSL|PROXY_SSL)_/i.test(key)) return true;
  return !/^(GIT_.*|EDITOR|PAGER|PREFIX|SSH_ASKPASS)$/i.test(key);
}

/**
 * The environment for every git process: never prompt, give up on stalled transfers, and
 * carry the credentials. The token travels as an http.extraHeader set through
 * GIT_CONFIG_COUNT, so it is in neither the command line, .git/config nor the remote url.
 */
export function gitEnvironment(
  url: string,
  auth: GitAuthOptions | undefined,
  defaultKnownHosts: string,
  base: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) {
    if (value !== undefined && inherited(key)) env[key] = value;
  }
  env.GIT_TERMINAL_PROMPT = '0';
  env.GCM_INTERACTIVE = 'never';
  env.GIT_HTTP_LOW_SPEED_LIMIT = '1000';
  env.GIT_HTTP_LOW_SPEED_TIME = '60';
  const header = authorizationHeader(auth);
  if (header !== undefined && isHttpUrl(url)) {
    env.GIT_CONFIG_COUNT = '1';
    // Scoped to the remote's origin so a redirect elsewhere does not receive it.
    env.GIT_CONFIG_KEY_0 = `http.${httpOrigin(url)}/.extraHeader`;
    env.GIT_CONFIG_VALUE_0 = header;
  }
  if (isSshUrl(url)) env.GIT_SSH_COMMAND = sshCommand(auth, defaultKnownHosts);
  return env;
}

export function authorizationHeader(auth: GitAuthOptions | undefined): string | undefined {
  if (auth?.token === undefined || auth.token === '') return undefined;
  const user = auth.username ?? 'x-access-token';
  return `Authorization: Basic ${Buffer.from(`${user}:${auth.token}`).toString('base64')}`;
}

/**
 * Without a knownHostsFile the first connection's host key is accepted and kept in
 * `defaultKnownHosts` (inside the data dir); later changes of that key are refused.
 */
export function sshCommand(auth: GitAuthOptions | undefined, defaultKnownHosts: string): string {
  const parts = ['ssh'];
  if (auth?.sshKeyFile) parts.push('-i', shellQuote(auth.sshKeyFile), '-o', 'IdentitiesOnly=yes');
  parts.push(
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=30',
    '-o',
    'ServerAliveInterval=15',
    '-o',
    `UserKnownHostsFile=${shellQuote(auth?.knownHostsFile ?? defaultKnownHosts)}`,
    '-o',
    `StrictHostKeyChecking=${auth?.knownHostsFile ? 'yes' : 'accept-new'}`,
  );
  return parts.join(' ');
}

/** Removes the secrets of `auth` and any `user:pass@` from text that may reach a log. */
export function createScrubber(auth: GitAuthOptions | undefined): (text: string) => string {
  const secrets: string[] = [];
  if (auth?.token) {
    secrets.push(auth.token, encodeURIComponent(auth.token));
    const header = authorizationHeader(auth);
    if (header) secrets.push(header.slice('Authorization: Basic '.length));
  }
  const ordered = [...new Set(secrets)].sort((a, b) => b.length - a.length);
  return (text: string): string => {
    let result = text
      .replace(/(https?:\/\/)[^/@\s]*@/gi, '$1***@')
      .replace(/([a-z][\w+.-]*:\/\/[^/:@\s]*):[^/@\s]*@/gi, '$1:***@');
    for (const secret of ordered) result = result.split(secret).join('***');
    return result;
  };
}

export function isHttpUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

export function isSshUrl(url: string): boolean {
  return /^ssh:\/\//i.test(url) || /^[\w.-]+@[\w.-]+:/.test(url);
}

function httpOrigin(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}`;
}

function shellQuote(value: string): string {
  return `'${path.normalize(value).replace(/'/g, `'\\''`)}'`;
}
