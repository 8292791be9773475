import path from 'node:path';
import { z } from 'zod';
import { BerthError, ConfigError, UsageError, describeError } from '../errors.js';
import { isReason } from '../reasons.js';
import type { PassResult, SourceResult, StackOutcome } from '../reconciler/types.js';

/**
 * The control socket (`<dataDir>/berth.sock`, mode 0600): how a CLI command reaches the daemon
 * that holds the data dir. HTTP over the Unix socket; each mutating command is one POST whose
 * answer is newline-delimited JSON: progress lines, then one `result` or `error` line. Errors
 * travel as their reason, message and place, so the CLI prints and exits exactly as it would
 * have had it run the command itself.
 */
export const SOCKET_FILE = 'berth.sock';

export function socketPath(dataDir: string): string {
  return path.join(dataDir, SOCKET_FILE);
}

const TriggerBody = z.strictObject({
  by: z.string().min(1),
  ref: z.string().optional(),
  commit: z.string().optional(),
  source: z.string().optional(),
});

const StackName = z.string().min(1).max(200);
const SourceName = z.string().min(1).max(200);

/** The requests, by route. */
export const ControlRequests = {
  reconcile: z.strictObject({
    trigger: TriggerBody,
    dryRun: z.boolean().optional(),
    stacks: z.array(StackName).optional(),
    /** Only these sources (`--source`); the daemon refuses a name it has no source of. */
    sources: z.array(SourceName).min(1).optional(),
  }),
  rollback: z.strictObject({
    trigger: TriggerBody,
    stack: StackName,
    to: z.string().min(1).optional(),
  }),
  down: z.strictObject({ trigger: TriggerBody, stack: StackName }),
  suspend: z.strictObject({ trigger: TriggerBody, stack: StackName }),
  resume: z.strictObject({ trigger: TriggerBody, stack: StackName }),
  unmark: z.strictObject({
    trigger: TriggerBody,
    stack: StackName,
    version: z.string().min(1).optional(),
  }),
} as const;

export type ControlRoute = keyof typeof ControlRequests;
export type ControlRequest<R extends ControlRoute> = z.infer<(typeof ControlRequests)[R]>;

export const ErrorJson = z.object({
  name: z.string(),
  reason: z.string().optional(),
  message: z.string(),
  place: z
    .object({
      file: z.string().optional(),
      stack: z.string().optional(),
      service: z.string().optional(),
      field: z.string().optional(),
    })
    .optional(),
  problems: z.array(z.string()).optional(),
});
export type ErrorJson = z.infer<typeof ErrorJson>;

/** One line of an answer. */
export const ControlLine = z.union([
  z.object({
    progress: z.object({
      stack: z.string().optional(),
      step: z.string(),
      detail: z.string().optional(),
    }),
  }),
  z.object({ result: z.unknown() }),
  z.object({ error: ErrorJson }),
]);
export type ControlLine = z.infer<typeof ControlLine>;

/** The JSON form of an error: what `--json` prints and what crosses the socket. */
export function errorToJson(err: unknown): ErrorJson {
  if (err instanceof ConfigError) {
    return {
      name: err.name,
      reason: err.reason,
      message: describeError(err),
      place: err.place,
      problems: err.problems,
    };
  }
  if (err instanceof BerthError) {
    return { name: err.name, reason: err.reason, message: describeError(err), place: err.place };
  }
  if (err instanceof Error) return { name: err.name, message: describeError(err) };
  return { name: 'Error', message: describeError(err) };
}

/** The error again on the CLI's side, of the class that decides its exit code. */
export function errorFromJson(json: ErrorJson): BerthError {
  if (json.name === 'ConfigError') {
    return new ConfigError(json.message, json.problems ?? [], { file: json.place?.file });
  }
  if (json.reason === 'UsageInvalid')
    return new UsageError(json.message, { stack: json.place?.stack });
  const reason = json.reason !== undefined && isReason(json.reason) ? json.reason : 'InternalError';
  return new BerthError(reason, json.message, { place: json.place ?? {} });
}

type OutcomeJson = Omit<StackOutcome, 'error'> & { error?: ErrorJson };

export function outcomeToJson(outcome: StackOutcome): OutcomeJson {
  const { error, ...rest } = outcome;
  return error === undefined ? rest : { ...rest, error: errorToJson(error) };
}

export function outcomeFromJson(json: OutcomeJson): StackOutcome {
  const { error, ...rest } = json;
  return error === undefined ? rest : { ...rest, error: errorFromJson(error) };
}

type SourceResultJson = Omit<SourceResult, 'error'> & { error?: ErrorJson };

type PassJson = Omit<PassResult, 'stacks' | 'sourceError' | 'sources'> & {
  stacks: OutcomeJson[];
  sourceError?: ErrorJson;
  /** Absent in the answer of a daemon older than several sources. */
  sources?: SourceResultJson[];
};

export function passToJson(result: PassResult): PassJson {
  const { stacks, sourceError, sources, ...rest } = result;
  return {
    ...rest,
    ...(sourceError === undefined ? {} : { sourceError: errorToJson(sourceError) }),
    sources: sources.map(({ error, ...source }) =>
      error === undefined ? source : { ...source, error: errorToJson(error) },
    ),
    stacks: stacks.map(outcomeToJson),
  };
}

export function passFromJson(json: PassJson): PassResult {
  const { stacks, sourceError, sources, ...rest } = json;
  return {
    ...rest,
    ...(sourceError === undefined ? {} : { sourceError: errorFromJson(sourceError) }),
    sources: (sources ?? []).map(({ error, ...source }) =>
      error === undefined ? source : { ...source, error: errorFromJson(error) },
    ),
    stacks: stacks.map(outcomeFromJson),
  };
}

/** The results, as they cross the socket: checked on arrival, field by field where it matters. */
const OutcomeShape = z.looseObject({
  stack: z.string(),
  outcome: z.enum(['done', 'retry-later', 'terminal']),
  result: z.string(),
  message: z.string(),
  error: ErrorJson.optional(),
});
export const ResultShapes = {
  reconcile: z.looseObject({
    ok: z.boolean(),
    plan: z.array(z.unknown()),
    stacks: z.array(OutcomeShape),
  }),
  rollback: OutcomeShape,
  down: OutcomeShape,
  suspend: z.looseObject({ stack: z.string(), suspended: z.boolean(), changed: z.boolean() }),
  resume: z.looseObject({ stack: z.string(), suspended: z.boolean(), changed: z.boolean() }),
  unmark: z.looseObject({ stack: z.string(), cleared: z.number() }),
} as const;
