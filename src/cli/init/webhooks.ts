import { parseListen, type WebhookProvider } from '../../server/schema.js';

/** The file `berth init` writes the webhook secret to, next to the config. */
export const SECRET_FILE = 'berth-webhook.secret';

/** Git hosts whose name tells which webhook flavour they send. */
const HOSTS: readonly { pattern: RegExp; provider: WebhookProvider }[] = [
  { pattern: /github/i, provider: 'github' },
  { pattern: /gitlab/i, provider: 'gitlab' },
  { pattern: /gitea|forgejo|codeberg/i, provider: 'gitea' },
];

/** The webhook flavours to enable for a repository: its host's, or all three when unknown. */
export function providersFor(url: string): WebhookProvider[] {
  const host = hostOf(url);
  const known = HOSTS.find(({ pattern }) => pattern.test(host));
  return known === undefined ? ['github', 'gitlab', 'gitea'] : [known.provider];
}

/** The host of an URL or of scp-like `user@host:path`; '' when there is none (file://). */
function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return /^(?:[^@/]+@)?([^:/]+):/.exec(url)?.[1] ?? '';
  }
}

/** How to set up each provider's webhook, to print once with the secret. */
export function webhookHelp(providers: readonly WebhookProvider[], listen: string): string[] {
  const address = parseListen(listen);
  const loopback = isLoopback(listen);
  const anyHost = address === undefined || address.host === '0.0.0.0' || address.host === '::';
  const host = loopback || anyHost ? '<this host>' : hostLabel(address.host);
  const base = `http://${host}:${address?.port ?? 7070}`;
  const steps: Record<WebhookProvider, string[]> = {
    github: [
      'GitHub: repository Settings > Webhooks > Add webhook',
      `  Payload URL   ${base}/webhooks/github`,
      '  Content type  application/json',
      '  Secret        the secret above',
      '  Events        Just the push event',
    ],
    gitlab: [
      'GitLab: project Settings > Webhooks > Add new webhook',
      `  URL           ${base}/webhooks/gitlab`,
      '  Secret token  the secret above',
      '  Trigger       Push events (and Tag push events when following a tag)',
    ],
    gitea: [
      'Gitea / Forgejo: repository Settings > Webhooks > Add webhook > Gitea (or Forgejo)',
      `  Target URL    ${base}/webhooks/gitea`,
      '  Method        POST, content type application/json',
      '  Secret        the secret above',
      '  Trigger on    Push events',
    ],
    generic: [
      'Anything else: POST a JSON body to',
      `  ${base}/webhooks/generic with X-Berth-Signature: sha256=<HMAC-SHA256 of the body>`,
    ],
  };
  const lines = providers.flatMap((provider) => steps[provider]);
  if (loopback) {
    lines.push(
      `server.listen is ${listen}: only this host reaches it. Put a reverse proxy (https) in`,
      'front of it, or listen on 0.0.0.0:7070, so the git host can deliver.',
    );
  }
  return lines;
}

/** Whether `listen` accepts connections from this host only. */
export function isLoopback(listen: string): boolean {
  const host = parseListen(listen)?.host;
  return host === 'localhost' || host === '::1' || (host?.startsWith('127.') ?? false);
}

function hostLabel(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
