/**
 * Local mode's S3: raw messages as files, `DATA_DIR/emails/<messageId>`, addressed by the same
 * `{ bucket, key }` pair the SES notification carries (`key = emails/<messageId>`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";
import { MessageNotFoundError } from "../../core/errors";
import type { MessageLocation, MessageStore, StoredMessage } from "../../core/ports";
import { isNotFound, removeFile, SYNC_WRITE_MAX_BYTES, writeFileDurably } from "./durable-file";

/** The key prefix SES's S3 action writes under (the receipt rule's `objectKeyPrefix`). */
export const EMAIL_KEY_PREFIX = "emails/";

/**
 * A key is a relative path of plain segments. Anything else (`..`, absolute paths, backslashes, NUL)
 * is refused: a crafted decision must never make the forwarder read or delete a file outside the store.
 */
const SAFE_KEY = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\/)*[A-Za-z0-9][A-Za-z0-9._-]*$/;

export class UnsafeMessageKeyError extends Error {
  constructor(location: MessageLocation) {
    super(`refusing message location ${JSON.stringify(location)}: not a key of this store`);
    this.name = "UnsafeMessageKeyError";
  }
}

export interface FileMessageStoreOptions {
  /** The data directory; messages live under `<root>/emails/`. */
  readonly root: string;
  /** The bucket name the notifications carry; any other bucket is refused. */
  readonly bucket: string;
}

export class FileMessageStore implements MessageStore {
  readonly root: string;
  readonly bucket: string;
  readonly emailsDir: string;
  private readonly tmpDir: string;

  constructor(options: FileMessageStoreOptions) {
    this.root = path.resolve(options.root);
    this.bucket = options.bucket;
    this.emailsDir = path.join(this.root, EMAIL_KEY_PREFIX);
    this.tmpDir = path.join(this.emailsDir, ".tmp");
  }

  /** Creates the folders and removes half-written files a crash left behind (never acknowledged). */
  async init(): Promise<void> {
    await fs.promises.mkdir(this.tmpDir, { recursive: true });
    for (const name of await fs.promises.readdir(this.tmpDir)) {
      await fs.promises.rm(path.join(this.tmpDir, name), { force: true });
    }
  }

  /** A scratch file for a message still arriving; removed by `init` if a crash left it. */
  spoolPath(messageId: string): string {
    if (!/^[a-z0-9]+$/.test(messageId)) throw new UnsafeMessageKeyError({ bucket: this.bucket, key: messageId });
    return path.join(this.tmpDir, `${messageId}.spool`);
  }

  locationOf(messageId: string): MessageLocation {
    return { bucket: this.bucket, key: `${EMAIL_KEY_PREFIX}${messageId}` };
  }

  /** The file behind a location; throws UnsafeMessageKeyError for a foreign bucket or an unsafe key. */
  pathOf(location: MessageLocation): string {
    if (location.bucket !== this.bucket || !SAFE_KEY.test(location.key) || location.key.split("/").some((s) => s === "." || s === "..")) {
      throw new UnsafeMessageKeyError(location);
    }
    return path.join(this.root, ...location.key.split("/"));
  }

  /** Stores a message's bytes durably (fsynced file and directory) before the SMTP 250 reply. */
  async write(messageId: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<{ location: MessageLocation; size: number }> {
    const location = this.locationOf(messageId);
    const size = await writeFileDurably(this.pathOf(location), chunks, { tmpDir: this.tmpDir });
    return { location, size };
  }

  async open(location: MessageLocation): Promise<StoredMessage> {
    const file = this.pathOf(location);
    let fd: number;
    try {
      fd = fs.openSync(file, "r");
    } catch (error) {
      if (isNotFound(error)) throw new MessageNotFoundError(location, { cause: error });
      throw error;
    }
    let size: number;
    try {
      size = fs.fstatSync(fd).size;
      if (size <= SYNC_WRITE_MAX_BYTES) {
        // Most mail: read whole with one system call (durable-file.ts says why not through the thread pool).
        const bytes = Buffer.allocUnsafe(size);
        let read = 0;
        while (read < size) {
          const got = fs.readSync(fd, bytes, read, size - read, read);
          if (got === 0) break;
          read += got;
        }
        fs.closeSync(fd);
        return { body: Readable.from([bytes.subarray(0, read)], { objectMode: false }), size: read };
      }
    } catch (error) {
      fs.close(fd, () => undefined);
      throw error;
    }
    // The stream owns the descriptor from here on and closes it when it ends or is destroyed. (A plain
    // descriptor, not a FileHandle: cheaper, and this runs for every delivery.)
    return { body: fs.createReadStream(file, { fd, highWaterMark: 1024 * 1024 }), size };
  }

  async delete(location: MessageLocation): Promise<void> {
    await removeFile(this.pathOf(location));
  }
}
