const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i;
const FACTOR: Record<string, number> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/** Parses a size as Compose does (go-units RAMInBytes: 1024-based, "512m", "1g", "64kb"), or a byte count. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const match = SIZE.exec(value.trim());
  if (match === null) return undefined;
  const factor = FACTOR[(match[2] ?? '').toLowerCase()] ?? 1;
  return Math.floor(Number(match[1]) * factor);
}
