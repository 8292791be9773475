import { z } from 'zod';
import { parseBoundedDuration } from '../duration.js';
import { readSecretFile, settleSecretReads } from '../secret-file.js';

export const NOTIFICATION_EVENTS = [
  'deploy-succeeded',
  'deploy-failed',
  'rolled-back',
  'marked-bad',
  'healed',
  'broken',
  // A source could not be synced (once per failure streak), and synced again.
  'source-failed',
  'source-recovered',
] as const;

export const NotificationEventName = z.enum(NOTIFICATION_EVENTS);
export type NotificationEventName = z.infer<typeof NotificationEventName>;

/** Events that report a failure: an identical one is sent once (see createNotifier). */
export const FAILURE_EVENTS: readonly NotificationEventName[] = [
  'deploy-failed',
  'rolled-back',
  'marked-bad',
  'broken',
  'source-failed',
];

const HttpUrl = z.url({ protocol: /^https?$/ });

/** Kept as written (the notifier parses it), but checked and bounded like every duration. */
const Duration = z.union([z.string(), z.number()]).superRefine((value, ctx) => {
  const parsed = parseBoundedDuration(value);
  if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error });
});

const common = {
  url: HttpUrl,
  /** Only these events go to the target; all of them when omitted. */
  events: z.array(NotificationEventName).min(1).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  /** How long one delivery may take; 10s by default. */
  timeout: Duration.optional(),
};

/** Generic JSON webhook: the event as a JSON object. */
export const WebhookTarget = z.strictObject({ type: z.literal('webhook'), ...common });
export type WebhookTarget = z.infer<typeof WebhookTarget>;

/** Slack incoming webhook; Mattermost accepts the same `{text}` payload. */
export const SlackTarget = z.strictObject({
  type: z.union([z.literal('slack'), z.literal('mattermost')]),
  ...common,
});
export type SlackTarget = z.infer<typeof SlackTarget>;

export const DiscordTarget = z.strictObject({ type: z.literal('discord'), ...common });
export type DiscordTarget = z.infer<typeof DiscordTarget>;

/** ntfy: `url` is the server (https://ntfy.sh), the message goes to `url/topic`. */
export const NtfyTarget = z
  .strictObject({
    type: z.literal('ntfy'),
    ...common,
    topic: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'ntfy topics are letters, digits, _ and -'),
    token: z.string().min(1).optional(),
    tokenFile: z.string().min(1).optional(),
  })
  .refine((t) => t.token === undefined || t.tokenFile === undefined, {
    message: 'set at most one of token and tokenFile',
  });
export type NtfyTarget = z.infer<typeof NtfyTarget>;

export const NotifyTarget = z.discriminatedUnion('type', [
  WebhookTarget,
  SlackTarget,
  DiscordTarget,
  NtfyTarget,
]);
export type NotifyTarget = z.infer<typeof NotifyTarget>;

/** Config key `notify`: any number of targets. */
export const NotifyConfig = z.array(NotifyTarget).default([]);
export type NotifyConfig = z.infer<typeof NotifyConfig>;

/** Reads ntfy `tokenFile`s (relative to `baseDir`) so targets carry plain tokens. */
export async function resolveNotifySecrets(
  targets: NotifyConfig,
  options: { baseDir?: string; file?: string } = {},
): Promise<NotifyConfig> {
  return settleSecretReads(
    targets.map(async (target, index) => {
      if (target.type !== 'ntfy' || target.tokenFile === undefined) return target;
      const token = await readSecretFile(target.tokenFile, `notify[${index}].tokenFile`, options);
      const { tokenFile: _dropped, ...rest } = target;
      return { ...rest, token };
    }),
    options.file,
  );
}
