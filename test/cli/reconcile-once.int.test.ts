import { afterEach, describe, expect, it } from 'vitest';
import { NotificationSink, waitFor } from '../helpers/daemon-process.js';
import { Harness, composeFile } from '../helpers/harness.js';
import { runBerth } from './run-cli.js';

describe('berth reconcile --once: the config’s concurrency and notifications', () => {
  let h: Harness | undefined;
  let sink: NotificationSink | undefined;

  afterEach(async () => {
    await sink?.close();
    sink = undefined;
    await h?.cleanup();
    h = undefined;
  });

  it('deploys one stack at a time with concurrency 1 and notifies before it exits', async () => {
    h = await Harness.create();
    sink = await NotificationSink.start();
    const stacks = [h.name('once'), h.name('once')];
    for (const stack of stacks) await h.writeStack(stack, composeFile({ app: {} }));
    h.commit('two stacks');
    const config = await h.writeConfig([
      'concurrency: 1',
      'notify:',
      `  - { type: webhook, url: "${sink.url()}" }`,
    ]);

    const run = await runBerth(['reconcile', '--once', '--config', config]);
    expect(run.code, run.stderr).toBe(0);
    // Delivered before the process ended, not dropped with it.
    expect(
      sink.events
        .filter((e) => e.event === 'deploy-succeeded')
        .map((e) => e.stack)
        .sort(),
    ).toEqual([...stacks].sort());
    const [a, b] = stacks.map((stack) => h!.store.listDeployments(stack)[0]!);
    const [first, second] = [a!, b!].sort(
      (x, y) => Date.parse(x.startedAt) - Date.parse(y.startedAt),
    );
    // Both were queued at once; the second ran only after the first ended.
    const secondStarted = h.store.getJournal(second!.id)[0]!.at;
    expect(Date.parse(secondStarted)).toBeGreaterThanOrEqual(Date.parse(first!.finishedAt!));
    await waitFor(() => sink!.events.length >= 2, 1_000, 'notifications');
  });
});
