import { randomBytes } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import dockerignore from '@balena/dockerignore';
import { pack, type Header, type Pack } from 'tar-stream';

/** A build context on its way to the daemon: the tar is written while the daemon reads it. */
export interface BuildContext {
  /** The tar for POST /build; entries are produced as it is read, so memory stays bounded. */
  stream: NodeJS.ReadableStream;
  /** The Dockerfile's path inside the tar, for the build's `dockerfile` parameter. */
  dockerfile: string;
  /** Settles when the tar is complete: undefined, or the error that stopped it. */
  done: Promise<Error | undefined>;
  /** Called when the daemon will not read on (it refused the build): stops producing. */
  stop(): void;
}

interface Matcher {
  ignores(name: string): boolean;
  /** Whether an exception (`!dir/file`) may re-include something below the excluded dir. */
  mayReinclude(dir: string): boolean;
}

type Item =
  | { kind: 'directory'; name: string; info: Stats }
  | { kind: 'file'; name: string; full: string; info: Stats }
  | { kind: 'symlink'; name: string; target: string; info: Stats };

/**
 * Packs `context` the way the docker CLI does for the classic builder: paths matched by its
 * .dockerignore are left out (the Dockerfile and .dockerignore are always sent, the daemon
 * needs them), links are sent as links and never followed, and a Dockerfile outside the
 * context is added under a generated name. File contents are streamed, never read whole.
 */
export async function packBuildContext(
  context: string,
  dockerfile: string,
  onError: (err: Error) => void,
): Promise<BuildContext> {
  const absolute = path.resolve(context, dockerfile);
  const inside = path.relative(context, absolute).split(path.sep).join('/');
  const external = inside.startsWith('../') || inside === '..' || path.isAbsolute(inside);
  const dockerfileName = external ? `.dockerfile.${randomBytes(10).toString('hex')}` : inside;
  const matcher = await readIgnore(context, external ? [] : [inside]);

  const tar = pack();
  let stopped = false;
  const done = (async (): Promise<Error | undefined> => {
    try {
      for await (const item of walk(context, '', matcher)) await addItem(tar, item);
      if (external) {
        await addFile(tar, { name: dockerfileName, info: await stat(absolute), full: absolute });
      }
      tar.finalize();
      return undefined;
    } catch (err) {
      if (stopped) return undefined;
      const error = err instanceof Error ? err : new Error(String(err));
      onError(error);
      tar.destroy(error);
      return error;
    }
  })();
  return {
    // streamx's Readable speaks the Node stream protocol dockerode pipes from, and destroys
    // the request it is piped into when it fails, so a broken context fails the upload.
    stream: tar as unknown as NodeJS.ReadableStream,
    dockerfile: dockerfileName,
    done,
    stop: () => {
      stopped = true;
      tar.destroy();
    },
  };
}

/** The context's .dockerignore, plus the exceptions the docker CLI adds for its build files. */
async function readIgnore(context: string, buildFiles: string[]): Promise<Matcher> {
  let text = '';
  try {
    text = await readFile(path.join(context, '.dockerignore'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const lines = [...text.split(/\r?\n/), ...['.dockerignore', ...buildFiles].map((f) => `!${f}`)];
  // Linux paths are case-sensitive, and so is Docker's matching there. The package is CommonJS
  // typed as an ES module: under NodeNext its callable export is `.default` (it sets both).
  const patterns = dockerignore.default({ ignorecase: false }).add(lines);
  const exceptions = lines
    .map((line) => line.trim())
    .filter((line) => line.startsWith('!'))
    .map((line) => cleanPattern(line.slice(1).trim()))
    .filter((line) => line !== '');
  return {
    ignores: (name) => patterns.ignores(name),
    // Docker's own test (moby pkg/archive): an exception pattern that starts with the dir.
    mayReinclude: (dir) => exceptions.some((p) => `${p}/`.startsWith(`${dir}/`)),
  };
}

function cleanPattern(pattern: string): string {
  if (pattern === '') return '';
  const clean = path.posix.normalize(pattern).replace(/\/$/, '');
  return clean.length > 1 && clean.startsWith('/') ? clean.slice(1) : clean;
}

/** Entries in Docker's order (lexical, depth first), without following any link. */
async function* walk(dir: string, prefix: string, matcher: Matcher): AsyncGenerator<Item> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const name = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    const full = path.join(dir, entry.name);
    const ignored = matcher.ignores(name);
    if (entry.isDirectory()) {
      if (!ignored) yield { kind: 'directory', name, info: await lstat(full) };
      // An excluded dir is still entered when an exception may re-include a file in it.
      if (!ignored || matcher.mayReinclude(name)) yield* walk(full, name, matcher);
    } else if (ignored) {
      continue;
    } else if (entry.isSymbolicLink()) {
      yield { kind: 'symlink', name, target: await readlink(full), info: await lstat(full) };
    } else if (entry.isFile()) {
      yield { kind: 'file', name, full, info: await lstat(full) };
    }
    // Sockets, FIFOs and devices have no content a build can use; Docker skips sockets too.
  }
}

type EntryHeader = Partial<Header> & Pick<Header, 'name'>;

function header(name: string, info: Stats): EntryHeader {
  return { name, mode: info.mode & 0o7777, mtime: info.mtime, uid: 0, gid: 0 };
}

async function addItem(tar: Pack, item: Item): Promise<void> {
  if (item.kind === 'file') return addFile(tar, item);
  const extra: Partial<Header> =
    item.kind === 'symlink'
      ? { type: 'symlink', linkname: item.target }
      : { type: 'directory', name: `${item.name}/` };
  await new Promise<void>((resolve, reject) => {
    tar.entry({ ...header(item.name, item.info), ...extra }, (err) =>
      err ? reject(err) : resolve(),
    );
  });
}

/** Pipes the file into its entry: the tar pulls it chunk by chunk as the daemon reads. */
function addFile(tar: Pack, file: { name: string; full: string; info: Stats }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const entry = tar.entry(
      { ...header(file.name, file.info), type: 'file', size: file.info.size },
      (err) => (err ? reject(new Error(`${file.name}: ${err.message}`)) : resolve()),
    );
    const source = createReadStream(file.full);
    source.once('error', (err) => {
      entry.destroy(err);
      reject(new Error(`${file.name}: ${err.message}`));
    });
    source.pipe(entry);
  });
}
