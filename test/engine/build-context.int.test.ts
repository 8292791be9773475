import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { extract } from 'tar-stream';
import { EngineError } from '../../src/errors.js';
import { ensureImage } from '../../src/engine/images.js';
import { NO_CREDENTIALS } from '../../src/engine/registry-credentials.js';
import { createLogger } from '../../src/log.js';
import type { ServiceConfig } from '../../src/compose/types.js';
import { FIXTURE_IMAGE, testDocker, uniqueName } from '../helpers/docker.js';
import { testScope } from '../helpers/scope.js';
import { service } from './fixtures.js';

const docker = testDocker();
const scope = testScope();
const logger = createLogger({ level: 'silent' });

interface Found {
  type: string;
  linkname?: string;
  content: string;
}

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  scope.defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function write(root: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), text);
  }
}

/** Builds `context` as berth does and returns the image's tag, removed after the test. */
async function build(context: string, dockerfile = 'Dockerfile'): Promise<string> {
  const ref = uniqueName('build');
  scope.defer(() => docker.getImage(ref).remove({ force: true }));
  const svc: ServiceConfig = service('app', {
    image: undefined,
    build: { context, dockerfile, args: {}, pull: false },
  });
  await ensureImage({ docker, credentials: NO_CREDENTIALS, logger, stack: ref, service: svc, ref });
  return ref;
}

/** Everything under `dir` in the image: path -> type, link target and (small) content. */
async function filesIn(image: string, dir: string): Promise<Map<string, Found>> {
  const container = await docker.createContainer({ Image: image, Cmd: ['true'] });
  scope.defer(() => container.remove({ force: true }), { first: true });
  const archive = await container.getArchive({ path: dir });
  const found = new Map<string, Found>();
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
    stream.on('end', () => {
      found.set(header.name.replace(/\/$/, ''), {
        type: header.type ?? 'file',
        ...(header.linkname ? { linkname: header.linkname } : {}),
        content: Buffer.concat(chunks).toString('utf8'),
      });
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    tar.on('finish', resolve);
    tar.on('error', reject);
    archive.pipe(tar);
  });
  return found;
}

describe('build context', () => {
  it('honours .dockerignore as Docker does and sends links as links, never their targets', async () => {
    const outside = await tempDir('berth-build-outside-');
    await writeFile(path.join(outside, 'host-secret.txt'), 'HOST-SECRET-7d1f\n');
    const context = await tempDir('berth-build-ctx-');
    await write(context, {
      Dockerfile: `FROM ${FIXTURE_IMAGE}\nCOPY . /ctx/\n`,
      '.dockerignore': [
        '# comments and blank lines are not patterns',
        '',
        'secret.txt',
        '*.log',
        'cache',
        '!cache/keep.txt',
        '**/*.tmp',
        'Dockerfile',
        '.dockerignore',
      ].join('\n'),
      'app.txt': 'app\n',
      'secret.txt': 'do not send\n',
      'debug.log': 'noise\n',
      'cache/keep.txt': 'kept by an exception\n',
      'cache/other.txt': 'excluded with its dir\n',
      'src/deep/x.tmp': 'tmp\n',
      'src/deep/main.txt': 'main\n',
    });
    await symlink(path.join(outside, 'host-secret.txt'), path.join(context, 'host-link'));
    await symlink('../../etc/hostname', path.join(context, 'src', 'up-link'));
    await symlink('app.txt', path.join(context, 'local-link'));
    await symlink(outside, path.join(context, 'dir-link'));

    const image = await build(context);
    const files = await filesIn(image, '/ctx');
    const names = [...files.keys()].sort();
    expect(names).toEqual(
      [
        'ctx',
        'ctx/app.txt',
        'ctx/cache',
        'ctx/cache/keep.txt',
        'ctx/dir-link',
        'ctx/host-link',
        'ctx/local-link',
        'ctx/src',
        'ctx/src/deep',
        'ctx/src/deep/main.txt',
        'ctx/src/up-link',
      ].sort(),
    );
    // Links keep their targets verbatim; nothing behind them was read into the context.
    expect(files.get('ctx/host-link')).toMatchObject({
      type: 'symlink',
      linkname: path.join(outside, 'host-secret.txt'),
    });
    expect(files.get('ctx/dir-link')).toMatchObject({ type: 'symlink', linkname: outside });
    expect(files.get('ctx/src/up-link')).toMatchObject({
      type: 'symlink',
      linkname: '../../etc/hostname',
    });
    expect(files.get('ctx/local-link')).toMatchObject({ type: 'symlink', linkname: 'app.txt' });
    expect([...files.values()].some((f) => f.content.includes('HOST-SECRET'))).toBe(false);
    expect(files.get('ctx/cache/keep.txt')?.content).toBe('kept by an exception\n');
  });

  it('takes a Dockerfile outside the context, as the docker CLI does', async () => {
    const root = await tempDir('berth-build-ext-');
    await write(root, {
      'docker/app.Dockerfile': `FROM ${FIXTURE_IMAGE}\nCOPY . /ctx/\n`,
      'ctx/hello.txt': 'hello\n',
    });
    const image = await build(path.join(root, 'ctx'), '../docker/app.Dockerfile');
    const files = await filesIn(image, '/ctx');
    expect(files.get('ctx/hello.txt')?.content).toBe('hello\n');
  });

  it('streams a large file instead of reading it whole', async () => {
    const context = await tempDir('berth-build-big-');
    await write(context, {
      Dockerfile: `FROM ${FIXTURE_IMAGE}\nCOPY small.txt /small.txt\n`,
      'small.txt': 'small\n',
    });
    const size = 128 * 1024 * 1024;
    const big = await open(path.join(context, 'big.bin'), 'w');
    const block = Buffer.alloc(1024 * 1024, 0x5a);
    for (let written = 0; written < size; written += block.length) await big.write(block);
    await big.close();

    // Collected before each sample, so garbage the stream left behind does not count.
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const used = (): number => {
      gc();
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    const base = used();
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, used())), 50);
    try {
      await build(context);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, used());
    // Reading the file whole would hold all 128 MiB at once.
    expect(peak - base).toBeLessThan(size / 8);
  });

  it('fails the build naming the service when the Dockerfile is missing', async () => {
    const context = await tempDir('berth-build-missing-');
    await write(context, { 'app.txt': 'x\n' });
    const err = await build(context).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).reason).toBe('ImageBuildFailed');
    expect((err as EngineError).message).toContain('service app');
  });
});
