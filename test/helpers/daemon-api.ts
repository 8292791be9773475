import type { SourceView } from '../../src/server/control.js';
import type { StackRecord } from '../../src/state/types.js';
import { sign } from './daemon-process.js';

/** A running daemon's HTTP API as a test reads it: sources, stacks, metrics, webhooks. */
export class DaemonApi {
  constructor(
    private readonly base: string,
    private readonly token: string,
    private readonly webhookSecret: string,
  ) {}

  private async get<T>(route: string): Promise<T> {
    const res = await fetch(`${this.base}${route}`, {
      headers: { authorization: `Bearer ${this.token}` },
    });
    if (!res.ok) throw new Error(`GET ${route}: ${res.status}`);
    return (await res.json()) as T;
  }

  /** `GET /api/v1/sources` by name. */
  async sources(): Promise<Record<string, SourceView>> {
    const body = await this.get<{ sources: SourceView[] }>('/api/v1/sources');
    return Object.fromEntries(body.sources.map((s) => [s.name, s]));
  }

  /** `GET /api/v1/stacks` by name. */
  async stacks(): Promise<Record<string, StackRecord>> {
    const body = await this.get<{ stacks: StackRecord[] }>('/api/v1/stacks');
    return Object.fromEntries(body.stacks.map((s) => [s.name, s]));
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.base}/metrics`)).text();
  }

  /** A signed push to the generic webhook; returns status and body. */
  async push(payload: unknown): Promise<{ status: number; body: unknown }> {
    const body = JSON.stringify(payload);
    const res = await fetch(`${this.base}/webhooks/generic`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-berth-signature': sign(this.webhookSecret, body),
      },
    });
    return { status: res.status, body: await res.json() };
  }
}
