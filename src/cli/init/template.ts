import YAML from 'yaml';
import { DEFAULT_SCHEDULE } from '../../config/schema.js';
import type { WebhookProvider } from '../../server/schema.js';
import { isLoopback } from './webhooks.js';

export type InitSource =
  { kind: 'git'; url: string; branch: string } | { kind: 'path'; path: string };

/** What `berth init` writes into berth.yaml. */
export interface InitConfig {
  /** The JSON Schema for editors (yaml-language-server); the line is left out when unset. */
  schema?: string;
  source: InitSource;
  paths: string[];
  /** Why these paths: which stack folders were found, or that none were looked for. */
  pathsNote: string;
  dataDir: string;
  listen: string;
  /** Providers whose webhook checks the secret in `secretFile`; none for a path source. */
  webhooks: WebhookProvider[];
  /** Relative to the config file's folder. */
  secretFile: string;
}

/** The commented berth.yaml for `config`. Pure: the caller writes it. */
export function renderConfig(config: InitConfig): string {
  const lines: string[] = [];
  if (config.schema !== undefined) lines.push(`# yaml-language-server: $schema=${config.schema}`);
  lines.push(
    '# berth configuration, written by `berth init`. Check it with `berth validate`.',
    "# Every key, with its default: config.example.yaml in berth's repository. Relative paths",
    "# are resolved against this file's folder; BERTH_* environment variables override keys.",
    '',
    'source:',
    ...sourceLines(config.source),
    '  # Stack folders (one per stack, holding a compose file): globs relative to the',
    `  # ${config.source.kind === 'git' ? "repository's" : "folder's"} root.`,
    ...config.pathsNote.split('\n').map((line) => `  # ${line}`),
    '  paths:',
    ...config.paths.map((glob) => `    - ${scalar(glob)}`),
    '',
    "# berth's state: the clone, the files of each stack's running and last good version,",
    "# berth.db, and the daemon's control socket berth.sock. Keep the path under ~90",
    '# characters: a Unix socket path cannot be longer.',
    `dataDir: ${scalar(config.dataDir)}`,
    '',
    '# When `berth daemon` syncs: a cron expression (five fields, or six with seconds first);',
    '# here every minute, with a little jitter.',
    ...(config.source.kind === 'git'
      ? ['# A webhook syncs at once on a push.']
      : ['# The daemon also watches the folder and syncs when a file changes.']),
    `schedule: ${scalar(DEFAULT_SCHEDULE)}`,
    '',
    ...serverLines(config),
  );
  return `${lines.join('\n')}\n`;
}

function sourceLines(source: InitSource): string[] {
  if (source.kind === 'path') {
    return [
      '  # A folder on this host, used in place: nothing is cloned. Keep it up to date yourself',
      '  # (git pull); the daemon deploys what changes in it.',
      `  path: ${scalar(source.path)}`,
    ];
  }
  return [
    '  # The repository berth clones into <dataDir>/repo and keeps in sync. For a private',
    '  # one add auth: (token, tokenFile or sshKeyFile), see config.example.yaml.',
    '  git:',
    `    url: ${scalar(source.url)}`,
    '    # The branch to follow.',
    `    branch: ${scalar(source.branch)}`,
  ];
}

function serverLines(config: InitConfig): string[] {
  const intro = "# The daemon's HTTP listener: webhooks (/webhooks/<provider>), the API (/api/v1),";
  const listenNote = isLoopback(config.listen)
    ? '  # Loopback only: put a reverse proxy in front, or listen on 0.0.0.0:7070 for all hosts.'
    : '  # host:port; 127.0.0.1:7070 accepts connections from this host only.';
  if (config.webhooks.length === 0) {
    return [
      intro,
      '# /healthz and /metrics. Off while commented out: a path source needs no webhook, as the',
      '# daemon watches the folder.',
      '# server:',
      `#   listen: ${scalar(config.listen)}`,
    ];
  }
  return [
    intro,
    '# /healthz and /metrics.',
    'server:',
    listenNote,
    `  listen: ${scalar(config.listen)}`,
    '  # Push webhooks, each checked against the secret in the file (written by berth init,',
    '  # mode 0600). Keep only the one your git host uses.',
    '  webhooks:',
    ...config.webhooks.flatMap((provider) => [
      `    ${provider}:`,
      `      secretFile: ${scalar(config.secretFile)}`,
    ]),
  ];
}

/** A YAML scalar: plain when that reads back as the same string, else quoted. */
function scalar(value: string): string {
  return YAML.stringify(value, { lineWidth: 0 }).trimEnd();
}
