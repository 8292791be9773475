import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { parseManagedEvent } from '../../src/engine/managed-events.js';
import type { EventSubscription, ManagedContainerEvent } from '../../src/engine/types.js';
import { silentLogger } from '../../src/log.js';
import { FIXTURE_IMAGE, removeProject, testDocker, uniqueName } from '../helpers/docker.js';

/**
 * A unix socket that forwards to the real Docker socket and can cut every open connection,
 * the way a daemon restart or a proxy timeout drops the events stream.
 */
async function cuttableDockerSocket(): Promise<{
  socketPath: string;
  cut: () => void;
  close: () => Promise<void>;
}> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-sock-'));
  const socketPath = path.join(dir, 'docker.sock');
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect('/var/run/docker.sock');
    open.add(client);
    open.add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    cut: () => {
      for (const s of open) s.destroy();
      open.clear();
    },
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function waitFor(check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error('condition not met in time'));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

async function managedContainer(project: string): Promise<Docker.Container> {
  return testDocker().createContainer({
    name: `${project}-web-1`,
    Image: FIXTURE_IMAGE,
    Cmd: ['sleep', '3600'],
    Labels: {
      'com.docker.compose.project': project,
      'com.docker.compose.service': 'web',
      'dev.berth.managed': 'true',
    },
  });
}

describe('engine.watchEvents: one subscription for all managed containers', () => {
  const projects: string[] = [];
  let subscription: EventSubscription | undefined;
  let proxy: Awaited<ReturnType<typeof cuttableDockerSocket>> | undefined;
  afterEach(async () => {
    subscription?.close();
    subscription = undefined;
    await proxy?.close();
    proxy = undefined;
    for (const p of projects.splice(0)) await removeProject(p);
  });

  it('delivers project, service, container and action, and reconnects after the stream drops', async () => {
    proxy = await cuttableDockerSocket();
    const engine = createDockerEngine({
      logger: silentLogger(),
      docker: new Docker({ socketPath: proxy.socketPath }),
    });
    const events: ManagedContainerEvent[] = [];
    const connects: boolean[] = [];
    const drops: number[] = [];
    subscription = await engine.watchEvents((e) => events.push(e), {
      onConnect: ({ reconnect }) => connects.push(reconnect),
      onDisconnect: ({ delayMs }) => drops.push(delayMs),
      minBackoffMs: 50,
      maxBackoffMs: 200,
    });
    const project = uniqueName('events');
    projects.push(project);
    const unmanaged = uniqueName('unmanaged');
    projects.push(unmanaged);
    await testDocker().createContainer({
      name: unmanaged,
      Image: FIXTURE_IMAGE,
      Cmd: ['true'],
      Labels: { 'com.docker.compose.project': unmanaged, 'com.docker.compose.service': 'x' },
    });
    const container = await managedContainer(project);
    await container.start();
    await waitFor(() => events.some((e) => e.project === project && e.action === 'start'));
    const start = events.find((e) => e.project === project && e.action === 'start')!;
    expect(start).toMatchObject({
      project,
      service: 'web',
      containerId: container.id,
      containerName: `${project}-web-1`,
    });
    expect(Math.abs(start.at - Date.now())).toBeLessThan(10_000);
    expect(events.some((e) => e.project === unmanaged)).toBe(false);

    proxy.cut();
    await waitFor(() => connects.length >= 2);
    expect(connects).toEqual([false, true]);
    expect(drops[0]).toBe(50);
    await container.kill();
    await waitFor(() =>
      events.some((e) => e.project === project && e.action === 'die' && e.exitCode === 137),
    );
    await container.remove({ force: true });
    await waitFor(() => events.some((e) => e.project === project && e.action === 'destroy'));
  });

  it('parses only container events of Compose services, skipping exec and one-off runs', () => {
    const attrs = {
      'com.docker.compose.project': 'p',
      'com.docker.compose.service': 's',
      name: 'p-s-1',
      exitCode: '1',
    };
    const line = (over: Record<string, unknown>): string =>
      JSON.stringify({
        Type: 'container',
        Action: 'die',
        timeNano: 1_700_000_000_123_000_000,
        Actor: { ID: 'abc', Attributes: attrs },
        ...over,
      });
    expect(parseManagedEvent(line({}))).toEqual({
      project: 'p',
      service: 's',
      containerId: 'abc',
      containerName: 'p-s-1',
      action: 'die',
      exitCode: 1,
      at: 1_700_000_000_123,
    });
    expect(parseManagedEvent(line({ Action: 'exec_start: sh' }))).toBeUndefined();
    expect(parseManagedEvent(line({ Type: 'network' }))).toBeUndefined();
    expect(
      parseManagedEvent(
        line({
          Actor: { ID: 'abc', Attributes: { ...attrs, 'com.docker.compose.oneoff': 'True' } },
        }),
      ),
    ).toBeUndefined();
    expect(parseManagedEvent('not json')).toBeUndefined();
  });
});
