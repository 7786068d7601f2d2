/**
 * Crash-safe file writes for local mode: write to a temporary name, fsync the file, rename it into
 * place, fsync the directory. After `writeFileDurably` resolves, the file is on disk whole under its
 * final name or (if the process died before) not there at all.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** fsyncs a directory so a rename or new entry in it survives a crash. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, "r");
  try {
    await handle.sync();
  } catch (error) {
    // Some filesystems (and Windows) refuse fsync on a directory; the rename is still atomic there.
    if (!["EINVAL", "EPERM", "EISDIR", "EBADF"].includes(errorCode(error) ?? "")) throw error;
  } finally {
    await handle.close();
  }
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
  const tmpDir = options.tmpDir ?? path.dirname(target);
  const temporary = path.join(tmpDir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const handle = await fs.promises.open(temporary, "wx", options.mode ?? 0o600);
  let bytes = 0;
  try {
    for await (const chunk of chunks) {
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
        offset += bytesWritten;
      }
      bytes += chunk.length;
    }
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await fs.promises.rename(temporary, target);
  await fsyncDirectory(path.dirname(target));
  return bytes;
}

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
