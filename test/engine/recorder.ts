import Docker from 'dockerode';

export interface RecordedCall {
  method: string;
  path: string;
}

/** A dockerode client that records every Engine API request berth makes through it. */
export function recordingDocker(): { docker: Docker; calls: RecordedCall[] } {
  const docker = new Docker();
  const calls: RecordedCall[] = [];
  const modem = docker.modem as {
    dial: (opts: { method: string; path: string }, cb: unknown) => unknown;
  };
  const dial = modem.dial.bind(modem);
  modem.dial = (opts, cb) => {
    calls.push({ method: opts.method, path: opts.path });
    return dial(opts, cb);
  };
  return { docker, calls };
}

/** Calls that change containers: create, start, stop, restart, kill, remove. */
export function mutatingCalls(calls: RecordedCall[]): RecordedCall[] {
  return calls.filter(
    (c) =>
      (c.method === 'POST' &&
        /\/containers\/(create|[^/]+\/(start|stop|restart|kill))/.test(c.path)) ||
      (c.method === 'DELETE' && c.path.startsWith('/containers/')),
  );
}
