import { pino, stdSerializers, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

const CENSOR = '[redacted]';

/** Paths pino blanks out wherever they appear in a log record. */
export const REDACT_PATHS = [
  'token',
  'password',
  'secret',
  '*.token',
  '*.password',
  '*.secret',
  '*.tokenFile',
  'auth.*',
  '*.auth.*',
  'headers.authorization',
  'headers.cookie',
  'headers["x-hub-signature-256"]',
  'headers["x-gitea-signature"]',
  'headers["x-gitlab-token"]',
  'headers["x-berth-signature"]',
  '*.headers.authorization',
];

/**
 * Secret values blanked in every line any logger of this process writes, whatever field or
 * message carries them. Process-wide because the logger exists before the config (and its
 * secrets) is read; longest first, so a secret containing another is blanked whole.
 */
let withheld: string[] = [];

/** Adds secret values (tokens, webhook secrets, notification URLs) to what logs never show. */
export function withholdFromLogs(values: readonly string[]): void {
  const forms = values
    .filter((value) => value !== '')
    // A value with quotes or backslashes appears escaped in a JSON line.
    .flatMap((value) => [value, JSON.stringify(value).slice(1, -1)]);
  withheld = [...new Set([...withheld, ...forms])].sort((a, b) => b.length - a.length);
}

function scrub(line: string): string {
  let out = line;
  for (const secret of withheld) if (out.includes(secret)) out = out.split(secret).join(CENSOR);
  return out;
}

export interface LoggerOptions {
  level?: string;
  /** Where records go; stderr by default so stdout stays for command output. */
  destination?: NodeJS.WritableStream;
}

/** Creates the structured logger: fixed messages, fields for the details, secrets redacted. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.BERTH_LOG_LEVEL ?? 'info',
      base: undefined,
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      serializers: { err: stdSerializers.err },
      hooks: { streamWrite: scrub },
    },
    (options.destination ?? process.stderr) as DestinationStream,
  );
}

/** A logger that drops everything, for tests and library callers that do not want logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
