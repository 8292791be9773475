import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * The largest compose, env or deploy settings file berth reads. Real ones are a few KiB; the
 * cap keeps a hostile repository from making berth read a huge file into memory.
 */
export const MAX_INPUT_FILE_BYTES = 1024 * 1024;

/** "1 MiB (1048576 bytes)": how the cap is named in errors. */
export function describeCap(cap: number = MAX_INPUT_FILE_BYTES): string {
  return cap % (1024 * 1024) === 0 ? `${cap / (1024 * 1024)} MiB (${cap} bytes)` : `${cap} bytes`;
}

/** Non-blocking, so opening a named pipe returns at once (and is refused) instead of waiting. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/**
 * Builds the error for a refused file (too large, or not a regular file): the caller turns the
 * detail into its own typed error, with its reason and place.
 */
export type RefuseFile = (detail: string, tooLarge: boolean) => Error;

function tooLarge(what: string, file: string, size: number, cap: number): string {
  return `${what} ${file} is too large: ${size} bytes, the limit is ${describeCap(cap)}`;
}

/**
 * Reads a text file of at most `cap` bytes. The size is checked on the open file before any
 * content is read, and reading stops past the cap in case the file grows meanwhile. Only
 * regular files: a device or a pipe has no size to check. Errors of the file system (ENOENT,
 * ...) are thrown as they are.
 */
export function readBoundedFileSync(
  file: string,
  what: string,
  refuse: RefuseFile,
  cap: number = MAX_INPUT_FILE_BYTES,
): string {
  const fd = openSync(file, OPEN_FLAGS);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw refuse(`${what} ${file} is not a regular file`, false);
    if (stats.size > cap) throw refuse(tooLarge(what, file, stats.size, cap), true);
    const buffer = Buffer.alloc(Math.min(stats.size, cap) + 1);
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length > cap) throw refuse(tooLarge(what, file, length, cap), true);
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** readBoundedFileSync without blocking. */
export async function readBoundedFile(
  file: string,
  what: string,
  refuse: RefuseFile,
  cap: number = MAX_INPUT_FILE_BYTES,
): Promise<string> {
  const handle = await open(file, OPEN_FLAGS);
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw refuse(`${what} ${file} is not a regular file`, false);
    if (stats.size > cap) throw refuse(tooLarge(what, file, stats.size, cap), true);
    const buffer = Buffer.alloc(Math.min(stats.size, cap) + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > cap) throw refuse(tooLarge(what, file, length, cap), true);
      if (length === buffer.length) break;
    }
    return buffer.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}
