import type { NotificationEventName, NotifyTarget } from './schema.js';

/** One thing worth telling people about a stack. */
export interface NotificationEvent {
  event: NotificationEventName;
  stack: string;
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
};

const DISCORD_MAX = 2000;

function short(text: string | undefined): string {
  return text === undefined ? '' : text.slice(0, 12);
}

/** A one-line summary, e.g. `web: deploy of 3f2a9c1b04de failed`. */
export function eventTitle(event: NotificationEvent): string {
  const version = event.version === undefined ? '' : ` ${short(event.version)}`;
  switch (event.event) {
    case 'deploy-succeeded':
      return `${event.stack}: deployed${version}`;
    case 'deploy-failed':
      return `${event.stack}: deploy of${version || ' a new version'} failed`;
    case 'rolled-back':
      return `${event.stack}: rolled back${version ? ` from${version}` : ''}`;
    case 'marked-bad':
      return `${event.stack}: version${version} marked bad`;
    case 'healed':
      return `${event.stack}: healthy again`;
    case 'broken':
      return `${event.stack}: broken`;
  }
}

function details(event: NotificationEvent): string {
  const lines = [event.message];
  if (event.commit !== undefined) lines.push(`commit ${short(event.commit)}`);
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
