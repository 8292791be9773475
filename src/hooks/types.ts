export type HookPhase = 'pre-deploy' | 'post-deploy';

export interface HookRequest {
  phase: HookPhase;
  /** Script path relative to the stack folder. */
  script: string;
  /** The stack folder: the script's working directory. */
  stackDir: string;
  stack: string;
  version: string;
  commit: string;
  previousVersion?: string;
  /** Post-deploy only: success, failed, rolled-back. */
  result?: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HookResult {
  ok: boolean;
  exitCode: number | null;
  timedOut: boolean;
  /** stdout and stderr interleaved, truncated to a bounded size. */
  output: string;
  durationMs: number;
}

export interface HookRunner {
  run(request: HookRequest): Promise<HookResult>;
}
