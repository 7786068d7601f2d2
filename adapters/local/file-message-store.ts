/**
 * Local mode's S3: raw messages as files, `DATA_DIR/emails/<messageId>`, addressed by the same
 * `{ bucket, key }` pair the SES notification carries (`key = emails/<messageId>`).
 *
 * A message is on disk before the SMTP 250 reply in one of two ways:
 * - `write`: its file and folder fsynced (a large message, or when the journal already holds its share
 *   of raw messages);
 * - `writeJournaled` (most mail): its file written but not synced, its bytes journalled with its
 *   notification (queue-journal.ts), both made durable by one fdatasync shared with whatever else is
 *   being journalled. Most mail is delivered and deleted within milliseconds, so its file is never
 *   synced at all (nor its blocks ever allocated, which also makes the deletion cheap); one still here
 *   after RAW_MESSAGE_CHECKPOINT_AGE_MS is synced by `checkpoint` and its bytes leave the journal. After
 *   a crash, `recover` writes again, durably, any file the journal holds the bytes of that did not
 *   survive whole.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";
import { MessageNotFoundError } from "../../core/errors";
import type { MessageLocation, MessageStore, StoredMessage } from "../../core/ports";
import { promisify } from "node:util";
import { fsyncDirectory, isNotFound, removeFile, SYNC_WRITE_MAX_BYTES, writeFileDurably } from "./durable-file";

const fsync = promisify(fs.fsync);

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

/** What the store needs of the journal that keeps raw messages' bytes (queue-journal.ts). */
export interface RawMessageJournal {
  pendingRawMessages(): Promise<ReadonlyArray<{ readonly key: string; readonly bytes: Buffer; readonly since: number }>>;
  /** The journalled bytes of one message, if the journal holds them. */
  pendingRawMessage(key: string): Buffer | undefined;
  pendingRawBytes(): number;
  rawMessageDone(key: string): Promise<void>;
}

export interface FileMessageStoreOptions {
  /** The data directory; messages live under `<root>/emails/`. */
  readonly root: string;
  /** The bucket name the notifications carry; any other bucket is refused. */
  readonly bucket: string;
  /** Where `writeJournaled` messages' bytes are kept until their files are durable; without it, every write is synced. */
  readonly journal?: RawMessageJournal;
  /** Journal at most this many bytes per message (default RAW_MESSAGE_JOURNAL_MAX_BYTES). */
  readonly journalMaxBytes?: number;
  /** Journal at most this many bytes of messages whose files are not durable yet (default RAW_MESSAGE_JOURNAL_PENDING_MAX_BYTES). */
  readonly journalPendingMaxBytes?: number;
}

/**
 * A message up to this size is journalled (`writeJournaled`) rather than synced: most mail (text, HTML,
 * small attachments), and no more than local mode holds in memory while a message arrives anyway. A
 * larger one is synced where it is, rather than copied into the journal.
 */
export const RAW_MESSAGE_JOURNAL_MAX_BYTES = 256 * 1024;

/**
 * At most this many bytes of raw messages wait in the journal (and in memory) for their files to be
 * durable; past it a message is synced where it is. Bounds the journal's size and its replay at start,
 * whatever the backlog.
 */
export const RAW_MESSAGE_JOURNAL_PENDING_MAX_BYTES = 32 * 1024 * 1024;

/**
 * A journalled message still here after this long (kept by a `store` action, parked, waiting for a
 * retry) has its file synced and leaves the journal: long enough that nearly every message is delivered
 * and deleted first, short enough that the journal holds a few seconds of mail at most.
 */
export const RAW_MESSAGE_CHECKPOINT_AGE_MS = 2000;

/** How often journalled messages are looked at for a checkpoint: a fraction of RAW_MESSAGE_CHECKPOINT_AGE_MS. */
export const RAW_MESSAGE_CHECKPOINT_INTERVAL_MS = 1000;

export class FileMessageStore implements MessageStore {
  readonly root: string;
  readonly bucket: string;
  readonly emailsDir: string;
  private readonly tmpDir: string;
  private readonly journal: RawMessageJournal | undefined;
  private readonly journalMaxBytes: number;
  private readonly journalPendingMaxBytes: number;
  private checkpointing: Promise<number> | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;

  constructor(options: FileMessageStoreOptions) {
    this.root = path.resolve(options.root);
    this.bucket = options.bucket;
    this.emailsDir = path.join(this.root, EMAIL_KEY_PREFIX);
    this.tmpDir = path.join(this.emailsDir, ".tmp");
    this.journal = options.journal;
    this.journalMaxBytes = options.journalMaxBytes ?? RAW_MESSAGE_JOURNAL_MAX_BYTES;
    this.journalPendingMaxBytes = options.journalPendingMaxBytes ?? RAW_MESSAGE_JOURNAL_PENDING_MAX_BYTES;
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
  async write(
    messageId: string,
    chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  ): Promise<{ location: MessageLocation; size: number }> {
    const location = this.locationOf(messageId);
    const size = await writeFileDurably(this.pathOf(location), chunks, { tmpDir: this.tmpDir });
    return { location, size };
  }

  /** Whether a message of `size` bytes may be written with `writeJournaled` now. */
  journals(size: number): boolean {
    return (
      this.journal !== undefined && size <= this.journalMaxBytes && this.journal.pendingRawBytes() + size <= this.journalPendingMaxBytes
    );
  }

  /**
   * Writes a message's file without syncing it: the caller journals the same bytes (with the message's
   * notification) before anyone is told the message is stored, and the file is synced later if it is
   * still needed (`checkpoint`). A crash before the journal holds them leaves a file no notification
   * refers to, as a crash before the notification always could.
   */
  async writeJournaled(messageId: string, bytes: Buffer): Promise<{ location: MessageLocation; size: number }> {
    const location = this.locationOf(messageId);
    const fd = fs.openSync(this.pathOf(location), "wx", 0o600);
    try {
      for (let offset = 0; offset < bytes.length;) offset += fs.writeSync(fd, bytes, offset, bytes.length - offset);
    } catch (error) {
      fs.closeSync(fd);
      await removeFile(this.pathOf(location));
      throw error;
    }
    fs.closeSync(fd);
    return { location, size: bytes.length };
  }

  /**
   * Syncs the files of journalled messages older than `olderThanMs` that are still here, then lets the
   * journal forget their bytes. One at a time: a call while another runs waits for it.
   */
  async checkpoint(olderThanMs = RAW_MESSAGE_CHECKPOINT_AGE_MS, options: { repair?: boolean } = {}): Promise<number> {
    const next = (this.checkpointing ?? Promise.resolve(0))
      .catch(() => 0)
      .then(() => this.checkpointNow(olderThanMs, options.repair ?? false));
    this.checkpointing = next;
    try {
      return await next;
    } finally {
      if (this.checkpointing === next) this.checkpointing = undefined;
    }
  }

  private async checkpointNow(olderThanMs: number, repair: boolean): Promise<number> {
    const journal = this.journal;
    if (!journal) return 0;
    const due = (await journal.pendingRawMessages()).filter((raw) => raw.since <= Date.now() - olderThanMs);
    if (due.length === 0) return 0;
    for (const raw of due) {
      // Deleted meanwhile (delivered): nothing to sync, and nothing to bring back.
      if (journal.pendingRawMessage(raw.key) === undefined) continue;
      await this.makeDurable(raw.key, raw.bytes, repair);
    }
    await fsyncDirectory(this.emailsDir);
    for (const raw of due) await journal.rawMessageDone(raw.key);
    return due.length;
  }

  /**
   * After a crash: every message whose bytes the journal still holds gets its file back whole (written
   * again, durably, if it is missing or not the journalled size) and synced; then the journal forgets them.
   */
  async recover(): Promise<number> {
    return this.checkpoint(0, { repair: true });
  }

  /**
   * Syncs a journalled message's file. With `repair` (after a crash, before anything reads or deletes
   * messages), one that is missing or not whole is written again from the journal's bytes; otherwise a
   * missing one was deleted meanwhile and stays so.
   */
  private async makeDurable(key: string, bytes: Buffer, repair: boolean): Promise<void> {
    const file = this.pathOf({ bucket: this.bucket, key });
    let whole = false;
    try {
      // After a crash, the bytes themselves (a power cut can leave a file of the right size with holes).
      whole = repair ? fs.readFileSync(file).equals(bytes) : fs.statSync(file).size === bytes.length;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    if (whole) {
      const fd = fs.openSync(file, "r");
      try {
        await fsync(fd);
      } finally {
        fs.closeSync(fd);
      }
      return;
    }
    if (repair) await writeFileDurably(file, [bytes], { tmpDir: this.tmpDir });
  }

  /** Checkpoints every RAW_MESSAGE_CHECKPOINT_INTERVAL_MS until `close`; a failed one is said through `onError` and tried again. */
  startCheckpoints(onError: (error: unknown) => void): void {
    if (!this.journal || this.checkpointTimer) return;
    this.checkpointTimer = setInterval(() => void this.checkpoint().catch(onError), RAW_MESSAGE_CHECKPOINT_INTERVAL_MS);
    this.checkpointTimer.unref();
  }

  /** Stops checkpointing and syncs every journalled message still here, so a clean stop leaves none in the journal. */
  async close(): Promise<void> {
    clearInterval(this.checkpointTimer);
    this.checkpointTimer = undefined;
    await this.checkpoint(0);
  }

  async open(location: MessageLocation): Promise<StoredMessage> {
    const file = this.pathOf(location);
    // Still in the journal (most mail, while it is delivered): no need to read the file.
    const journalled = this.journal?.pendingRawMessage(location.key);
    if (journalled) return { body: Readable.from([journalled], { objectMode: false }), size: journalled.length };
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
    const file = this.pathOf(location);
    // The journal forgets its copy first: a crash in between leaves the file (as a crash just before
    // a deletion always could), never a copy that would bring a delivered message's file back.
    await this.journal?.rawMessageDone(location.key);
    await removeFile(file);
  }
}
