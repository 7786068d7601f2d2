/**
 * Local mode's SQS: an in-process queue with SQS's delivery contract (at least once, batches, partial
 * batch failures, a receive count, a dead-letter queue after `maxReceiveCount` failed receives), made
 * durable by a journal: the queues of one folder share `<folder>/journal.jsonl` (queue-journal.ts),
 * where a message is recorded, fdatasynced with whatever else is being recorded at that moment (group
 * commit), before `send` resolves, and recorded as removed once a consumer has finished with it. On
 * start, `recover()` reloads whatever a crash left, so work accepted before the crash is done after it.
 * Receive counts live in memory and restart from 0 after a restart (a crash is not the message's fault).
 *
 * Three folders per queue (queueFolders): the dead letters (`<dir>-dlq/<id>.json`, each with the error
 * that put it there), a redrive folder (`<dir>-redrive/`) through which `ses-mail dlq redrive --local`
 * hands dead letters back (the queue takes them at start and, while it runs, every REDRIVE_POLL_MS),
 * and `<dir>` itself, where versions before the shared journal kept one file per message: whatever is
 * found there at start is taken into the journal.
 *
 * A journal record a crash cut short belongs to an enqueue that never resolved, so nobody was told the
 * message was queued (the SMTP client got no 250, the upstream queue message was not removed): it is
 * skipped and counted, never passed off as a dead letter.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { errorMessage } from "../../core/errors";
import type { OutcomeError } from "../../core/outcomes";
import type { RetryQueue } from "../../core/ports";
import { isNotFound, removeFile, writeFileDurably } from "./durable-file";
import { QueueJournal, readQueueJournal } from "./queue-journal";
import { randomHex } from "./random";

export interface QueueMessage {
  /** Stable across restarts: the journal file's name. */
  readonly id: string;
  readonly body: string;
  /** Epoch ms of the first enqueue. */
  readonly sentTimestamp: number;
  /** Epoch ms before which it is not offered (SQS DelaySeconds); 0 when not delayed. */
  readonly visibleAt: number;
  /** How many times it has been handed to a consumer, this one included. */
  receiveCount: number;
}

/**
 * What a consumer reports: the ids that failed (SQS's `batchItemFailures`) and, where it knows, why each
 * failed (kept with a dead letter). Throwing fails the whole batch.
 */
export interface BatchResult {
  readonly failed: readonly string[];
  readonly errors?: ReadonlyMap<string, OutcomeError>;
}
export type BatchHandler = (messages: readonly QueueMessage[]) => Promise<BatchResult>;

/** A dead letter as `<dir>-dlq/<id>.json` holds it. */
export interface DeadLetterRecord {
  /** The journal id the message had (the file's name). */
  readonly id: string;
  readonly queue: string;
  readonly body: string;
  readonly sentTimestamp: number;
  readonly receiveCount: number;
  /** Why its last attempt failed. */
  readonly error: OutcomeError;
  readonly deadLetteredAt: string;
}

/** The error of a failed record whose consumer did not say why. */
export const UNREPORTED_FAILURE: OutcomeError = {
  code: "UNREPORTED",
  message: "the consumer reported the record as failed without saying why",
};
/** The error of a journal entry that is whole but not a queue message. */
export const INVALID_JOURNAL_ENTRY = "INVALID_JOURNAL_ENTRY";

/**
 * How often a running queue looks for redriven dead letters: soon enough for a person who just ran
 * `dlq redrive --local`, and one readdir of a (nearly always missing) folder, so it costs nothing.
 */
export const REDRIVE_POLL_MS = 1000;

/** The three folders of a journalled queue. */
export function queueFolders(dir: string): { readonly journal: string; readonly deadLetters: string; readonly redrive: string } {
  return { journal: dir, deadLetters: `${dir}-dlq`, redrive: `${dir}-redrive` };
}

/** What `recover()` found. */
export interface Recovery {
  /** Messages reloaded from the journal or taken from the redrive folder. */
  readonly recovered: number;
  /** Journal entries a crash cut short (their enqueue never resolved), removed. */
  readonly discarded: number;
}

export interface LocalQueueOptions {
  readonly name: string;
  /**
   * The queue's folder (`queues/input`): its journal is the one of the folder it is in
   * (`queues/journal.jsonl`), where it is named by the folder's name. Without one the queue lives in
   * memory only (tests).
   */
  readonly dir?: string;

  /** Messages per handler call, as an event source mapping's BatchSize. Default 10 (SQS's maximum). */
  readonly batchSize?: number;
  /** Handler calls running at once, as a function's concurrency. Default 1. */
  readonly concurrency?: number;
  /** Failed receives before a message goes to the dead-letter queue. Default 3 (the seed's redrive policy). */
  readonly maxReceiveCount?: number;
  /** Delay before a failed message is offered again (SQS: the visibility timeout). */
  readonly retryDelayMs?: (receiveCount: number) => number;
  /** Called when a message is moved to the dead-letter queue, with the error of its last attempt. */
  readonly onDeadLetter?: (message: QueueMessage, error: OutcomeError) => void;
  /** Called when a failed message will be offered again after `delayMs`. */
  readonly onRetry?: (message: QueueMessage, error: OutcomeError, delayMs: number) => void;
  /** Called when a handler throws (the whole batch failed). */
  readonly onHandlerError?: (error: unknown, messages: readonly QueueMessage[]) => void;
}

/** SQS's own ceiling on a receive batch. */
export const SQS_MAX_BATCH_SIZE = 10;
/** SQS's ceiling on DelaySeconds (15 minutes). */
export const SQS_MAX_DELAY_SECONDS = 900;
/** First retry after a second, then 2 s, 4 s …, capped: local mode is interactive, SQS's minutes would feel hung. */
export const DEFAULT_RETRY_BASE_MS = 1000;
export const DEFAULT_RETRY_MAX_MS = 30_000;

let sequence = 0;

function newMessageId(now: number): string {
  // Sortable by enqueue time, then by a per-process sequence, then unique across processes.
  return `${now.toString(36).padStart(9, "0")}-${(++sequence).toString(36).padStart(6, "0")}-${randomHex(4)}`;
}

function thrownError(error: unknown): OutcomeError {
  const code = typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : "UNEXPECTED";
  return { code, message: `the consumer threw: ${errorMessage(error)}` };
}

/** Journal and dead-letter entries are `<id>.json`; anything else (a hidden temporary file) is not one. */
function isEntryName(name: string): boolean {
  return name.endsWith(".json") && !name.startsWith(".");
}

async function listEntries(dir: string): Promise<string[]> {
  try {
    return (await fs.promises.readdir(dir)).filter(isEntryName).sort();
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/**
 * Tidies the dead-letter folder after a crash: removes the temporary files of dead letters being
 * written, and the empty files earlier versions set aside for journal entries a crash had cut short
 * (they hold nothing, and are not dead letters).
 */
async function tidyDeadLetters(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    if (name.startsWith(".") && name.endsWith(".tmp")) await removeFile(file);
    else if (isEntryName(name) && (await fs.promises.stat(file)).size === 0) await removeFile(file);
  }
}

/** A journal entry's content, or undefined when a crash cut its write short (empty or not JSON). */
function parseEntry(text: string): { value: Record<string, unknown> } | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return { value: typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {} };
  } catch {
    return undefined;
  }
}

/** Every dead letter of a queue (`queueFolders(dir).deadLetters`), oldest first; unreadable files are reported as such. */
export async function readDeadLetters(deadLetterDir: string): Promise<DeadLetterRecord[]> {
  const records: DeadLetterRecord[] = [];
  for (const name of await listEntries(deadLetterDir)) {
    const id = name.slice(0, -".json".length);
    let text: string;
    try {
      text = await fs.promises.readFile(path.join(deadLetterDir, name), "utf8");
    } catch (error) {
      if (isNotFound(error)) continue; // redriven meanwhile
      throw error;
    }
    const parsed = parseEntry(text)?.value ?? {};
    const error = parsed.error as Partial<OutcomeError> | undefined;
    records.push({
      id,
      queue: typeof parsed.queue === "string" ? parsed.queue : path.basename(deadLetterDir).replace(/-dlq$/, ""),
      body: typeof parsed.body === "string" ? parsed.body : text,
      sentTimestamp: typeof parsed.sentTimestamp === "number" ? parsed.sentTimestamp : 0,
      receiveCount: typeof parsed.receiveCount === "number" ? parsed.receiveCount : 0,
      error:
        error && typeof error.code === "string" && typeof error.message === "string"
          ? { code: error.code, message: error.message }
          : // Dead letters of earlier versions kept only a sentence.
            { code: "UNKNOWN", message: typeof parsed.reason === "string" ? parsed.reason : "no error recorded" },
      deadLetteredAt: typeof parsed.deadLetteredAt === "string" ? parsed.deadLetteredAt : "",
    });
  }
  return records;
}

/**
 * Hands dead letters back to their queue (`ses-mail dlq redrive --local`): each moves, atomically, from
 * the dead-letter folder to the redrive folder, where the queue takes it (at once if local mode runs,
 * else at its next start). Returns the ids moved; one redriven meanwhile by someone else is skipped.
 */
export async function redriveDeadLetters(dir: string, ids: readonly string[]): Promise<string[]> {
  const folders = queueFolders(dir);
  await fs.promises.mkdir(folders.redrive, { recursive: true });
  const moved: string[] = [];
  for (const id of ids) {
    try {
      await fs.promises.rename(path.join(folders.deadLetters, `${id}.json`), path.join(folders.redrive, `${id}.json`));
      moved.push(id);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  return moved;
}

/** How many dead letters a queue keeps (`queueFolders(dir).deadLetters`). */
export async function deadLetterCount(dir: string): Promise<number> {
  return (await listEntries(queueFolders(dir).deadLetters)).length;
}

/**
 * The messages a queue's journal holds (`dir` is the queue's folder), with the ones redriven to it or
 * left in its folder by an earlier version and not yet taken: for `status --local` and `trace --local`,
 * whether local mode runs or not. Unreadable files are left out.
 */
export async function journalEntries(dir: string): Promise<Array<{ id: string; body: string; sentTimestamp: number }>> {
  const journalled = (await readQueueJournal(path.dirname(dir))).get(path.basename(dir)) ?? [];
  const found = new Map(journalled.map((entry) => [entry.id, entry]));
  for (const folder of [dir, queueFolders(dir).redrive]) {
    for (const name of await listEntries(folder)) {
      const id = name.slice(0, -".json".length);
      if (found.has(id)) continue;
      const entry = parseEntry(await fs.promises.readFile(path.join(folder, name), "utf8").catch(() => ""));
      const { body, sentTimestamp } = entry?.value ?? {};
      if (typeof body === "string")
        found.set(id, { id, body, sentTimestamp: typeof sentTimestamp === "number" ? sentTimestamp : 0, visibleAt: 0 });
    }
  }
  return [...found.values()];
}

/** How many messages a journal holds and when the oldest was first sent, for `status --local`. */
export async function journalSummary(dir: string): Promise<{ messages: number; oldestSentAt?: Date }> {
  const entries = await journalEntries(dir);
  const times = entries.map((entry) => entry.sentTimestamp).filter((time) => time > 0);
  return { messages: entries.length, ...(times.length > 0 ? { oldestSentAt: new Date(Math.min(...times)) } : {}) };
}

export class LocalQueue implements RetryQueue {
  readonly name: string;
  private readonly dir: string | undefined;
  /** The shared journal of the queue's folder, and the queue's name in it (the folder's name). */
  private readonly journal: QueueJournal | undefined;
  private readonly journalName: string;
  private released = false;
  private readonly deadLetterDir: string | undefined;
  private readonly redriveDir: string | undefined;
  private redrivePoll: NodeJS.Timeout | undefined;
  private takingRedriven: Promise<number> | undefined;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly maxReceiveCount: number;
  private readonly retryDelayMs: (receiveCount: number) => number;
  private readonly options: LocalQueueOptions;

  private readonly ready: QueueMessage[] = [];
  private readonly delayed = new Map<string, { message: QueueMessage; timer: NodeJS.Timeout }>();
  private inFlight = 0;
  private inFlightMessages = 0;
  private handler: BatchHandler | undefined;
  private running = false;
  private idleWaiters: Array<() => void> = [];
  private readonly batches = new Set<Promise<void>>();

  constructor(options: LocalQueueOptions) {
    this.options = options;
    this.name = options.name;
    this.dir = options.dir ? path.resolve(options.dir) : undefined;
    this.journal = this.dir ? QueueJournal.acquire(path.dirname(this.dir)) : undefined;
    this.journalName = this.dir ? path.basename(this.dir) : this.name;
    const folders = this.dir ? queueFolders(this.dir) : undefined;
    this.deadLetterDir = folders?.deadLetters;
    this.redriveDir = folders?.redrive;
    this.batchSize = options.batchSize ?? SQS_MAX_BATCH_SIZE;
    this.concurrency = options.concurrency ?? 1;
    this.maxReceiveCount = options.maxReceiveCount ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? ((count) => Math.min(DEFAULT_RETRY_BASE_MS * 2 ** (count - 1), DEFAULT_RETRY_MAX_MS));
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > SQS_MAX_BATCH_SIZE) {
      throw new RangeError(`queue ${this.name}: batchSize must be 1 to ${SQS_MAX_BATCH_SIZE}`);
    }
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1)
      throw new RangeError(`queue ${this.name}: concurrency must be at least 1`);
    if (!Number.isInteger(this.maxReceiveCount) || this.maxReceiveCount < 1)
      throw new RangeError(`queue ${this.name}: maxReceiveCount must be at least 1`);
  }

  /** Messages waiting, delayed for a retry, or being handled. */
  get depth(): number {
    return this.ready.length + this.delayed.size + this.inFlightMessages;
  }

  /**
   * Loads what the journal holds for this queue (a previous run's messages), and any dead letters
   * redriven meanwhile (call before `start`). Files an earlier version left in the queue's folder are
   * taken into the journal: a torn one (a crash during its enqueue) is removed, a whole one that is not
   * a queue message is moved to the dead-letter folder rather than blocking the queue.
   */
  async recover(): Promise<Recovery> {
    if (!this.dir || !this.journal) return { recovered: 0, discarded: 0 };
    if (this.deadLetterDir) await tidyDeadLetters(this.deadLetterDir);
    let recovered = 0;
    let discarded = await this.journal.takeDiscarded();
    for (const entry of await this.journal.entries(this.journalName)) {
      this.offer({ ...entry, receiveCount: 0 });
      recovered++;
    }
    for (const name of await listEntries(this.dir)) {
      const id = name.slice(0, -".json".length);
      const file = path.join(this.dir, name);
      const entry = parseEntry(await fs.promises.readFile(file, "utf8"));
      if (!entry) {
        await removeFile(file);
        discarded++;
        continue;
      }
      const { body, sentTimestamp, visibleAt } = entry.value;
      if (typeof body !== "string" || typeof sentTimestamp !== "number") {
        await this.moveToDeadLetters(
          { id, body: JSON.stringify(entry.value), sentTimestamp: 0, visibleAt: 0, receiveCount: 0 },
          { code: INVALID_JOURNAL_ENTRY, message: "a journal entry that is not a queue message" },
        );
        await removeFile(file);
        continue;
      }
      if (await this.takeIntoJournal(file, { id, body, sentTimestamp, visibleAt: typeof visibleAt === "number" ? visibleAt : 0 }))
        recovered++;
    }
    recovered += await this.takeRedriven();
    this.pump();
    return { recovered, discarded };
  }

  /**
   * Moves a message from a file (redriven, or left by an earlier version) into the journal and offers
   * it: recorded first, then the file removed, so a crash in between leaves it in the journal and a
   * file the next start finds already taken. False when it was taken already.
   */
  private async takeIntoJournal(file: string, entry: Omit<QueueMessage, "receiveCount">): Promise<boolean> {
    const journal = this.journal!;
    const known = journal.has(this.journalName, entry.id);
    if (!known) await journal.add(this.journalName, entry);
    await removeFile(file);
    if (known) return false;
    this.offer({ ...entry, receiveCount: 0 });
    return true;
  }

  /** Takes the dead letters `dlq redrive --local` put in the redrive folder: into the journal, then offered. */
  private takeRedriven(): Promise<number> {
    this.takingRedriven ??= (async () => {
      let taken = 0;
      if (!this.journal || !this.redriveDir) return taken;
      for (const name of await listEntries(this.redriveDir)) {
        const from = path.join(this.redriveDir, name);
        const entry = parseEntry(await fs.promises.readFile(from, "utf8").catch(() => ""));
        const { body, sentTimestamp } = entry?.value ?? {};
        if (typeof body !== "string") continue; // not whole yet, or not ours: left where it is
        const id = name.slice(0, -".json".length);
        if (
          await this.takeIntoJournal(from, {
            id,
            body,
            sentTimestamp: typeof sentTimestamp === "number" ? sentTimestamp : Date.now(),
            visibleAt: 0,
          })
        )
          taken++;
      }
      return taken;
    })().finally(() => (this.takingRedriven = undefined));
    return this.takingRedriven;
  }

  /**
   * Adds a message and returns its id; resolves once it is durable (in the journal, fdatasynced).
   * `delaySeconds` hides it that long first, as SQS's DelaySeconds (at most 900). `rawMessage` journals
   * the raw message it refers to with it (queue-journal.ts).
   */
  async send(body: string, options: { delaySeconds?: number; rawMessage?: { key: string; bytes: Buffer } } = {}): Promise<string> {
    const delaySeconds = options.delaySeconds ?? 0;
    if (!(delaySeconds >= 0 && delaySeconds <= SQS_MAX_DELAY_SECONDS)) {
      throw new RangeError(`queue ${this.name}: delaySeconds must be 0 to ${SQS_MAX_DELAY_SECONDS}`);
    }
    const now = Date.now();
    const id = newMessageId(now);
    const visibleAt = delaySeconds > 0 ? now + delaySeconds * 1000 : 0;
    await this.journal?.add(
      this.journalName,
      { id, body, sentTimestamp: now, visibleAt },
      options.rawMessage ? { rawMessage: options.rawMessage } : {},
    );
    this.offer({ id, body, sentTimestamp: now, visibleAt, receiveCount: 0 });
    return id;
  }

  /**
   * Hands a message of this queue on to other queues in one journal record (QueueJournal.move): once this
   * resolves they hold it and this queue no longer does (so its acknowledgement has nothing left to
   * remove). Returns the new messages' ids. Queues of another journal (or none) are sent to instead.
   */
  async moveTo(message: QueueMessage, to: ReadonlyArray<{ readonly queue: LocalQueue; readonly body: string }>): Promise<string[]> {
    const journal = this.journal;
    if (!journal || to.some(({ queue }) => queue.journal !== journal)) return Promise.all(to.map(({ queue, body }) => queue.send(body)));
    const now = Date.now();
    const moved = to.map(({ queue, body }) => ({ queue, entry: { id: newMessageId(now), body, sentTimestamp: now, visibleAt: 0 } }));
    await journal.move(
      { queue: this.journalName, id: message.id },
      moved.map(({ queue, entry }) => ({ queue: queue.journalName, entry })),
    );
    for (const { queue, entry } of moved) queue.offer({ ...entry, receiveCount: 0 });
    return moved.map(({ entry }) => entry.id);
  }

  /** The RetryQueue port: `send` without the id. */
  async enqueue(body: string, options?: { delaySeconds?: number }): Promise<void> {
    await this.send(body, options);
  }

  /** Makes a message available now, or when its delay is over. */
  private offer(message: QueueMessage, delayMs = message.visibleAt - Date.now()): void {
    if (delayMs <= 0) {
      this.ready.push(message);
      this.pump();
      return;
    }
    const timer = setTimeout(() => {
      this.delayed.delete(message.id);
      this.ready.push(message);
      this.pump();
    }, delayMs);
    timer.unref();
    this.delayed.set(message.id, { message, timer });
  }

  /** Starts handing batches to `handler`. */
  start(handler: BatchHandler): void {
    this.handler = handler;
    this.running = true;
    if (this.redriveDir && !this.redrivePoll) {
      this.redrivePoll = setInterval(() => void this.takeRedriven().catch(() => undefined), REDRIVE_POLL_MS);
      this.redrivePoll.unref();
    }
    this.pump();
  }

  /**
   * Stops taking new batches and waits for the running ones. Waiting and delayed messages stay in the
   * journal for the next run.
   */
  async stop(): Promise<void> {
    this.running = false;
    if (this.redrivePoll) clearInterval(this.redrivePoll);
    this.redrivePoll = undefined;
    await this.takingRedriven?.catch(() => undefined);
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.ready.length = 0;
    await Promise.allSettled([...this.batches]);
    this.notifyIdle();
    if (this.journal && !this.released) {
      this.released = true;
      await this.journal.release();
    }
  }

  /** Resolves when nothing is waiting, delayed or in flight. */
  idle(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    if (this.depth !== 0 && this.running) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private pump(): void {
    while (this.running && this.handler && this.inFlight < this.concurrency && this.ready.length > 0) {
      const batch = this.ready.splice(0, this.batchSize);
      const run = this.runBatch(this.handler, batch).finally(() => {
        this.batches.delete(run);
      });
      this.batches.add(run);
    }
  }

  private async runBatch(handler: BatchHandler, batch: QueueMessage[]): Promise<void> {
    this.inFlight++;
    this.inFlightMessages += batch.length;
    for (const message of batch) message.receiveCount++;
    let failed: ReadonlySet<string>;
    let errorOf: (id: string) => OutcomeError;
    try {
      const result = await handler(batch);
      failed = new Set(result.failed);
      errorOf = (id) => result.errors?.get(id) ?? UNREPORTED_FAILURE;
    } catch (error) {
      this.options.onHandlerError?.(error, batch);
      const thrown = thrownError(error);
      errorOf = () => thrown;
      failed = new Set(batch.map((message) => message.id));
    }
    try {
      await Promise.all(
        batch.map((message) => (failed.has(message.id) ? this.retryOrDeadLetter(message, errorOf(message.id)) : this.acknowledge(message))),
      );
    } finally {
      this.inFlight--;
      this.inFlightMessages -= batch.length;
      this.pump();
      this.notifyIdle();
    }
  }

  private async acknowledge(message: QueueMessage): Promise<void> {
    // Not synced: if the removal is lost in a crash the message is handled again, which consumers tolerate.
    await this.journal?.remove(this.journalName, message.id);
  }

  private async retryOrDeadLetter(message: QueueMessage, error: OutcomeError): Promise<void> {
    if (message.receiveCount >= this.maxReceiveCount) {
      await this.moveToDeadLetters(message, error);
      this.options.onDeadLetter?.(message, error);
      return;
    }
    if (!this.running) return; // stays in the journal for the next run
    const delayMs = Math.max(1, this.retryDelayMs(message.receiveCount));
    this.options.onRetry?.(message, error, delayMs);
    this.offer(message, delayMs);
  }

  /** Writes the dead letter (durably, with its error), then forgets the journal entry. */
  private async moveToDeadLetters(message: QueueMessage, error: OutcomeError): Promise<void> {
    if (!this.deadLetterDir) return;
    await fs.promises.mkdir(this.deadLetterDir, { recursive: true });
    const record: Omit<DeadLetterRecord, "id"> = {
      queue: this.name,
      body: message.body,
      sentTimestamp: message.sentTimestamp,
      receiveCount: message.receiveCount,
      error,
      deadLetteredAt: new Date().toISOString(),
    };
    await writeFileDurably(path.join(this.deadLetterDir, `${message.id}.json`), [Buffer.from(`${JSON.stringify(record, null, 2)}\n`)]);
    await this.journal?.remove(this.journalName, message.id);
  }
}
