import type Docker from 'dockerode';

interface Modem {
  dial: (options: unknown, callback: unknown) => unknown;
}

/**
 * Counts Engine API requests by wrapping docker-modem's dial, through which every dockerode
 * call goes; the count backs `callCount()` and the no-op guarantee of a second apply.
 */
export function countCalls(docker: Docker): () => number {
  const modem = docker.modem as Modem;
  const dial = modem.dial.bind(modem);
  let count = 0;
  modem.dial = (options: unknown, callback: unknown): unknown => {
    count++;
    return dial(options, callback);
  };
  return () => count;
}
