/**
 * Zero-downtime benchmark, through the real reconciler path (git repository over file://,
 * berth's engine, store and reconciler, real Docker), as the integration tests wire it:
 *
 *   A web service (`web`, 2 replicas of busybox httpd reached through Docker's DNS as
 *   http://web/, which takes a second to start and exits on SIGTERM) is under continuous HTTP
 *   load from a client container on the stack's network. For each method a new good version
 *   is deployed, then a broken one (its healthcheck never passes). Per case: requests sent,
 *   requests failed, the longest gap without a successful answer and the deploy's duration,
 *   counted in [deploy start, deploy end + 1 s].
 *
 *   npx tsx bench/zero-downtime.ts [--methods simple,blue-green,canary]
 *                                  [--client-network project|external] [--json]
 *
 * Where the client sits: `project` (default) puts it on `<project>_default`, the network berth
 * creates for the stack; `external` makes the stack's default network one the bench creates and
 * the compose file declares `external: true`, as a reverse proxy's shared network would be.
 *
 * Targets: blue-green and canary lose 0 requests with the good version and 0 with the broken
 * one; simple (and blind, when asked for) are reported beside them for comparison.
 * `--json` prints one JSON object as the last stdout line:
 * `{"cases":[{"method","version","sent","failed","max_gap_ms","deploy_ms",…}],"targets_met"}`.
 *
 * The methods run one after another (the machine has 2 cores), each on its own stack, which
 * is taken down before the next method starts. Everything created (stacks, client
 * containers, the temporary repository) is removed at the end, also on error or Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { DeployMethod } from '../src/stack/types.js';
import type { StackOutcome } from '../src/reconciler/types.js';
import { FIXTURE_IMAGE, testDocker } from '../test/helpers/docker.js';
import { Harness } from '../test/helpers/harness.js';

type Method = DeployMethod;
type Version = 'good' | 'broken';

const ALL_METHODS: readonly Method[] = ['blind', 'simple', 'blue-green', 'canary'];
const DEFAULT_METHODS: readonly Method[] = ['simple', 'blue-green', 'canary'];
/** Methods whose target is no lost request; the others are only reported. */
const TARGETED = new Set<Method>(['blue-green', 'canary']);

/** What each version's index.html says, behind a prefix the client recognises as an answer. */
const CONTENT_PREFIX = 'berth-zd-';
const GOOD_LABELS = { initial: 'v1', good: 'v2', broken: 'v3' } as const;

const BASELINE_MS = 2_000;
/** The window counted closes this long after the deploy returned: late failures count too. */
const AFTER_DEPLOY_MS = 1_000;
const TAIL_MS = 2_000;
/** Loose for good versions, so a busy machine never fails the gate of a healthy one. */
const GOOD_HEALTH_TIMEOUT = '20s';
/** Small for broken ones, so a rollback that waits for the timeout keeps the bench short. */
const BROKEN_HEALTH_TIMEOUT = '8s';
/** The load loop stops by itself after this long or this many requests, whatever happens here. */
const CLIENT_MAX_SECONDS = 600;
const CLIENT_MAX_REQUESTS = 200_000;
const LABEL_RUN = 'dev.berth.bench.zero-downtime';

type ClientNetwork = 'external' | 'project';

interface Args {
  methods: Method[];
  clientNetwork: ClientNetwork;
  json: boolean;
  /** Also log the requests around each case's longest gap, to see what it was. */
  verbose: boolean;
}

function parseArgs(argv: string[]): Args {
  const i = argv.indexOf('--methods');
  let methods = [...DEFAULT_METHODS];
  if (i !== -1) {
    const raw = argv[i + 1] ?? '';
    const names = raw
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean);
    const unknown = names.filter((m) => !ALL_METHODS.includes(m));
    if (names.length === 0 || unknown.length > 0) {
      throw new Error(
        `--methods takes a comma-separated list of ${ALL_METHODS.join(', ')}` +
          (unknown.length > 0 ? ` (unknown: ${unknown.join(', ')})` : ''),
      );
    }
    methods = [...new Set(names)];
  }
  const n = argv.indexOf('--client-network');
  const clientNetwork = n === -1 ? 'project' : argv[n + 1];
  if (clientNetwork !== 'external' && clientNetwork !== 'project') {
    throw new Error('--client-network takes external or project');
  }
  return {
    methods,
    clientNetwork,
    json: argv.includes('--json'),
    verbose: argv.includes('--verbose'),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The web service. `$$` is Compose's escape for a literal `$`, so the shell sees `$VERSION`.
 * The trap makes SIGTERM end the container at once (PID 1 ignores it otherwise), the sleep is
 * the app's start-up time. The start period keeps the health probes that run before httpd
 * listens from counting: berth fails a deploy as soon as a container turns unhealthy.
 */
function composeFile(label: string, broken: boolean, externalNetwork?: string): string {
  const script =
    "trap 'exit 0' TERM; mkdir -p /www; " +
    `echo ${CONTENT_PREFIX}$$VERSION > /www/index.html; sleep 1; httpd -f -p 80 -h /www & wait`;
  const health = broken ? 'false' : 'timeout 2 wget -q -O /dev/null http://127.0.0.1/ || exit 1';
  return [
    'services:',
    '  web:',
    `    image: ${FIXTURE_IMAGE}`,
    `    command: ["sh", "-c", ${JSON.stringify(script)}]`,
    '    deploy:',
    '      replicas: 2',
    '    stop_grace_period: 2s',
    '    environment:',
    `      VERSION: "${label}"`,
    '    healthcheck:',
    `      test: ["CMD-SHELL", ${JSON.stringify(health)}]`,
    '      interval: 500ms',
    '      timeout: 3s',
    '      retries: 2',
    '      start_period: 3s',
    ...(externalNetwork === undefined
      ? []
      : ['networks:', '  default:', `    name: ${externalNetwork}`, '    external: true']),
    '',
  ].join('\n');
}

function deployYaml(method: Method, healthTimeout: string): string {
  const lines = [`method: ${method}`, `healthTimeout: ${healthTimeout}`];
  if (method === 'blue-green' || method === 'canary') lines.push('drain: 1s');
  if (method === 'canary') lines.push('canary:', '  batch: 1', '  window: 2s');
  return `${lines.join('\n')}\n`;
}

/** One request of the load client, by the time Docker read its result line. */
interface Sample {
  t: number;
  ok: boolean;
  /** The version label that answered, or why the request failed. */
  detail: string;
}

/** `2025-01-02T03:04:05.123456789Z rest` → ms since the epoch (Date.parse wants 3 digits). */
function parseLogLine(line: string): { t: number; text: string } | undefined {
  const space = line.indexOf(' ');
  if (space === -1) return undefined;
  const stamp = line.slice(0, space).replace(/(\.\d{3})\d*Z$/, '$1Z');
  const t = Date.parse(stamp);
  return Number.isNaN(t) ? undefined : { t, text: line.slice(space + 1) };
}

/**
 * Docker's multiplexed log stream (no TTY): frames of an 8-byte header (stream, 3 zero bytes,
 * big-endian length) and a payload. Lines can span frames, so each stream keeps its remainder.
 */
function demuxLines(onLine: (line: string) => void): (chunk: Buffer) => void {
  let pending = Buffer.alloc(0);
  const partial = new Map<number, string>();
  return (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const stream = pending[0] ?? 1;
      const text = (partial.get(stream) ?? '') + pending.subarray(8, 8 + size).toString('utf8');
      pending = pending.subarray(8 + size);
      const lines = text.split('\n');
      partial.set(stream, lines.pop() ?? '');
      for (const line of lines) onLine(line);
    }
  };
}

/**
 * A container on the stack's network requesting http://web/ in a tight loop. Not a Compose
 * container (no compose labels), so berth neither manages nor removes it. It prints `ok LABEL`
 * or `fail REASON` per request; Docker's log timestamps give each request's completion time.
 */
class LoadClient {
  readonly samples: Sample[] = [];
  private logs: Readable | undefined;

  private constructor(readonly container: Docker.Container) {}

  static async start(
    docker: Docker,
    network: string,
    name: string,
    runLabel: string,
  ): Promise<LoadClient> {
    // Bounded in time and count so it stops by itself even if this process dies. `head -n 1`
    // keeps a multi-line wget error on one result line; a request killed by timeout prints
    // nothing at all.
    const loop = [
      `end=$(( $(date +%s) + ${CLIENT_MAX_SECONDS} )); i=0`,
      `while [ $i -lt ${CLIENT_MAX_REQUESTS} ]; do`,
      '  i=$((i + 1))',
      '  if [ $((i % 20)) -eq 0 ] && [ "$(date +%s)" -ge "$end" ]; then break; fi',
      '  out=$(timeout 5 wget -q -O - http://web/ 2>&1 | head -n 1)',
      '  case "$out" in',
      `    ${CONTENT_PREFIX}*) echo "ok \${out#${CONTENT_PREFIX}}" ;;`,
      '    *) echo "fail ${out:-no answer within 5 s}" ;;',
      '  esac',
      'done',
    ].join('\n');
    const container = await docker.createContainer({
      name,
      Image: FIXTURE_IMAGE,
      Cmd: ['sh', '-c', loop],
      Labels: { [LABEL_RUN]: runLabel },
      HostConfig: { NetworkMode: network },
      NetworkingConfig: { EndpointsConfig: { [network]: {} } },
    });
    const client = new LoadClient(container);
    try {
      await container.start();
      const stream = (await container.logs({
        follow: true,
        stdout: true,
        stderr: true,
        timestamps: true,
      })) as Readable;
      client.logs = stream;
      stream.on(
        'data',
        demuxLines((line) => client.record(line)),
      );
      stream.on('error', () => undefined);
    } catch (err) {
      await client.stop();
      throw err;
    }
    return client;
  }

  private record(line: string): void {
    const parsed = parseLogLine(line);
    if (parsed === undefined) return;
    const match = /^(ok|fail) ?(.*)$/.exec(parsed.text);
    if (match === null) return;
    this.samples.push({ t: parsed.t, ok: match[1] === 'ok', detail: match[2] ?? '' });
  }

  /**
   * Until `streak` requests in a row succeeded: a method without health gate (blind) returns
   * while a replica is still starting, and the baseline must not count its refusals.
   */
  async waitForSteady(streak: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const steady = (): boolean => {
      const last = this.samples.slice(-streak);
      return last.length === streak && last.every((s) => s.ok);
    };
    while (!steady()) {
      if (Date.now() > deadline) {
        const last = this.samples.at(-1)?.detail ?? 'no output';
        throw new Error(
          `the load client got no ${streak} answers in a row within ${timeoutMs} ms (last: ${last})`,
        );
      }
      await sleep(100);
    }
  }

  async stop(): Promise<void> {
    this.logs?.destroy();
    await this.container.remove({ force: true }).catch(() => undefined);
  }
}

interface CaseResult {
  method: Method;
  version: Version;
  sent: number;
  failed: number;
  max_gap_ms: number;
  /** Where the longest gap began, from the deploy's start: tells which step caused it. */
  max_gap_at_ms: number;
  deploy_ms: number;
  /** How berth's deploy ended: deployed, rolled-back, failed… */
  result: string;
  /** Successful answers in the window by the version label that gave them. */
  served: Record<string, number>;
  /** Failure reasons in the window with their counts. */
  failures: Record<string, number>;
  /** What went against expectations (wrong outcome, wrong version serving afterwards). */
  warnings: string[];
}

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

function measure(
  samples: Sample[],
  from: number,
  to: number,
): Pick<CaseResult, 'sent' | 'failed' | 'max_gap_ms' | 'max_gap_at_ms' | 'served' | 'failures'> {
  const inWindow = samples.filter((s) => s.t >= from && s.t <= to);
  const okTimes = inWindow.filter((s) => s.ok).map((s) => s.t);
  let maxGap = 0;
  let maxGapAt = 0;
  let previous = from;
  for (const t of [...okTimes, to]) {
    if (t - previous > maxGap) {
      maxGap = t - previous;
      maxGapAt = previous - from;
    }
    previous = t;
  }
  return {
    sent: inWindow.length,
    failed: inWindow.filter((s) => !s.ok).length,
    max_gap_ms: Math.round(maxGap),
    max_gap_at_ms: Math.round(maxGapAt),
    served: countBy(inWindow.filter((s) => s.ok).map((s) => s.detail)),
    failures: countBy(inWindow.filter((s) => !s.ok).map((s) => s.detail)),
  };
}

function outcomeOf(stack: string, stacks: StackOutcome[]): StackOutcome | undefined {
  return stacks.find((s) => s.stack === stack);
}

/** Thrown when a method cannot run at all (for now: blue-green and canary before they land). */
class MethodUnavailable extends Error {}

interface MethodRun {
  cases: CaseResult[];
  baseline: { rate: number; failed: number };
}

async function runMethod(
  h: Harness,
  docker: Docker,
  method: Method,
  clientNetwork: ClientNetwork,
  verbose: boolean,
  runLabel: string,
  clients: Set<LoadClient>,
  log: (text: string) => void,
): Promise<MethodRun> {
  const stack = h.name(`zd-${method}`);
  let external: string | undefined;
  if (clientNetwork === 'external') {
    external = `${stack}-edge`;
    await docker.createNetwork({
      Name: external,
      Driver: 'bridge',
      Labels: { [LABEL_RUN]: runLabel },
    });
  }
  const network = external ?? `${stack}_default`;
  log(`${method}: deploying ${GOOD_LABELS.initial} as ${stack}, client on ${network}`);
  await h.writeStack(stack, composeFile(GOOD_LABELS.initial, false, external), {
    'deploy.yaml': deployYaml(method, GOOD_HEALTH_TIMEOUT),
  });
  h.commit(`${method} ${GOOD_LABELS.initial}`);
  let first: StackOutcome | undefined;
  try {
    first = outcomeOf(stack, (await h.control.reconcile({ stacks: [stack] })).stacks);
  } catch (err) {
    throw new MethodUnavailable(err instanceof Error ? err.message : String(err));
  }
  if (first?.result !== 'deployed') {
    throw new MethodUnavailable(
      `the first version did not deploy: ${first?.result ?? 'no outcome'}: ${first?.message ?? ''}`,
    );
  }

  const client = await LoadClient.start(
    docker,
    network,
    `bt-zd-client-${method}-${randomBytes(3).toString('hex')}`,
    runLabel,
  );
  clients.add(client);
  try {
    await client.waitForSteady(20, 30_000);
    const baselineFrom = Date.now();
    await sleep(BASELINE_MS);
    const baseline = measure(client.samples, baselineFrom, Date.now());
    const run: MethodRun = {
      cases: [],
      baseline: {
        rate: Math.round((baseline.sent / BASELINE_MS) * 1000),
        failed: baseline.failed,
      },
    };
    log(`${method}: baseline ${run.baseline.rate} req/s, ${baseline.failed} failed`);

    // The good version's hash, once deployed: the broken case must end back on it.
    let goodVersion: string | undefined;
    for (const version of ['good', 'broken'] as const) {
      const label = GOOD_LABELS[version];
      const broken = version === 'broken';
      await h.writeStack(stack, composeFile(label, broken, external), {
        'deploy.yaml': deployYaml(method, broken ? BROKEN_HEALTH_TIMEOUT : GOOD_HEALTH_TIMEOUT),
      });
      h.commit(`${method} ${label} (${version})`);
      log(`${method}: deploying ${label} (${version})`);
      const start = Date.now();
      const pass = await h.control.reconcile({ stacks: [stack] });
      const end = Date.now();
      await sleep(AFTER_DEPLOY_MS + TAIL_MS);
      const outcome = outcomeOf(stack, pass.stacks);
      const result: CaseResult = {
        method,
        version,
        ...measure(client.samples, start, end + AFTER_DEPLOY_MS),
        deploy_ms: end - start,
        result: outcome?.result ?? 'none',
        warnings: [],
      };
      // blind has no health gate: it keeps the broken version, and that is its expected end.
      const keepsBroken = broken && method === 'blind';
      const expected = broken && !keepsBroken ? 'rolled-back' : 'deployed';
      const serving = keepsBroken ? GOOD_LABELS.broken : GOOD_LABELS.good;
      if (result.result !== expected) {
        result.warnings.push(
          `deploy ended ${result.result}, expected ${expected}: ${outcome?.message ?? ''}`,
        );
      }
      // Whatever the deploy did, the good version must be the one answering afterwards: a
      // rollback that leaves the stack down or on the broken version is a failure too.
      const tail = client.samples.filter((s) => s.t > end + AFTER_DEPLOY_MS);
      const tailVersions = [...new Set(tail.filter((s) => s.ok).map((s) => s.detail))];
      const tailFailed = tail.filter((s) => !s.ok).length;
      if (tailVersions.length !== 1 || tailVersions[0] !== serving) {
        result.warnings.push(
          `afterwards served ${tailVersions.join(', ') || 'nothing'}, expected ${serving} only`,
        );
      }
      if (tailFailed > 0) result.warnings.push(`${tailFailed} requests failed afterwards`);
      const recorded = h.store.getStack(stack)?.running?.version;
      if (version === 'good') goodVersion = recorded;
      const want = keepsBroken ? outcome?.version : goodVersion;
      if (recorded !== want) {
        result.warnings.push(
          `berth records ${recorded?.slice(0, 12) ?? 'nothing'} as running, expected ${want?.slice(0, 12) ?? '?'}`,
        );
      }
      const web = (await h.containers(stack)).filter((c) => c.service === 'web');
      if (web.length !== 2 || web.some((c) => c.state !== 'running' || c.version !== want)) {
        result.warnings.push(
          `containers afterwards: ${web.map((c) => `${c.state} ${c.version?.slice(0, 12) ?? '?'}`).join(', ') || 'none'}`,
        );
      }
      for (const w of result.warnings) log(`WARNING ${method} ${version}: ${w}`);
      if (verbose) {
        const gapStart = start + result.max_gap_at_ms;
        const near = client.samples.filter(
          (s) => s.t >= gapStart - 100 && s.t <= gapStart + result.max_gap_ms + 100,
        );
        for (const s of near) {
          log(`  ${s.t - start} ms after deploy start: ${s.ok ? 'ok' : 'fail'} ${s.detail}`);
        }
      }
      log(
        `${method} ${version}: ${result.sent} sent, ${result.failed} failed, max gap ${result.max_gap_ms} ms, deploy ${result.deploy_ms} ms (${result.result})`,
      );
      run.cases.push(result);
    }
    return run;
  } finally {
    await client.stop();
    clients.delete(client);
    // The next method gets the machine to itself.
    await h.engine.down(stack, { volumes: true }).catch(() => undefined);
    if (external !== undefined) {
      await docker
        .getNetwork(external)
        .remove()
        .catch(() => undefined);
    }
  }
}

function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

function table(cases: CaseResult[]): string {
  const rows = [
    ['method', 'version', 'sent', 'failed', 'max gap ms', 'gap at ms', 'deploy ms', 'result'],
    ...cases.map((c) => [
      c.method,
      c.version,
      String(c.sent),
      String(c.failed),
      String(c.max_gap_ms),
      String(c.max_gap_at_ms),
      String(c.deploy_ms),
      c.result,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => r.map((cell, i) => pad(cell, widths[i]!, i >= 2 && i <= 6)).join('  '))
    .join('\n');
}

async function removeClients(docker: Docker, runLabel: string): Promise<void> {
  const left = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL_RUN}=${runLabel}`] },
  });
  await Promise.all(
    left.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}

/** The external networks, once the stacks on them are down. */
async function removeNetworks(docker: Docker, runLabel: string): Promise<void> {
  const left = await docker.listNetworks({ filters: { label: [`${LABEL_RUN}=${runLabel}`] } });
  await Promise.all(
    left.map((n) =>
      docker
        .getNetwork(n.Id)
        .remove()
        .catch(() => undefined),
    ),
  );
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const log = (text: string): void => console.error(text);
  const docker = testDocker();
  const runLabel = randomBytes(4).toString('hex');
  const clients = new Set<LoadClient>();
  let h: Harness | undefined;
  let cleaning: Promise<void> | undefined;
  const clean = (): Promise<void> =>
    (cleaning ??= (async () => {
      await Promise.all([...clients].map((c) => c.stop()));
      await removeClients(docker, runLabel).catch(() => undefined);
      await h?.cleanup();
      await removeNetworks(docker, runLabel).catch(() => undefined);
    })());
  const onSignal = (): void => {
    void clean().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    h = await Harness.create();
    await h.open();
    const cases: CaseResult[] = [];
    const unavailable: { method: Method; error: string }[] = [];
    const baselines: Record<string, { rate: number; failed: number }> = {};
    for (const method of args.methods) {
      try {
        const run = await runMethod(
          h,
          docker,
          method,
          args.clientNetwork,
          args.verbose,
          runLabel,
          clients,
          log,
        );
        cases.push(...run.cases);
        baselines[method] = run.baseline;
      } catch (err) {
        if (!(err instanceof MethodUnavailable)) throw err;
        log(`${method}: cannot run: ${err.message}`);
        unavailable.push({ method, error: err.message });
      }
    }

    const targets = cases
      .filter((c) => TARGETED.has(c.method))
      .map((c) => ({ name: `${c.method} ${c.version}`, failed: c.failed, met: c.failed === 0 }));
    const targetsMet =
      targets.every((t) => t.met) && unavailable.every((u) => !TARGETED.has(u.method));

    console.log(table(cases));
    for (const [method, b] of Object.entries(baselines)) {
      console.log(`${method} baseline (before the deploys): ${b.rate} req/s, ${b.failed} failed`);
    }
    for (const c of cases) {
      for (const w of c.warnings) console.log(`WARNING ${c.method} ${c.version}: ${w}`);
      if (c.failed > 0) {
        const reasons = Object.entries(c.failures)
          .map(([why, n]) => `${n}× ${why}`)
          .join('; ');
        console.log(`${c.method} ${c.version} failures: ${reasons}`);
      }
    }
    for (const u of unavailable) console.log(`${u.method}: not run: ${u.error}`);
    for (const t of targets) {
      console.log(`${t.name}: ${t.failed} failed (target 0) ${t.met ? 'met' : 'NOT met'}`);
    }
    for (const u of unavailable.filter((x) => TARGETED.has(x.method))) {
      console.log(`${u.method}: not run (target 0 failed) NOT met`);
    }
    if (targets.length === 0 && unavailable.length === 0) {
      console.log('no targets among the methods run (only blue-green and canary have one)');
    }
    if (args.json) {
      console.log(
        JSON.stringify({
          cases: cases.map((c) => ({
            method: c.method,
            version: c.version,
            sent: c.sent,
            failed: c.failed,
            max_gap_ms: c.max_gap_ms,
            max_gap_at_ms: c.max_gap_at_ms,
            deploy_ms: c.deploy_ms,
            result: c.result,
            served: c.served,
            failures: c.failures,
            warnings: c.warnings,
          })),
          targets_met: targetsMet,
          client_network: args.clientNetwork,
          ...(unavailable.length === 0 ? {} : { unavailable }),
        }),
      );
    }
    return unavailable.length === 0 ? 0 : 1;
  } finally {
    await clean();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
