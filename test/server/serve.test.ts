import { createServer } from 'node:net';
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createServerApp } from '../../src/server/app.js';
import { createMetrics } from '../../src/server/metrics.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { captureLog } from './capture-log.js';
import { createFakeControl } from './fake-control.js';

const SECRET = 'serve-test-secret-81f2';

function app(bodyLimitBytes = 1024) {
  const control = createFakeControl();
  return {
    control,
    app: createServerApp({
      control,
      metrics: createMetrics(),
      logger: captureLog().logger,
      config: {
        listen: '127.0.0.1:0',
        tokens: [{ name: 'ci', token: 'serve-test-token' }],
        webhooks: { generic: { secret: SECRET } },
      },
      bodyLimitBytes,
    }),
  };
}

describe('startServer', () => {
  let running: RunningServer | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  it('serves the app on a real loopback socket and closes', async () => {
    const { app: a, control } = app();
    running = await startServer(a, '127.0.0.1:0');
    expect(running.port).toBeGreaterThan(0);
    const base = `http://127.0.0.1:${running.port}`;
    const health = await fetch(`${base}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });

    const body = JSON.stringify({ ref: 'refs/heads/main' });
    const sig = createHmac('sha256', SECRET).update(body).digest('hex');
    const hook = await fetch(`${base}/webhooks/generic`, {
      method: 'POST',
      headers: { 'x-berth-signature': `sha256=${sig}`, 'content-type': 'application/json' },
      body,
    });
    expect(hook.status).toBe(202);
    expect(control.calls).toHaveLength(1);

    const big = 'x'.repeat(4096);
    const tooLarge = await fetch(`${base}/webhooks/generic`, {
      method: 'POST',
      headers: {
        'x-berth-signature': `sha256=${createHmac('sha256', SECRET).update(big).digest('hex')}`,
      },
      body: big,
    });
    expect(tooLarge.status).toBe(413);
    expect(control.calls).toHaveLength(1);

    const port = running.port;
    await running.close();
    running = undefined;
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('rejects when the port is taken, and on an invalid address', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      await expect(startServer(app().app, { host: '127.0.0.1', port })).rejects.toMatchObject({
        reason: 'ListenFailed',
      });
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
    await expect(startServer(app().app, 'nonsense')).rejects.toMatchObject({
      reason: 'ConfigInvalid',
    });
  });
});
