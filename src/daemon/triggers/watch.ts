import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../../log.js';

export interface FileTrigger {
  close(): Promise<void>;
}

/**
 * Calls `onChange` once things have been quiet for `debounceMs` after a change under `target`
 * (a folder or a file). `ignoreDir` (the data dir, when it sits inside a local source) is
 * berth's own churn and never counts.
 */
export function watchFiles(
  target: string,
  onChange: () => void,
  options: { debounceMs: number; logger: Logger; ignoreDir?: string; what: string },
): FileTrigger {
  let timer: NodeJS.Timeout | undefined;
  const ignored = options.ignoreDir === undefined ? undefined : path.resolve(options.ignoreDir);
  const watcher: FSWatcher = watch(target, {
    ignoreInitial: true,
    ...(ignored === undefined
      ? {}
      : {
          ignored: (file: string) =>
            path.resolve(file) === ignored ||
            path.resolve(file).startsWith(`${ignored}${path.sep}`),
        }),
  });
  watcher.on('all', () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      onChange();
    }, options.debounceMs);
  });
  watcher.on('error', (err) =>
    options.logger.warn({ err, what: options.what }, 'file watcher failed'),
  );
  return {
    async close() {
      if (timer !== undefined) clearTimeout(timer);
      await watcher.close();
    },
  };
}
