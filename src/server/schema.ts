import { z } from 'zod';
import {
  MIN_SECRET_LENGTH,
  SECRET_TOO_SHORT,
  readSecretFile,
  settleSecretReads,
  type SecretFileOptions,
} from '../secret-file.js';

/** The webhook endpoints berth serves, one per git host flavour plus a generic HMAC one. */
export const WEBHOOK_PROVIDERS = ['github', 'gitlab', 'gitea', 'generic'] as const;
export type WebhookProvider = (typeof WEBHOOK_PROVIDERS)[number];

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `host:port` or `[ipv6]:port`; undefined when the text is not one. */
export function parseListen(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  if (match === null) return undefined;
  const host = match[1] ?? match[2];
  const port = Number(match[3]);
  if (host === undefined || !Number.isInteger(port) || port > 65_535) return undefined;
  return { host, port };
}

export const ListenString = z.string().refine((text) => parseListen(text) !== undefined, {
  message: 'expected host:port, e.g. 127.0.0.1:7070',
});
export type ListenString = z.infer<typeof ListenString>;

/** A secret written inline or read from a file (`…File`), never both. */
function oneOf(a: string, b: string): (value: Record<string, unknown>) => boolean {
  return (value: Record<string, unknown>): boolean =>
    (value[a] === undefined) !== (value[b] === undefined);
}

/** A secret berth checks requests against: short ones are guessable by brute force. */
const Secret = z.string().min(MIN_SECRET_LENGTH, SECRET_TOO_SHORT);

export const ApiToken = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, ".", "_" and "-" only'),
    token: Secret.optional(),
    tokenFile: z.string().min(1).optional(),
  })
  .refine(oneOf('token', 'tokenFile'), { message: 'set exactly one of token and tokenFile' });
export type ApiToken = z.infer<typeof ApiToken>;

export const WebhookSecret = z
  .strictObject({
    secret: Secret.optional(),
    secretFile: z.string().min(1).optional(),
  })
  .refine(oneOf('secret', 'secretFile'), { message: 'set exactly one of secret and secretFile' });
export type WebhookSecret = z.infer<typeof WebhookSecret>;

export const WebhooksConfig = z.strictObject({
  github: WebhookSecret.optional(),
  gitlab: WebhookSecret.optional(),
  gitea: WebhookSecret.optional(),
  generic: WebhookSecret.optional(),
});
export type WebhooksConfig = z.infer<typeof WebhooksConfig>;

/** Config key `server`. */
export const ServerConfig = z.strictObject({
  listen: ListenString.default('127.0.0.1:7070'),
  tokens: z
    .array(ApiToken)
    .default([])
    .refine((tokens) => new Set(tokens.map((t) => t.name)).size === tokens.length, {
      message: 'token names must be unique',
    }),
  webhooks: WebhooksConfig.default({}),
});
export type ServerConfig = z.infer<typeof ServerConfig>;

/** ServerConfig with every `…File` read: what the HTTP app works with. */
export interface ResolvedServerConfig {
  listen: string;
  tokens: { name: string; token: string }[];
  webhooks: Partial<Record<WebhookProvider, { secret: string }>>;
}

export type ResolveSecretsOptions = SecretFileOptions;

/** Reads `tokenFile` and `secretFile` keys so the app only sees plain secrets. */
export async function resolveServerSecrets(
  config: ServerConfig,
  options: ResolveSecretsOptions = {},
): Promise<ResolvedServerConfig> {
  const checked = { ...options, minLength: MIN_SECRET_LENGTH };
  const read = (secret: string | undefined, file: string | undefined, field: string) =>
    secret !== undefined ? Promise.resolve(secret) : readSecretFile(file ?? '', field, checked);
  const providers = WEBHOOK_PROVIDERS.filter((provider) => config.webhooks[provider] !== undefined);
  const secrets = await settleSecretReads(
    [
      ...config.tokens.map((entry, index) =>
        read(entry.token, entry.tokenFile, `server.tokens[${index}].tokenFile`),
      ),
      ...providers.map((provider) => {
        const entry = config.webhooks[provider];
        return read(entry?.secret, entry?.secretFile, `server.webhooks.${provider}.secretFile`);
      }),
    ],
    options.file,
  );
  const tokens = config.tokens.map((entry, i) => ({ name: entry.name, token: secrets[i]! }));
  const webhooks: ResolvedServerConfig['webhooks'] = {};
  for (const [i, provider] of providers.entries())
    webhooks[provider] = { secret: secrets[tokens.length + i]! };
  return { listen: config.listen, tokens, webhooks };
}
