import type { NotificationEventName, NotifyTarget } from './schema.js';

/** One thing worth telling people about a stack, or about a source (`source-…` events). */
export interface NotificationEvent {
  event: NotificationEventName;
  /** Every event but the `source-…` ones names its stack. */
  stack?: string;
  /** The source (a `sources:` name) the stack comes from, or the one a `source-…` event is about. */
  source?: string;
  version?: string;
  commit?: string;
  /** What happened, in a sentence (the error for failures). */
  message: string;
  deploymentId?: number;
  /** Who asked for the deployment: reconcile, webhook:github, api:ci, ... */
  trigger?: string;
  /** ISO time; the notifier fills it in when missing. */
  at?: string;
}

export type Severity = 'info' | 'warning' | 'error';

interface EventStyle {
  severity: Severity;
  /** ntfy tags (emoji short codes). */
  tag: string;
  /** ntfy priority 1..5. */
  priority: number;
}

const STYLES: Record<NotificationEventName, EventStyle> = {
  'deploy-succeeded': { severity: 'info', tag: 'white_check_mark', priority: 3 },
  'deploy-failed': { severity: 'error', tag: 'x', priority: 4 },
  'rolled-back': { severity: 'warning', tag: 'rewind', priority: 4 },
  'marked-bad': { severity: 'warning', tag: 'no_entry', priority: 4 },
  healed: { severity: 'info', tag: 'green_heart', priority: 3 },
  broken: { severity: 'error', tag: 'rotating_light', priority: 5 },
  'source-failed': { severity: 'error', tag: 'satellite', priority: 4 },
  'source-recovered': { severity: 'info', tag: 'satellite', priority: 3 },
};

const DISCORD_MAX = 2000;

function short(text: string | undefined): string {
  return text === undefined ? '' : text.slice(0, 12);
}

/** A one-line summary, e.g. `web: deploy of 3f2a9c1b04de failed`. */
export function eventTitle(event: NotificationEvent): string {
  const version = event.version === undefined ? '' : ` ${short(event.version)}`;
  const stack = event.stack ?? '?';
  switch (event.event) {
    case 'deploy-succeeded':
      return `${stack}: deployed${version}`;
    case 'deploy-failed':
      return `${stack}: deploy of${version || ' a new version'} failed`;
    case 'rolled-back':
      return `${stack}: rolled back${version ? ` from${version}` : ''}`;
    case 'marked-bad':
      return `${stack}: version${version} marked bad`;
    case 'healed':
      return `${stack}: healthy again`;
    case 'broken':
      return `${stack}: broken`;
    case 'source-failed':
      return `source ${event.source ?? '?'}: sync failed`;
    case 'source-recovered':
      return `source ${event.source ?? '?'}: synced again`;
  }
}

/**
 * The text with the user part of every URL in it left out (`https://user:token@host` →
 * `https://host`): a message quoting a remote must not carry its credentials.
 */
export function withoutUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1');
}

function details(event: NotificationEvent): string {
  const lines = [event.message];
  if (event.commit !== undefined) lines.push(`commit ${short(event.commit)}`);
  if (event.stack !== undefined && event.source !== undefined) lines.push(`source ${event.source}`);
  return lines.join('\n');
}

export interface HttpRequestSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** HTTP header values must be Latin-1; keep titles plain ASCII. */
function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

/** The request one target gets for one event. */
export function buildRequest(target: NotifyTarget, event: NotificationEvent): HttpRequestSpec {
  const style = STYLES[event.event];
  const title = eventTitle(event);
  const custom = target.headers ?? {};
  switch (target.type) {
    case 'webhook':
      return {
        url: target.url,
        headers: { 'content-type': 'application/json', ...custom },
        body: JSON.stringify({
          source: 'berth',
          event: event.event,
          severity: style.severity,
          stack: event.stack,
          // `source` says who sends (berth); this is the `sources:` entry the event is about.
          sourceName: event.source,
          version: event.version,
          commit: event.commit,
          message: event.message,
          title,
          deploymentId: event.deploymentId,
          trigger: event.trigger,
          at: event.at,
        }),
      };
    case 'slack':
    case 'mattermost':
      return {
        url: target.url,
        headers: { 'content-type': 'application/json', ...custom },
        body: JSON.stringify({ text: `*${title}*\n${details(event)}` }),
      };
    case 'discord': {
      const content = `**${title}**\n${details(event)}`;
      return {
        url: target.url,
        headers: { 'content-type': 'application/json', ...custom },
        body: JSON.stringify({
          content: content.length > DISCORD_MAX ? `${content.slice(0, DISCORD_MAX - 1)}…` : content,
        }),
      };
    }
    case 'ntfy': {
      const headers: Record<string, string> = {
        'content-type': 'text/plain; charset=utf-8',
        Title: headerSafe(title),
        Tags: style.tag,
        Priority: String(style.priority),
        ...custom,
      };
      if (target.token !== undefined) headers.Authorization = `Bearer ${target.token}`;
      return {
        url: `${target.url.replace(/\/+$/, '')}/${target.topic}`,
        headers,
        body: details(event),
      };
    }
  }
}
