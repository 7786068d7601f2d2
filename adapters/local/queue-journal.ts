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

const Kind = { Enqueue: "enqueue", Remove: "remove" } as const;

function entryOf(record: LogRecord): { queue: string; entry: JournalEntry } | undefined {
  const { queue, id, body, sentTimestamp, visibleAt } = record;
  if (typeof queue !== "string" || typeof id !== "string" || typeof body !== "string" || typeof sentTimestamp !== "number") return undefined;
  return { queue, entry: { id, body, sentTimestamp, visibleAt: typeof visibleAt === "number" ? visibleAt : 0 } };
}

/** Applies one record to live entries by queue. */
function apply(live: Map<string, Map<string, JournalEntry>>, record: LogRecord): void {
  if (record.kind === Kind.Enqueue) {
    const found = entryOf(record);
    if (!found) return;
    let entries = live.get(found.queue);
    if (!entries) live.set(found.queue, (entries = new Map()));
    entries.set(found.entry.id, found.entry);
  } else if (record.kind === Kind.Remove && typeof record.queue === "string" && typeof record.id === "string") {
    live.get(record.queue)?.delete(record.id);
  }
}

export class QueueJournal {
  readonly file: string;
  private readonly live = new Map<string, Map<string, JournalEntry>>();
  private log: AppendLog | undefined;
  private opening: Promise<AppendLog> | undefined;
  private users = 0;
  /** Records a crash cut short, found when the file was opened; reported once. */
  private discarded = 0;

  constructor(dir: string) {
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
      replay: (record) => apply(this.live, record),
      snapshot: () => this.snapshot(),
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
    return [...(this.live.get(queue)?.values() ?? [])];
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
    return this.live.get(queue)?.has(id) ?? false;
  }

  /** Adds a message; resolves once it is on disk. */
  async add(queue: string, entry: JournalEntry): Promise<void> {
    const log = await this.ready();
    let entries = this.live.get(queue);
    if (!entries) this.live.set(queue, (entries = new Map()));
    entries.set(entry.id, entry);
    try {
      await log.append({ kind: Kind.Enqueue, queue, ...entry });
    } catch (error) {
      // Not on disk, so not queued: the caller reports the failure (a 451, a failed batch).
      entries.delete(entry.id);
      throw error;
    }
  }

  /** Forgets a message (handled, or set aside as a dead letter); written, not waited for on disk. */
  async remove(queue: string, id: string): Promise<void> {
    const log = await this.ready();
    if (!this.live.get(queue)?.delete(id)) return;
    await log.append({ kind: Kind.Remove, queue, id }, { sync: false });
  }

  private *snapshot(): Iterable<LogRecord> {
    for (const [queue, entries] of this.live) for (const entry of entries.values()) yield { kind: Kind.Enqueue, queue, ...entry };
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
  const live = new Map<string, Map<string, JournalEntry>>();
  const lines = content.split("\n");
  lines.pop(); // after the last newline: empty, or a line still being written
  for (const line of lines) {
    try {
      const record = JSON.parse(line) as unknown;
      if (typeof record === "object" && record !== null) apply(live, record as LogRecord);
    } catch {
      // damaged: skipped, as local mode does when it opens the file
    }
  }
  return new Map([...live].map(([queue, entries]) => [queue, [...entries.values()]]));
}
