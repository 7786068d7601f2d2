/**
 * Crash-safe file writes for local mode: write to a temporary name, fsync the file, rename it into
 * place, fsync the directory. After `writeFileDurably` resolves, the file is on disk whole under its
 * final name or (if the process died before) not there at all.
 *
 * Plain file descriptors rather than FileHandle objects: this runs several times per message, and a
 * FileHandle costs four times the main-thread time of a descriptor. Concurrent writers in one directory
 * share directory fsyncs (group commit), so ten clients do not mean ten directory syncs per step.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";

const open = promisify(fs.open);
const fsync = promisify(fs.fsync);
const close = promisify(fs.close);
const rename = promisify(fs.rename);
const unlink = promisify(fs.unlink);

/**
 * The `code` of a Node system error. Not `instanceof Error`: errors from Node's core can come from
 * another realm (jest's sandbox, vm contexts), where that test is false.
 */
export function errorCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

/** True for the "no such file" error of a fs call. */
export function isNotFound(error: unknown): boolean {
  return errorCode(error) === "ENOENT";
}

/** Deletes a file; one that is already gone is success. (fs.rm would lstat first: one more system call.) */
export async function removeFile(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

async function syncDirectoryNow(dir: string): Promise<void> {
  const fd = await open(dir, "r");
  try {
    await fsync(fd);
  } catch (error) {
    // Some filesystems (and Windows) refuse fsync on a directory; the rename is still atomic there.
    if (!["EINVAL", "EPERM", "EISDIR", "EBADF"].includes(errorCode(error) ?? "")) throw error;
  } finally {
    await close(fd);
  }
}

/** Per directory: the sync running now, and the one that will start after it (shared by every caller that waits for it). */
const directorySyncs = new Map<string, { running?: Promise<void>; next?: Promise<void> }>();

/**
 * fsyncs a directory so a rename or new entry in it survives a crash. A sync already running may have
 * started before the caller's change, so a caller joins the next sync instead; every caller waiting
 * meanwhile shares that one.
 */
export function fsyncDirectory(dir: string): Promise<void> {
  let state = directorySyncs.get(dir);
  if (!state) directorySyncs.set(dir, (state = {}));
  const entry = state;
  const start = (): Promise<void> => {
    const running = syncDirectoryNow(dir).finally(() => {
      if (entry.running === running) entry.running = undefined;
      if (!entry.running && !entry.next) directorySyncs.delete(dir);
    });
    entry.running = running;
    return running;
  };
  if (!entry.running) return start();
  entry.next ??= entry.running
    .catch(() => undefined)
    .then(() => {
      entry.next = undefined;
      return start();
    });
  return entry.next;
}

/** One write(2) at the current position; resolves with the bytes written (possibly fewer than asked). */
function write(fd: number, buffer: Uint8Array, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buffer, offset, length, null, (error, written) => (error ? reject(error) : resolve(written))));
}

/** Writes every chunk to a descriptor, and returns the number of bytes. */
async function writeAll(fd: number, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const chunk of chunks) {
    let offset = 0;
    while (offset < chunk.length) offset += await write(fd, chunk, offset, chunk.length - offset);
    bytes += chunk.length;
  }
  return bytes;
}

/**
 * Writes `chunks` to a new file `temporary` (which must not exist) and fsyncs it, without making it
 * visible anywhere: the first half of an atomic write, for a caller that names the file only once its
 * content is known (`commitFile` is the second half). On failure nothing is left behind.
 */
export async function writeTemporaryDurably(
  temporary: string,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: { mode?: number } = {},
): Promise<number> {
  const fd = await open(temporary, "wx", options.mode ?? 0o600);
  let bytes: number;
  try {
    bytes = await writeAll(fd, chunks);
    await fsync(fd);
  } catch (error) {
    await close(fd).catch(() => undefined);
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
  await close(fd);
  return bytes;
}

/** Renames a file written by `writeTemporaryDurably` into place and fsyncs the directory it lands in. */
export async function commitFile(temporary: string, target: string): Promise<void> {
  await rename(temporary, target);
  await fsyncDirectory(path.dirname(target));
}

/** A temporary name beside `target` (or in `tmpDir`): hidden, unique, and never ending in a name a reader lists. */
export function temporaryNameFor(target: string, tmpDir = path.dirname(target)): string {
  return path.join(tmpDir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

/**
 * Writes `chunks` to `target` atomically and durably. `tmpDir` must be on the same filesystem as
 * `target` (a sibling folder), so the final rename is atomic.
 */
export async function writeFileDurably(
  target: string,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: { tmpDir?: string; mode?: number } = {},
): Promise<number> {
  const temporary = temporaryNameFor(target, options.tmpDir);
  const bytes = await writeTemporaryDurably(temporary, chunks, options);
  await commitFile(temporary, target);
  return bytes;
}
