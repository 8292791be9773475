import { pino, stdSerializers, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

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
  'headers["x-hub-signature-256"]',
  'headers["x-gitlab-token"]',
];

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
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: stdSerializers.err },
    },
    (options.destination ?? process.stderr) as DestinationStream,
  );
}

/** A logger that drops everything, for tests and library callers that do not want logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
