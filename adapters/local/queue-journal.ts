/**
 * The journal of local mode's queues: one append-only file, `queues/journal.jsonl`, for every queue in a
 * folder. A message is an `enqueue` record there (with its body), fdatasynced before `send` resolves;
 * handling it appends a `remove` record. The queues a running local mode holds are the records not yet
 * removed; `recover()` reloads them after a crash.
 *
 * One file for all the queues, with group commit (append-log.ts): the router putting decisions on the
 * forwarder queue and the intake putting new mail on the input queue share one fdatasync, where a file
 * per message cost a create, an fsync and a directory fsync each (three times the CPU, measured).
 * A removal is written without waiting for its sync: lost in a power cut, it only hands the message
 * over again, which every consumer tolerates (SQS's at-least-once).
 *
 * Each queue is named in the file by its folder's name (`input`, `gmail-forwarder`, …), so the
 * commands that read a stopped or running local mode (`status --local`, `trace --local`) find them
 * with `readQueueJournal` without knowing the queues' SQS names.
 *
 * A message arriving can bring its raw bytes along (`add(…, { rawMessage })`): they are in its enqueue
 * record, synced with it, so the file the message store writes beside them need not be synced before
 * the 250 reply (adapters/local/file-message-store.ts). The bytes stay in the journal after the queue
 * entry is removed, until the message store says its file is durable or deleted (`rawMessageDone`);
 * until then a restart writes the file again from them if a power cut lost it (`pendingRawMessages`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { AppendLog, type LogRecord } from "./append-log";
import { isNotFound } from "./durable-file";

/** The journal's file in a queues folder. */
export const QUEUE_JOURNAL_FILE = "journal.jsonl";

/** A message as the journal keeps it. */
export interface JournalEntry {
  readonly id: string;
  readonly body: string;
  /** Epoch ms of the first enqueue. */
  readonly sentTimestamp: number;
  /** Epoch ms before which it is not offered; 0 when not delayed. */
  readonly visibleAt: number;
}

/** A raw message's bytes kept in the journal until its file is durable (see the top of this file). */
export interface JournalRawMessage {
  /** Its key in the message store (`emails/<messageId>`). */
  readonly key: string;
  readonly bytes: Buffer;
  /** Epoch ms when it was journalled. */
  readonly since: number;
}

const Kind = { Enqueue: "enqueue", Remove: "remove", Move: "move", RawMessage: "raw-message", RawMessageDone: "raw-message-done" } as const;

function entryOf(record: LogRecord): { queue: string; entry: JournalEntry } | undefined {
  const { queue, id, body, sentTimestamp, visibleAt } = record;
  if (typeof queue !== "string" || typeof id !== "string" || typeof body !== "string" || typeof sentTimestamp !== "number")
    return undefined;
  return { queue, entry: { id, body, sentTimestamp, visibleAt: typeof visibleAt === "number" ? visibleAt : 0 } };
}

function rawMessageOf(value: unknown): JournalRawMessage | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { key, data, since } = value as Record<string, unknown>;
  if (typeof key !== "string" || typeof data !== "string") return undefined;
  return { key, bytes: Buffer.from(data, "base64"), since: typeof since === "number" ? since : 0 };
}

function rawMessageField(raw: JournalRawMessage): LogRecord {
  return { key: raw.key, data: raw.bytes.toString("base64"), since: raw.since };
}

/** What the journal holds: live entries by queue, and raw messages not yet durable elsewhere. */
class JournalState {
  readonly live = new Map<string, Map<string, JournalEntry>>();
  readonly rawMessages = new Map<string, JournalRawMessage>();
  /** The bytes of `rawMessages`, kept up to date. */
  rawBytes = 0;

  setRaw(raw: JournalRawMessage): void {
    this.deleteRaw(raw.key);
    this.rawMessages.set(raw.key, raw);
    this.rawBytes += raw.bytes.length;
  }

  deleteRaw(key: string, only?: JournalRawMessage): boolean {
    const raw = this.rawMessages.get(key);
    if (!raw || (only && raw !== only)) return false;
    this.rawMessages.delete(key);
    this.rawBytes -= raw.bytes.length;
    return true;
  }

  entries(queue: string): Map<string, JournalEntry> {
    let entries = this.live.get(queue);
    if (!entries) this.live.set(queue, (entries = new Map()));
    return entries;
  }

  apply(record: LogRecord): void {
    switch (record.kind) {
      case Kind.Enqueue: {
        const found = entryOf(record);
        if (!found) return;
        this.entries(found.queue).set(found.entry.id, found.entry);
        const raw = rawMessageOf(record.rawMessage);
        if (raw) this.setRaw(raw);
        return;
      }
      case Kind.Remove:
        if (typeof record.queue === "string" && typeof record.id === "string") this.live.get(record.queue)?.delete(record.id);
        return;
      case Kind.Move: {
        const { from, to } = record as { from?: { queue?: unknown; id?: unknown }; to?: unknown };
        if (typeof from?.queue !== "string" || typeof from.id !== "string" || !Array.isArray(to)) return;
        this.live.get(from.queue)?.delete(from.id);
        for (const item of to as LogRecord[]) {
          const found = entryOf(item);
          if (found) this.entries(found.queue).set(found.entry.id, found.entry);
        }
        return;
      }
      case Kind.RawMessage: {
        const raw = rawMessageOf(record);
        if (raw) this.setRaw(raw);
        return;
      }
      case Kind.RawMessageDone:
        if (typeof record.key === "string") this.deleteRaw(record.key);
        return;
    }
  }

  *snapshot(): Iterable<LogRecord> {
    for (const [queue, entries] of this.live) for (const entry of entries.values()) yield { kind: Kind.Enqueue, queue, ...entry };
    for (const raw of this.rawMessages.values()) yield { kind: Kind.RawMessage, ...rawMessageField(raw) };
  }
}

export class QueueJournal {
  readonly file: string;
  private readonly state = new JournalState();
  private log: AppendLog | undefined;
  private opening: Promise<AppendLog> | undefined;
  private users = 0;
  /** Records a crash cut short, found when the file was opened; reported once. */
  private discarded = 0;

  constructor(
    dir: string,
    /** Tests only: compact from this size on (append-log.ts COMPACT_MIN_BYTES). */
    private readonly options: { compactMinBytes?: number } = {},
  ) {
    this.file = path.join(path.resolve(dir), QUEUE_JOURNAL_FILE);
  }

  private static readonly shared = new Map<string, QueueJournal>();

  /**
   * The journal of the queues in `dir` (one per folder and process), counted as used until `release`.
   * Every queue whose folder is in `dir` writes to it.
   */
  static acquire(dir: string): QueueJournal {
    const key = path.resolve(dir);
    let journal = QueueJournal.shared.get(key);
    if (!journal) QueueJournal.shared.set(key, (journal = new QueueJournal(key)));
    journal.users++;
    return journal;
  }

  /** Stops using a journal from `acquire`; the last user closes it (after writing what is pending). */
  async release(): Promise<void> {
    if (--this.users > 0) return;
    if (QueueJournal.shared.get(path.dirname(this.file)) === this) QueueJournal.shared.delete(path.dirname(this.file));
    const log = this.log ?? (await this.opening?.catch(() => undefined));
    this.log = undefined;
    this.opening = undefined;
    await log?.close();
  }

  /** Opens the file once, replaying what a previous run left. */
  private ready(): Promise<AppendLog> {
    if (this.log) return Promise.resolve(this.log);
    this.opening ??= AppendLog.open({
      file: this.file,
      replay: (record) => this.state.apply(record),
      snapshot: () => this.state.snapshot(),
      ...(this.options.compactMinBytes !== undefined ? { compactMinBytes: this.options.compactMinBytes } : {}),
    }).then(
      ({ log, opening }) => {
        this.discarded = opening.skipped;
        return (this.log = log);
      },
      (error: unknown) => {
        this.opening = undefined;
        throw error;
      },
    );
    return this.opening;
  }

  /** The messages a queue holds (a previous run's included), in enqueue order. */
  async entries(queue: string): Promise<JournalEntry[]> {
    await this.ready();
    return [...(this.state.live.get(queue)?.values() ?? [])];
  }

  /** How many records a crash cut short the file held when it was opened: said once (to the first queue that asks). */
  async takeDiscarded(): Promise<number> {
    await this.ready();
    const discarded = this.discarded;
    this.discarded = 0;
    return discarded;
  }

  /** Whether a queue holds this message. */
  has(queue: string, id: string): boolean {
    return this.state.live.get(queue)?.has(id) ?? false;
  }

  /**
   * Adds a message, with the raw message it brings if any (see the top of this file); resolves once it
   * is on disk.
   */
  async add(queue: string, entry: JournalEntry, options: { rawMessage?: { key: string; bytes: Buffer } } = {}): Promise<void> {
    const log = await this.ready();
    const entries = this.state.entries(queue);
    entries.set(entry.id, entry);
    const raw = options.rawMessage ? { ...options.rawMessage, since: Date.now() } : undefined;
    if (raw) this.state.setRaw(raw);
    try {
      await log.append({ kind: Kind.Enqueue, queue, ...entry, ...(raw ? { rawMessage: rawMessageField(raw) } : {}) });
    } catch (error) {
      // Not on disk, so not queued: the caller reports the failure (a 451, a failed batch).
      entries.delete(entry.id);
      if (raw) this.state.deleteRaw(raw.key, raw);
      throw error;
    }
  }

  /** Forgets a message (handled, or set aside as a dead letter); written, not waited for on disk. */
  async remove(queue: string, id: string): Promise<void> {
    const log = await this.ready();
    if (!this.state.live.get(queue)?.delete(id)) return;
    await log.append({ kind: Kind.Remove, queue, id }, { sync: false });
  }

  /**
   * Moves a message from one queue to others in one record: it leaves `from` and every `to` entry
   * arrives, or (a record a crash cut short) none of that happened and `from` still holds it. Written,
   * not waited for on disk: until a later sync covers it, a power cut leaves the message where it was,
   * to be handed over again, which consumers tolerate; so passing a message on costs no sync of its own.
   */
  async move(from: { queue: string; id: string }, to: ReadonlyArray<{ queue: string; entry: JournalEntry }>): Promise<void> {
    const log = await this.ready();
    const source = this.state.live.get(from.queue);
    const moving = source?.get(from.id);
    source?.delete(from.id);
    for (const { queue, entry } of to) this.state.entries(queue).set(entry.id, entry);
    try {
      await log.append({ kind: Kind.Move, from, to: to.map(({ queue, entry }) => ({ queue, ...entry })) }, { sync: false });
    } catch (error) {
      for (const { queue, entry } of to) this.state.live.get(queue)?.delete(entry.id);
      if (moving) source?.set(from.id, moving);
      throw error;
    }
  }

  /** Raw messages whose bytes the journal still keeps, oldest first. */
  async pendingRawMessages(): Promise<JournalRawMessage[]> {
    await this.ready();
    return [...this.state.rawMessages.values()];
  }

  /** The bytes of one raw message the journal keeps, if it does. */
  pendingRawMessage(key: string): Buffer | undefined {
    return this.state.rawMessages.get(key)?.bytes;
  }

  /** Bytes of the raw messages the journal keeps. */
  pendingRawBytes(): number {
    return this.state.rawBytes;
  }

  /**
   * The message store no longer needs the journal's copy of a raw message (its file is durable, or
   * deleted); written, not waited for on disk. A copy kept by mistake only makes a restart write a file again.
   */
  async rawMessageDone(key: string): Promise<void> {
    if (!this.state.rawMessages.has(key)) return;
    const log = await this.ready();
    if (!this.state.deleteRaw(key)) return;
    await log.append({ kind: Kind.RawMessageDone, key }, { sync: false });
  }
}

/**
 * What the journal in `dir` holds, by queue (folder name), read without opening it for writing: for the
 * commands that look at a data directory while local mode runs or after. A torn last line is ignored.
 */
export async function readQueueJournal(dir: string): Promise<Map<string, JournalEntry[]>> {
  let content: string;
  try {
    content = await fs.promises.readFile(path.join(dir, QUEUE_JOURNAL_FILE), "utf8");
  } catch (error) {
    if (isNotFound(error)) return new Map();
    throw error;
  }
  const state = new JournalState();
  const lines = content.split("\n");
  lines.pop(); // after the last newline: empty, or a line still being written
  for (const line of lines) {
    try {
      const record = JSON.parse(line) as unknown;
      if (typeof record === "object" && record !== null) state.apply(record as LogRecord);
    } catch {
      // damaged: skipped, as local mode does when it opens the file
    }
  }
  return new Map([...state.live].map(([queue, entries]) => [queue, [...entries.values()]]));
}
