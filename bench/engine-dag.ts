/**
 * The uneven dependency graph of `bench:engine`, and its hand-rolled critical-path floor.
 *
 *   db (healthy after ~4 s) <- api ------------------\
 *   cache, queue <- worker <- web  (all fast)  <------ edge
 *   auth <------------------/
 *
 * A level-by-level walk starts `web` only once `api` is healthy (they sit on different levels
 * of the same walk); a per-service walk starts it within a second and `edge` right after `api`.
 */
import type Docker from 'dockerode';

type Condition = 'service_healthy' | 'service_started';

interface DagService {
  name: string;
  command: string[];
  health?: { test: string[]; intervalMs: number; startPeriodMs?: number };
  dependsOn: Record<string, Condition>;
}

const HTTPD = ['httpd', '-f', '-p', '8080', '-h', '/var/www'];
const WGET = ['CMD-SHELL', 'timeout 2 wget -q -O- http://127.0.0.1:8080/ >/dev/null'];
const FAST = { test: ['CMD', 'true'], intervalMs: 200 };
const WEB = { test: WGET, intervalMs: 250 };

/** The slow database: healthy once its command has written the marker, about 4 s in. */
const DB: DagService = {
  name: 'db',
  command: ['sh', '-c', `sleep 4; touch /tmp/ready; exec ${HTTPD.join(' ')}`],
  // Failing probes before the marker must not count: a start period covers them.
  health: { test: ['CMD', 'test', '-f', '/tmp/ready'], intervalMs: 100, startPeriodMs: 60_000 },
  dependsOn: {},
};

export const DAG: readonly DagService[] = [
  DB,
  { name: 'api', command: HTTPD, health: WEB, dependsOn: { db: 'service_healthy' } },
  { name: 'cache', command: HTTPD, health: FAST, dependsOn: {} },
  { name: 'queue', command: HTTPD, health: FAST, dependsOn: {} },
  { name: 'auth', command: HTTPD, health: FAST, dependsOn: {} },
  {
    name: 'worker',
    command: HTTPD,
    health: WEB,
    dependsOn: { cache: 'service_healthy', queue: 'service_healthy' },
  },
  {
    name: 'web',
    command: HTTPD,
    health: WEB,
    dependsOn: { worker: 'service_healthy', auth: 'service_healthy' },
  },
  {
    name: 'edge',
    command: HTTPD,
    dependsOn: { api: 'service_healthy', web: 'service_healthy' },
  },
];

/** The graph as a compose file both berth and docker-compose 1.29 read (2.4: conditions). */
export function dagComposeYaml(image: string): string {
  const lines = ['version: "2.4"', 'services:'];
  for (const service of DAG) {
    lines.push(
      `  ${service.name}:`,
      `    image: ${image}`,
      `    command: ${JSON.stringify(service.command)}`,
      '    stop_grace_period: 0s',
    );
    const health = service.health;
    if (health !== undefined) {
      lines.push(
        '    healthcheck:',
        `      test: ${JSON.stringify(health.test)}`,
        `      interval: ${health.intervalMs}ms`,
        '      timeout: 2s',
        '      retries: 20',
      );
      if (health.startPeriodMs !== undefined)
        lines.push(`      start_period: ${health.startPeriodMs}ms`);
    }
    const deps = Object.entries(service.dependsOn);
    if (deps.length > 0) {
      lines.push('    depends_on:');
      for (const [dep, condition] of deps)
        lines.push(`      ${dep}:`, `        condition: ${condition}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Health events of one project, followed from before its containers exist. */
interface HealthFeed {
  healthy(id: string): Promise<void>;
  close(): void;
}

async function openHealthFeed(docker: Docker, project: string): Promise<HealthFeed> {
  const stream = await docker.getEvents({
    filters: {
      type: ['container'],
      label: [`com.docker.compose.project=${project}`],
      event: ['health_status'],
    },
  });
  const healthy = new Set<string>();
  const waiters = new Map<string, (() => void)[]>();
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      const event = JSON.parse(line) as { Action?: string; Actor?: { ID?: string } };
      const id = event.Actor?.ID;
      if (event.Action !== 'health_status: healthy' || id === undefined) continue;
      healthy.add(id);
      for (const wake of waiters.get(id) ?? []) wake();
      waiters.delete(id);
    }
  });
  return {
    healthy: (id) =>
      healthy.has(id)
        ? Promise.resolve()
        : new Promise((resolve) => waiters.set(id, [...(waiters.get(id) ?? []), resolve])),
    close: () => (stream as NodeJS.ReadableStream & { destroy: () => void }).destroy(),
  };
}

function createSpec(
  project: string,
  image: string,
  network: string,
  service: DagService,
): Docker.ContainerCreateOptions {
  const health = service.health;
  return {
    name: `${project}-${service.name}-1`,
    Image: image,
    Cmd: service.command,
    Labels: {
      'com.docker.compose.project': project,
      'com.docker.compose.service': service.name,
    },
    ...(health === undefined
      ? {}
      : {
          Healthcheck: {
            Test: health.test,
            Interval: health.intervalMs * 1e6,
            Timeout: 2e9,
            Retries: 20,
            ...(health.startPeriodMs === undefined
              ? {}
              : { StartPeriod: health.startPeriodMs * 1e6 }),
          },
        }),
    StopTimeout: 0,
    HostConfig: { NetworkMode: network },
    NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [service.name] } } },
  };
}

/**
 * The critical-path floor: the network, then every container created at once, each started
 * the moment its own dependencies meet their conditions (health from the events stream).
 * Done when the last container has started, as `up -d` is.
 */
export async function dagFloor(docker: Docker, project: string, image: string): Promise<void> {
  const network = `${project}_default`;
  await docker.createNetwork({
    Name: network,
    Labels: { 'com.docker.compose.project': project },
  });
  const feed = await openHealthFeed(docker, project);
  try {
    const created = new Map(
      DAG.map((s) => [s.name, docker.createContainer(createSpec(project, image, network, s))]),
    );
    const started = new Map<string, Promise<string>>();
    const startOf = (name: string): Promise<string> => {
      let run = started.get(name);
      if (run === undefined) {
        const service = DAG.find((s) => s.name === name)!;
        run = Promise.all(
          Object.entries(service.dependsOn).map(async ([dep, condition]) => {
            const id = await startOf(dep);
            if (condition === 'service_healthy') await feed.healthy(id);
          }),
        ).then(async () => {
          const container = await created.get(name)!;
          await container.start();
          return container.id;
        });
        started.set(name, run);
      }
      return run;
    };
    await withTimeout(Promise.all(DAG.map((s) => startOf(s.name))), 60_000);
  } finally {
    feed.close();
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`dag floor not up within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
