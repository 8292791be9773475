import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { isRecord, readSecret, unreadable, unreadableSecret } from '../config-files.js';
import type { SourceConfigContext, SourceProblem } from '../types.js';
import type { GitAuthOptions } from './git-env.js';

/** Username sent with a token when none is configured; GitHub, Gitea and GitLab accept it. */
export const DEFAULT_TOKEN_USERNAME = 'x-access-token';

/** https://, http://, ssh://, file:// or scp-like user@host:path. */
const GIT_URL = /^(?:(?:https?|ssh|file):\/\/.+|[\w.-]+@[\w.-]+:.+)$/;

/** `source.git` as written in the config file. */
export const GitConfig = z.strictObject({
  url: z
    .string()
    .regex(GIT_URL, 'expected an https://, http://, ssh://, file:// or user@host:path url'),
  branch: z.string().min(1).optional(),
  /** A glob over tag names; the newest matching semver tag is followed. */
  tag: z.string().min(1).optional(),
  depth: z.number().int().min(0).default(1),
  auth: z
    .strictObject({
      /** Defaults to x-access-token when a token is given (GitHub, Gitea and GitLab accept it). */
      username: z.string().min(1).optional(),
      token: z.string().min(1).optional(),
      tokenFile: z.string().min(1).optional(),
      sshKeyFile: z.string().min(1).optional(),
      knownHostsFile: z.string().min(1).optional(),
    })
    .optional(),
});
export type GitConfig = z.infer<typeof GitConfig>;

/** Credentials as loaded: the token itself, also when it was read from `tokenFile`. */
export type GitAuth = GitAuthOptions;

/** The loaded `source.git`: what a git source is built from. */
export interface GitSettings {
  url: string;
  /** Set unless `tag` is: the branch followed (default main). */
  branch?: string;
  /** A glob over tag names: the newest matching semver tag is followed. */
  tag?: string;
  /** 0 = full history. */
  depth: number;
  auth?: GitAuth;
}

/** Rules across the keys of a raw `source.git`, and the files it names. */
export async function checkGitConfig(
  raw: unknown,
  context: SourceConfigContext,
): Promise<SourceProblem[]> {
  if (!isRecord(raw)) return [];
  return [...checkGitKeys(raw), ...(await checkGitFiles(raw, context))];
}

function checkGitKeys(git: Record<string, unknown>): SourceProblem[] {
  const problems: SourceProblem[] = [];
  if (git.branch !== undefined && git.tag !== undefined)
    problems.push({ path: ['tag'], message: 'branch and tag are mutually exclusive' });
  const url = typeof git.url === 'string' ? git.url : undefined;
  if (url !== undefined && /^[a-z]+:\/\/[^/@]*@/i.test(url) && !/^ssh:\/\/[^/:@]+@/i.test(url))
    problems.push({
      path: ['url'],
      message: 'must not contain credentials: use source.git.auth.token or tokenFile',
    });
  const auth = git.auth;
  if (!isRecord(auth)) return problems;
  if (auth.token !== undefined && auth.tokenFile !== undefined)
    problems.push({
      path: ['auth', 'tokenFile'],
      message: 'token and tokenFile are mutually exclusive',
    });
  if (url === undefined) return problems;
  const http = /^https?:\/\//i.test(url);
  for (const key of ['token', 'tokenFile', 'username'] as const) {
    if (auth[key] !== undefined && !http)
      problems.push({ path: ['auth', key], message: 'only used with http(s) urls' });
  }
  const ssh = /^ssh:\/\//i.test(url) || !/^[a-z]+:\/\//i.test(url);
  for (const key of ['sshKeyFile', 'knownHostsFile'] as const) {
    if (auth[key] !== undefined && !ssh)
      problems.push({ path: ['auth', key], message: 'only used with ssh urls' });
  }
  return problems;
}

/** The token file must hold a token, the ssh files must be readable. */
async function checkGitFiles(
  git: Record<string, unknown>,
  context: SourceConfigContext,
): Promise<SourceProblem[]> {
  const auth = isRecord(git.auth) ? git.auth : {};
  const problems: SourceProblem[] = [];
  for (const key of ['tokenFile', 'sshKeyFile', 'knownHostsFile']) {
    const value = auth[key];
    if (typeof value !== 'string' || value === '') continue;
    const path = ['auth', key];
    const file = context.resolvePath(path, value);
    const problem = key === 'tokenFile' ? await unreadableSecret(file) : await unreadable(file);
    if (problem !== undefined) problems.push({ path, message: problem });
  }
  return problems;
}

/** The parsed `source.git` with the branch defaulted, the token read and the key files resolved. */
export async function normalizeGitConfig(
  value: GitConfig,
  context: SourceConfigContext,
): Promise<GitSettings> {
  const { url, branch, tag, depth, auth } = value;
  const gitAuth: GitAuth = {};
  const secret =
    auth?.token ??
    (auth?.tokenFile === undefined ? undefined : await tokenFrom(auth.tokenFile, context));
  if (secret !== undefined) {
    gitAuth.token = secret;
    gitAuth.username = auth?.username ?? DEFAULT_TOKEN_USERNAME;
  } else if (auth?.username !== undefined) gitAuth.username = auth.username;
  if (auth?.sshKeyFile !== undefined)
    gitAuth.sshKeyFile = context.resolvePath(['auth', 'sshKeyFile'], auth.sshKeyFile);
  if (auth?.knownHostsFile !== undefined)
    gitAuth.knownHostsFile = context.resolvePath(['auth', 'knownHostsFile'], auth.knownHostsFile);
  const git: GitSettings = { url, depth };
  if (tag !== undefined) git.tag = tag;
  else git.branch = branch ?? 'main';
  if (Object.keys(gitAuth).length > 0) git.auth = gitAuth;
  return git;
}

async function tokenFrom(tokenFile: string, context: SourceConfigContext): Promise<string> {
  const read = await readSecret(context.resolvePath(['auth', 'tokenFile'], tokenFile));
  // check() read the same file a moment ago; it can only have gone since.
  if ('problem' in read) {
    const problem = `source.git.auth.tokenFile: ${read.problem}`;
    throw new ConfigError(`invalid configuration (1 problem): ${problem}`, [problem]);
  }
  return read.secret;
}
