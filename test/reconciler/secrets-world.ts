import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BerthConfig } from '../../src/config/index.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { diffStacks, type StackDiff } from '../../src/reconciler/diff.js';
import type { Logger } from '../../src/log.js';
import { createApp, stackLoaderFor } from '../../src/main.js';
import { createMetrics } from '../../src/server/metrics.js';
import { createServerApp } from '../../src/server/app.js';
import { lockDataDir } from '../../src/state/lock.js';
import { execIn, testDocker } from '../helpers/docker.js';
import type { Harness } from '../helpers/harness.js';

/** The harness's config with these age key files (and no SOPS default places). */
export function configWithKeys(h: Harness, keyFiles: string[]): BerthConfig {
  return { ...h.config(), secrets: { age: { keyFiles, keys: [], sopsDefaults: false } } };
}

/** Opens berth on the harness with these age key files. */
export async function openWithKeys(
  h: Harness,
  keyFiles: string[],
  logger: Logger,
): Promise<ControlPlane> {
  await h.close();
  const lock = await lockDataDir(h.dataDir, { role: 'cli', command: 'test' }, { waitMs: 10_000 });
  h.lock = lock;
  h.app = await createApp(configWithKeys(h, keyFiles), { logger, lock });
  return h.app.control;
}

/** `berth diff` of the open app, with a loader of its own (as the CLI's reader has). */
export async function diffOf(h: Harness, keyFiles: string[], stack: string): Promise<StackDiff> {
  if (h.app === undefined) throw new Error('berth is not open');
  const config = configWithKeys(h, keyFiles);
  const [diff] = await diffStacks(
    {
      sources: h.app.sources,
      engine: h.app.engine,
      store: h.app.store,
      folders: h.app.folders,
      loadStack: stackLoaderFor(config),
    },
    [stack],
  );
  if (diff === undefined) throw new Error(`no diff for ${stack}`);
  return diff;
}

/** Writes bytes into the harness's working clone. */
export async function writeBytes(h: Harness, relPath: string, bytes: Uint8Array): Promise<void> {
  const file = path.join(h.work, relPath);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
}

/** Runs `sh -c script` in the stack's first container of `service`. */
export async function shellIn(
  h: Harness,
  stack: string,
  service: string,
  script: string,
): Promise<string> {
  const container = (await h.containers(stack)).find((c) => c.service === service);
  if (container === undefined) throw new Error(`${stack} has no ${service} container`);
  return execIn(testDocker().getContainer(container.id), ['sh', '-c', script]);
}

/** Every file below `dir`, but those under the folders `skip`. */
export async function filesUnder(dir: string, skip: readonly string[] = []): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .filter((file) => !skip.some((s) => file === s || file.startsWith(`${s}${path.sep}`)))
    .sort();
}

/** Where any of `needles` appears in the files: `file: needle` lines. */
export async function plaintextIn(files: string[], needles: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const file of files) {
    const bytes = await readFile(file).catch(() => Buffer.alloc(0));
    for (const needle of needles) if (bytes.includes(needle)) found.push(`${file}: ${needle}`);
  }
  return found;
}

const API_TOKEN = 'api-token-for-the-secrets-test';

/** The API's answers about `stacks`, in process, through the real control plane. */
export async function apiAnswers(h: Harness, stacks: string[], logger: Logger): Promise<string> {
  if (h.app === undefined) throw new Error('berth is not open');
  const api = createServerApp({
    control: { ...h.app.control, sources: () => [] },
    metrics: createMetrics(),
    logger,
    config: { listen: '127.0.0.1:0', tokens: [{ name: 't', token: API_TOKEN }], webhooks: {} },
  });
  const paths = ['/api/v1/stacks', '/metrics'];
  for (const stack of stacks)
    paths.push(
      `/api/v1/stacks/${stack}`,
      `/api/v1/stacks/${stack}/deployments`,
      `/api/v1/stacks/${stack}/health`,
    );
  let out = '';
  for (const p of paths) {
    const res = await api.request(p, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    out += `${p} ${res.status}\n${await res.text()}\n`;
  }
  return out;
}
