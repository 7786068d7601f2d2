/**
 * Crash-safe file writes for local mode: write to a temporary name, fsync the file, rename it into
 * place, fsync the directory. After `writeFileDurably` resolves, the file is on disk whole under its
 * final name or (if the process died before) not there at all.
 *
 * Which calls block the event loop and which do not, by what they cost (measured on the 2-core machine
 * the bench runs on): every asynchronous fs call is a hand-off to libuv's thread pool and back, about
 * 0.2 ms of main-thread time when the machine is busy, several times the system call itself for an
 * open, a write of a few kilobytes to the page cache, a close, a rename or an unlink, which take
 * microseconds. So those run synchronously, and only what waits for the disk (fsync, fdatasync, an
 * unlink that frees blocks) or moves megabytes (a write past SYNC_WRITE_MAX_BYTES) goes to the thread
 * pool. Concurrent writers in one directory share directory fsyncs (group commit), on a descriptor kept
 * open per directory.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { randomHex } from "./random";

const fsync = promisify(fs.fsync);
const unlink = promisify(fs.unlink);

/**
 * A chunk up to this size is written with a synchronous write(2): it only copies into the page cache,
 * which takes less time than handing it to the thread pool. A larger one (a big message arriving in
 * chunks of the spool, a 40 MB message) is written asynchronously, so the event loop keeps serving
 * other connections while it is copied.
 */
export const SYNC_WRITE_MAX_BYTES = 256 * 1024;

/**
 * Directories whose descriptor is kept open for fsync (the data directory's own folders and the
 * Maildirs delivered to): more than local mode ever syncs, few enough to never matter as descriptors.
 */
export const DIRECTORY_DESCRIPTORS_MAX = 256;

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

/**
 * Deletes a file; one that is already gone is success. (fs.rm would lstat first: one more system call.)
 * Through the thread pool: freeing a file's blocks waits on the filesystem's journal (about a
 * millisecond on ext4 while other writes are being synced, measured), too long to block the event loop.
 */
export async function removeFile(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/**
 * Open descriptors of directories, for fsync, least recently used first. A directory removed and made
 * again while local mode runs would keep the old one's descriptor: local mode makes its folders once
 * per run (as it always has, the Maildirs included) and does not support their removal while it runs.
 */
const directoryDescriptors = new Map<string, number>();

function directoryDescriptor(dir: string): number {
  let fd = directoryDescriptors.get(dir);
  if (fd !== undefined) {
    directoryDescriptors.delete(dir);
    directoryDescriptors.set(dir, fd);
    return fd;
  }
  fd = fs.openSync(dir, "r");
  directoryDescriptors.set(dir, fd);
  if (directoryDescriptors.size > DIRECTORY_DESCRIPTORS_MAX) {
    const [oldest, oldestFd] = directoryDescriptors.entries().next().value as [string, number];
    directoryDescriptors.delete(oldest);
    fs.close(oldestFd, () => undefined);
  }
  return fd;
}

async function syncDirectoryNow(dir: string): Promise<void> {
  const fd = directoryDescriptor(dir);
  try {
    await fsync(fd);
  } catch (error) {
    // Some filesystems (and Windows) refuse fsync on a directory; the rename is still atomic there.
    if (["EINVAL", "EPERM", "EISDIR"].includes(errorCode(error) ?? "")) return;
    // A descriptor that went bad is opened again next time.
    if (directoryDescriptors.get(dir) === fd) {
      directoryDescriptors.delete(dir);
      fs.close(fd, () => undefined);
    }
    if (errorCode(error) === "EBADF") return syncDirectoryNow(dir);
    throw error;
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
function writeAsync(fd: number, buffer: Uint8Array, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.write(fd, buffer, offset, length, null, (error, written) => (error ? reject(error) : resolve(written))),
  );
}

/** Writes every chunk to a descriptor (small ones synchronously, see SYNC_WRITE_MAX_BYTES), and returns the number of bytes. */
async function writeAll(fd: number, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const chunk of chunks) {
    let offset = 0;
    while (offset < chunk.length) {
      const length = chunk.length - offset;
      offset += length <= SYNC_WRITE_MAX_BYTES ? fs.writeSync(fd, chunk, offset, length) : await writeAsync(fd, chunk, offset, length);
    }
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
  const fd = fs.openSync(temporary, "wx", options.mode ?? 0o600);
  let bytes: number;
  try {
    bytes = await writeAll(fd, chunks);
    await fsync(fd);
  } catch (error) {
    fs.close(fd, () => undefined);
    await removeFile(temporary).catch(() => undefined);
    throw error;
  }
  fs.closeSync(fd);
  return bytes;
}

/**
 * Writes `chunks` to a new file `temporary` (which must not exist) without syncing it, and returns its
 * descriptor, still open, for `commitSynced`. On failure nothing is left behind.
 */
export async function writeTemporary(
  temporary: string,
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: { mode?: number } = {},
): Promise<{ fd: number; bytes: number }> {
  const fd = fs.openSync(temporary, "wx", options.mode ?? 0o600);
  try {
    return { fd, bytes: await writeAll(fd, chunks) };
  } catch (error) {
    fs.close(fd, () => undefined);
    await removeFile(temporary).catch(() => undefined);
    throw error;
  }
}

/**
 * Renames a file from `writeTemporary` into place, then fsyncs it and its directory, and closes it.
 * Renamed first, so one journal commit of the filesystem carries the data, the new name and the
 * directory entry, where syncing the file before the rename costs two (measured on ext4: the directory's
 * fsync then finds its change already committed). The file is in place, whole for every reader, before
 * it is durable: after a power cut it may be there short, which a caller that checks for an earlier
 * copy must allow for (compare its size). Until this resolves nobody is told it is stored.
 */
export async function commitSynced(fd: number, temporary: string, target: string): Promise<void> {
  try {
    fs.renameSync(temporary, target);
    await fsync(fd);
  } catch (error) {
    fs.close(fd, () => undefined);
    await removeFile(temporary).catch(() => undefined);
    throw error;
  }
  fs.closeSync(fd);
  await fsyncDirectory(path.dirname(target));
}

/** Renames a file written by `writeTemporaryDurably` into place and fsyncs the directory it lands in. */
export async function commitFile(temporary: string, target: string): Promise<void> {
  fs.renameSync(temporary, target);
  await fsyncDirectory(path.dirname(target));
}

/** A temporary name beside `target` (or in `tmpDir`): hidden, unique, and never ending in a name a reader lists. */
export function temporaryNameFor(target: string, tmpDir = path.dirname(target)): string {
  return path.join(tmpDir, `.${path.basename(target)}.${process.pid}.${randomHex(4)}.tmp`);
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
