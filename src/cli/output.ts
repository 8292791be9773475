/**
 * The CLI's only door to the terminal. Everything else logs through pino.
 * stdout carries the command's result (a table, or one JSON document with --json);
 * stderr carries errors, warnings and the progress line.
 */
import { errorToJson, formatError } from './format.js';

export interface OutputOptions {
  json: boolean;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

export interface Output {
  readonly json: boolean;
  /** The command's result: `doc` as JSON with --json, else the human text. */
  result(doc: unknown, human: () => string): void;
  /** A note for people (stderr); silent with --json, where the document says it. */
  note(text: string): void;
  /** Rewrites the one progress line, only on a terminal and never with --json. */
  progress(text: string): void;
  /** Clears the progress line before other output. */
  endProgress(): void;
  /** An error that ends the command: message on stderr, and an error document with --json. */
  fail(err: unknown): void;
}

export function createOutput(options: OutputOptions): Output {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const showProgress = !options.json && stderr.isTTY === true;
  let progressShown = false;

  function endProgress(): void {
    if (!progressShown) return;
    stderr.write('\r\x1b[K');
    progressShown = false;
  }

  return {
    json: options.json,
    result(doc, human) {
      endProgress();
      if (options.json) stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      else {
        const text = human();
        if (text !== '') stdout.write(text.endsWith('\n') ? text : `${text}\n`);
      }
    },
    note(text) {
      if (options.json) return;
      endProgress();
      stderr.write(`${text}\n`);
    },
    progress(text) {
      if (!showProgress) return;
      const width = Math.max(20, (stderr.columns ?? 80) - 1);
      const line = text.length > width ? `${text.slice(0, width - 1)}…` : text;
      stderr.write(`\r\x1b[K${line}`);
      progressShown = true;
    },
    endProgress,
    fail(err) {
      endProgress();
      stderr.write(`${formatError(err)}\n`);
      if (options.json)
        stdout.write(`${JSON.stringify({ ok: false, error: errorToJson(err) }, null, 2)}\n`);
    },
  };
}
