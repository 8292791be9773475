import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { LABEL, type ContainerEngine } from '../../src/engine/types.js';
import { silentLogger } from '../../src/log.js';
import { FIXTURE_IMAGE, execIn, testDocker } from '../helpers/docker.js';
import { testScope } from '../helpers/scope.js';
import { project, webService } from './fixtures.js';

const docker = testDocker();
const scope = testScope();
const { newProject } = scope;

function engine(): ContainerEngine {
  return createDockerEngine({ logger: silentLogger() });
}

/** A plain container on the network, outside the project, to ask Docker's DNS from. */
async function client(network: string): Promise<Docker.Container> {
  const container = await docker.createContainer({
    Image: FIXTURE_IMAGE,
    Cmd: ['sleep', '3600'],
    HostConfig: { NetworkMode: network },
    StopTimeout: 0,
  });
  scope.defer(() => container.remove({ force: true }), { first: true });
  await container.start();
  return container;
}

/** IPv4 addresses Docker's DNS gives for `name` right now. */
async function resolve(from: Docker.Container, name: string): Promise<string[]> {
  const out = await execIn(from, ['nslookup', name, '127.0.0.11']);
  const answer = out
    .split(/\n\s*\n/)
    .slice(1)
    .join('\n');
  return [...answer.matchAll(/Address(?: \d+)?:\s*([\d.]+)/g)].map((m) => m[1]!).sort();
}

async function ipOf(id: string, network: string): Promise<string> {
  const info = await docker.getContainer(id).inspect();
  return info.NetworkSettings.Networks[network]!.IPAddress;
}

describe('rollout steps', () => {
  it('starts a candidate hidden from the service name, then moves aliases without changing addresses', async () => {
    const name = newProject('steps');
    const e = engine();
    const p = project(name, [webService('web')]);
    await e.apply(p, { labels: { [LABEL.stackVersion]: 'v1' } });
    const net = `${name}_default`;
    const dns = await client(net);
    const [old] = (await e.observe(name)).services.web!.containers;
    const oldIp = await ipOf(old!.id, net);
    expect(await resolve(dns, 'web')).toEqual([oldIp]);

    const candidate = await e.startCandidate(p, {
      service: 'web',
      number: 1,
      name: `${name}-web-1-new-7`,
      serving: false,
      labels: { [LABEL.stackVersion]: 'v2' },
      rolloutId: '7',
    });
    expect(candidate.labels[LABEL.rollout]).toBe('7');
    const newIp = await ipOf(candidate.id, net);
    // Hidden: only its own name answers.
    expect(await resolve(dns, 'web')).toEqual([oldIp]);
    expect(await resolve(dns, `${name}-web-1-new-7`)).toEqual([newIp]);

    // Only the candidate counts for its health wait.
    const report = await e.waitHealthy(p, { containerIds: [candidate.id], timeoutMs: 30_000 });
    expect(report.healthy).toBe(true);
    expect(report.services.map((s) => s.containers.map((c) => c.id))).toEqual([[candidate.id]]);

    await e.setServing(p, candidate.id, true);
    expect(await resolve(dns, 'web')).toEqual([oldIp, newIp].sort());
    await e.setServing(p, old!.id, false);
    expect(await resolve(dns, 'web')).toEqual([newIp]);
    // The reconnects kept both addresses; a second call changes nothing.
    expect(await ipOf(old!.id, net)).toBe(oldIp);
    expect(await ipOf(candidate.id, net)).toBe(newIp);
    await e.setServing(p, old!.id, false);
    expect(await ipOf(old!.id, net)).toBe(oldIp);

    // The probe runs inside the container.
    expect(await e.probe(candidate.id, 'http://127.0.0.1:8080/', 5000)).toMatchObject({
      ok: true,
    });
    const refused = await e.probe(candidate.id, 'http://127.0.0.1:9/', 5000);
    expect(refused.ok).toBe(false);
    expect(refused.detail).toContain('http://127.0.0.1:9/');

    await e.removeContainers(name, [old!.id]);
    await e.renameContainer(candidate.id, `${name}-web-1`);
    expect(await resolve(dns, `${name}-web-1`)).toEqual([newIp]);
    // Converging afterwards finds the renamed candidate as Compose would have made it.
    const plan = await e.plan(p, { labels: { [LABEL.stackVersion]: 'v2' } });
    expect(plan.map((i) => [i.subject, i.action])).toEqual([[`${name}-web-1`, 'unchanged']]);
  });

  it('down keeps a network that a container outside the project still uses', async () => {
    const name = newProject('shared');
    const e = engine();
    const p = project(name, [webService('web')]);
    await e.apply(p);
    const net = `${name}_default`;
    await client(net);
    await e.down(name);
    expect((await e.observe(name)).services).toEqual({});
    expect((await docker.listNetworks({ filters: { name: [net] } })).map((n) => n.Name)).toEqual([
      net,
    ]);
    // The next apply reuses it.
    await e.apply(p);
    expect((await e.observe(name)).services.web?.containers).toHaveLength(1);
  });
});
