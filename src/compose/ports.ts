import type { PortConfig } from './types.js';

type Protocol = PortConfig['protocol'];
const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

function parseRange(text: string): [number, number] | undefined {
  const match = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (match === null) return undefined;
  const start = Number(match[1]);
  const end = match[2] === undefined ? start : Number(match[2]);
  if (start < 1 || end > 65535 || end < start) return undefined;
  return [start, end];
}

function splitHostIp(spec: string): { hostIp?: string; rest: string } {
  if (spec.startsWith('[')) {
    const close = spec.indexOf(']');
    if (close > 0 && spec[close + 1] === ':')
      return { hostIp: spec.slice(1, close), rest: spec.slice(close + 2) };
    return { rest: spec };
  }
  const parts = spec.split(':');
  if (parts.length === 3) return { hostIp: parts[0] ?? '', rest: `${parts[1]}:${parts[2]}` };
  return { rest: spec };
}

/**
 * Expands the short port syntax ("80", "8080:80", "127.0.0.1:8080:80/udp", "8000-8002:8000-8002",
 * "127.0.0.1::80") into one PortConfig per container port. Returns an error text when invalid.
 */
export function parseShortPort(spec: string | number): PortConfig[] | string {
  const text = String(spec).trim();
  let protocol: Protocol = 'tcp';
  let body = text;
  const slash = text.lastIndexOf('/');
  if (slash >= 0) {
    const proto = text.slice(slash + 1);
    if (!PROTOCOLS.has(proto)) return `invalid port "${text}": unknown protocol "${proto}"`;
    protocol = proto as Protocol;
    body = text.slice(0, slash);
  }
  const { hostIp, rest } = splitHostIp(body);
  const parts = rest.split(':');
  if (parts.length > 2) return `invalid port "${text}"`;
  const targetText = parts.length === 2 ? parts[1] : parts[0];
  const publishedText = parts.length === 2 ? parts[0] : undefined;
  const target = parseRange(targetText ?? '');
  if (target === undefined) return `invalid port "${text}": bad container port`;
  let published: [number, number] | undefined;
  if (publishedText !== undefined && publishedText !== '') {
    published = parseRange(publishedText);
    if (published === undefined) return `invalid port "${text}": bad host port`;
  }
  const count = target[1] - target[0] + 1;
  if (published !== undefined && published[1] - published[0] + 1 !== count)
    return `invalid port "${text}": host and container port ranges differ in size`;
  const out: PortConfig[] = [];
  for (let i = 0; i < count; i++) {
    const port: PortConfig = { target: target[0] + i, protocol };
    if (published !== undefined) port.published = published[0] + i;
    if (hostIp !== undefined && hostIp !== '') port.hostIp = hostIp;
    out.push(port);
  }
  return out;
}

/** Parses an expose entry ("3000", "3000/udp", "3000-3002") into "port/protocol" strings. */
export function parseExpose(spec: string | number): string[] | string {
  const text = String(spec).trim();
  const [range = '', proto = 'tcp'] = text.split('/');
  if (!PROTOCOLS.has(proto)) return `invalid expose "${text}": unknown protocol "${proto}"`;
  const ports = parseRange(range);
  if (ports === undefined) return `invalid expose "${text}"`;
  const out: string[] = [];
  for (let port = ports[0]; port <= ports[1]; port++) out.push(`${port}/${proto}`);
  return out;
}
