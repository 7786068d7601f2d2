/**
 * An append-only file of JSON records with group commit, for local mode's small durable state (the
 * forwarder's delivery records, message progress, bounce throttling): the state lives in memory, and
 * every change is a record appended here before the call that made it resolves.
 *
 * Group commit: records appended while a write and its fdatasync are under way wait together and
 * leave in the next write, covered by one fdatasync. Ten deliveries at once cost one sync, not ten,
 * and a lone record waits for nothing but its own sync.
 *
 * Records are whole states ("this key is now …"), so reading one twice, or a stale one before a newer
 * one, leaves the same state: the log can be replayed, and a snapshot can be written while records
 * are still arriving. Writes are positional at the end of what is known to be whole, so a write that
 * failed half-way (a full disk) is overwritten by the next one rather than left in the middle.
 *
 * Compaction: when the file has grown to several times what is live, the live state is written to a
 * new file (fsynced) that replaces it by rename. After a failed write or sync nothing on disk since
 * the last good sync can be trusted (a failed fsync may have dropped dirty pages), so the next write
 * is a compaction too.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { fsyncDirectory, isNotFound, removeFile, SYNC_WRITE_MAX_BYTES } from "./durable-file";

const open = promisify(fs.open);
const close = promisify(fs.close);
const fdatasync = promisify(fs.fdatasync);
const ftruncate = promisify(fs.ftruncate);
const rename = promisify(fs.rename);

/**
 * A log is compacted once it is this large and at least COMPACT_GROWTH_FACTOR times its live state:
 * small enough that replaying it at start takes well under a second, large enough that a busy
 * local mode compacts seldom (each compaction writes the live state once).
 */
export const COMPACT_MIN_BYTES = 8 * 1024 * 1024;
export const COMPACT_GROWTH_FACTOR = 4;

/** A JSON record: what the owner appends and is handed back on replay. */
export type LogRecord = Readonly<Record<string, unknown>>;

export interface AppendLogOptions {
  readonly file: string;
  /** Called for every whole record found when the log is opened, in order. */
  readonly replay: (record: LogRecord) => void;
  /** The live state as records, for compaction. Must reflect every record appended so far. */
  readonly snapshot: () => Iterable<LogRecord>;
  /** Overrides for tests. */
  readonly compactMinBytes?: number;
}

/** What opening the log found. */
export interface LogOpening {
  /** Whole records replayed. */
  readonly records: number;
  /** Lines that were not records (damage, or the torn last line of a crash), skipped. */
  readonly skipped: number;
}

interface Waiter {
  readonly line: string;
  /** Whether the caller waits for the fdatasync, or only for the write. */
  readonly sync: boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** The error as it is (one of Node's may come from another realm, where `instanceof Error` is false), or one made of it. */
function asError(error: unknown): Error {
  return typeof error === "object" && error !== null && "message" in error ? (error as Error) : new Error(String(error));
}

/**
 * Writes the whole buffer at `position`, however many write(2) calls it takes: synchronously when it is
 * small (a copy into the page cache costs less than a hand-off to the thread pool, durable-file.ts).
 */
async function writeAt(fd: number, buffer: Buffer, position: number): Promise<void> {
  for (let offset = 0; offset < buffer.length;) {
    const length = buffer.length - offset;
    offset +=
      length <= SYNC_WRITE_MAX_BYTES
        ? fs.writeSync(fd, buffer, offset, length, position + offset)
        : await new Promise<number>((resolve, reject) =>
            fs.write(fd, buffer, offset, length, position + offset, (error, bytes) => (error ? reject(error) : resolve(bytes))),
          );
  }
}

export class AppendLog {
  readonly file: string;
  private readonly options: AppendLogOptions;
  private fd: number | undefined;
  /** Bytes of whole records at the start of the file: where the next write goes. */
  private size = 0;
  /** The size after the last compaction (or at open): what "grown" is measured against. */
  private baseSize = 0;
  private pending: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  /** Set after a failed write or sync: the next flush rewrites the file from the live state. */
  private untrusted = false;
  private compacting = false;
  private closed = false;
  /** Writes, syncs and compactions so far (for the bench's count of syncs per message, and tests). */
  readonly counts = { writes: 0, syncs: 0, compactions: 0 };

  private constructor(options: AppendLogOptions) {
    this.options = options;
    this.file = path.resolve(options.file);
  }

  /** Opens (or creates) the log and replays it. A torn last line (a crash mid-write) is cut off. */
  static async open(options: AppendLogOptions): Promise<{ log: AppendLog; opening: LogOpening }> {
    const log = new AppendLog(options);
    await fs.promises.mkdir(path.dirname(log.file), { recursive: true });
    // A compaction a crash interrupted left its new file unfinished; the old one is still whole.
    await removeFile(log.compactionFile());
    let content: Buffer;
    try {
      content = await fs.promises.readFile(log.file);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      content = Buffer.alloc(0);
    }
    let records = 0;
    let skipped = 0;
    let whole = 0;
    for (let start = 0; start < content.length;) {
      const end = content.indexOf(0x0a, start);
      if (end === -1) {
        skipped++; // the torn last line: never acknowledged
        break;
      }
      const record = parseRecord(content.toString("utf8", start, end));
      if (record) {
        options.replay(record);
        records++;
      } else if (end > start) {
        skipped++;
      }
      start = end + 1;
      whole = start;
    }
    log.fd = await open(log.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    log.size = whole;
    log.baseSize = whole;
    if (whole < content.length) await ftruncate(log.fd, whole);
    return { log, opening: { records, skipped } };
  }

  /** Bytes in the file now. */
  get bytes(): number {
    return this.size;
  }

  /**
   * Appends a record; resolves once it is on disk (written and fdatasynced, with every record before
   * it). Rejects when it could not be (a full disk): the record may or may not survive a crash then.
   * With `sync: false` it resolves once written (it survives the process, and is synced with the next
   * record that asks for it): for records whose loss in a power cut only repeats work, such as an
   * acknowledgement.
   */
  append(record: LogRecord, options: { sync?: boolean } = {}): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.file} is closed`));
    const line = `${JSON.stringify(record)}\n`;
    const sync = options.sync ?? true;
    if (
      !sync &&
      this.pending.length === 0 &&
      !this.compacting &&
      !this.untrusted &&
      this.fd !== undefined &&
      line.length <= SYNC_WRITE_MAX_BYTES
    ) {
      // Nothing waits to be written before it: written now, so a crash of the process an instant later keeps it.
      try {
        this.writeNow(Buffer.from(line));
        return Promise.resolve();
      } catch (error) {
        this.untrusted = true;
        return Promise.reject(asError(error));
      }
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ line, sync, resolve, reject });
      // Records appended in this turn of the event loop (a batch's loop) join the same write.
      this.flushing ??= new Promise<void>((started) => setImmediate(started)).then(() => this.flush());
    });
  }

  /** Writes what is pending, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flushing;
    if (this.fd !== undefined) await close(this.fd);
    this.fd = undefined;
  }

  private compactionFile(): string {
    return path.join(path.dirname(this.file), `.${path.basename(this.file)}.compacting`);
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        try {
          if (
            this.untrusted ||
            this.size >= Math.max(this.options.compactMinBytes ?? COMPACT_MIN_BYTES, COMPACT_GROWTH_FACTOR * this.baseSize)
          ) {
            // The snapshot already holds this batch's records (the owner changed its state before appending).
            await this.compact();
          } else {
            await this.write(Buffer.from(batch.map((waiter) => waiter.line).join("")));
            for (const waiter of batch) if (!waiter.sync) waiter.resolve();
            if (batch.some((waiter) => waiter.sync)) await this.sync();
          }
          for (const waiter of batch) waiter.resolve();
        } catch (error) {
          this.untrusted = true;
          for (const waiter of batch) waiter.reject(asError(error));
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private async write(buffer: Buffer): Promise<void> {
    if (buffer.length <= SYNC_WRITE_MAX_BYTES) {
      this.writeNow(buffer);
      return;
    }
    const fd = this.fd;
    if (fd === undefined) throw new Error(`${this.file} is not open`);
    // Reserved before the write: a record written meanwhile goes after it, never over it.
    const position = this.size;
    this.size += buffer.length;
    this.counts.writes++;
    await writeAt(fd, buffer, position);
  }

  /** A small write, synchronously at the end (durable-file.ts says why). */
  private writeNow(buffer: Buffer): void {
    const fd = this.fd;
    if (fd === undefined) throw new Error(`${this.file} is not open`);
    for (let offset = 0; offset < buffer.length;) offset += fs.writeSync(fd, buffer, offset, buffer.length - offset, this.size + offset);
    this.size += buffer.length;
    this.counts.writes++;
  }

  private async sync(): Promise<void> {
    const fd = this.fd;
    if (fd === undefined) throw new Error(`${this.file} is not open`);
    await fdatasync(fd);
    this.counts.syncs++;
  }

  /** Replaces the file with the live state: written to a new file, synced, renamed over the old one. */
  private async compact(): Promise<void> {
    this.compacting = true;
    try {
      await this.rewrite();
    } finally {
      this.compacting = false;
    }
  }

  private async rewrite(): Promise<void> {
    const temporary = this.compactionFile();
    const lines: string[] = [];
    for (const record of this.options.snapshot()) lines.push(`${JSON.stringify(record)}\n`);
    const content = Buffer.from(lines.join(""));
    const fd = await open(temporary, "w", 0o600);
    try {
      await writeAt(fd, content, 0);
      await fdatasync(fd);
    } catch (error) {
      await close(fd).catch(() => undefined);
      await removeFile(temporary).catch(() => undefined);
      throw error;
    }
    await rename(temporary, this.file);
    await fsyncDirectory(path.dirname(this.file));
    const previous = this.fd;
    this.fd = fd;
    this.size = content.length;
    this.baseSize = content.length;
    this.untrusted = false;
    this.counts.compactions++;
    if (previous !== undefined) await close(previous).catch(() => undefined);
  }
}

function parseRecord(line: string): LogRecord | undefined {
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as LogRecord) : undefined;
  } catch {
    return undefined;
  }
}
