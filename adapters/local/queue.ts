/**
 * Local mode's SQS: an in-process queue with SQS's delivery contract (at least once, batches, partial
 * batch failures, a receive count, a dead-letter queue after `maxReceiveCount` failed receives), made
 * durable by a journal: each message is a file `<dir>/<id>.json`, fsynced before `enqueue` resolves and
 * deleted once a consumer has finished with it. A journal file a crash cut short does not parse; it
 * belongs to an enqueue that never resolved, and is set aside in the dead-letter folder for inspection. On start, `recover()` reloads whatever a crash left, so
 * work accepted before the crash is done after it. Receive counts live in memory and restart from 0
 * after a restart (a crash is not the message's fault).
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { RetryQueue } from "../../core/ports";
import { createFileDurably, isNotFound, removeFile, writeFileDurably } from "./durable-file";

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

/** What a consumer reports: the ids that failed (SQS's `batchItemFailures`). Throwing fails the whole batch. */
export type BatchHandler = (messages: readonly QueueMessage[]) => Promise<{ failed: readonly string[] }>;

export interface LocalQueueOptions {
  readonly name: string;
  /** Journal folder; without one the queue lives in memory only (tests). */
  readonly dir?: string;
  /** Where dead letters are kept (one JSON file each); defaults to `<dir>-dlq`. */
  readonly deadLetterDir?: string;
  /** Messages per handler call, as an event source mapping's BatchSize. Default 10 (SQS's maximum). */
  readonly batchSize?: number;
  /** Handler calls running at once, as a function's concurrency. Default 1. */
  readonly concurrency?: number;
  /** Failed receives before a message goes to the dead-letter queue. Default 3 (the seed's redrive policy). */
  readonly maxReceiveCount?: number;
  /** Delay before a failed message is offered again (SQS: the visibility timeout). */
  readonly retryDelayMs?: (receiveCount: number) => number;
  /** Called when a message is moved to the dead-letter queue. */
  readonly onDeadLetter?: (message: QueueMessage, reason: string) => void;
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
  return `${now.toString(36).padStart(9, "0")}-${(++sequence).toString(36).padStart(6, "0")}-${randomBytes(4).toString("hex")}`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class LocalQueue implements RetryQueue {
  readonly name: string;
  private readonly dir: string | undefined;
  private readonly deadLetterDir: string | undefined;
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
  private dirReady: Promise<unknown> | undefined;

  constructor(options: LocalQueueOptions) {
    this.options = options;
    this.name = options.name;
    this.dir = options.dir;
    this.deadLetterDir = options.deadLetterDir ?? (options.dir ? `${options.dir}-dlq` : undefined);
    this.batchSize = options.batchSize ?? SQS_MAX_BATCH_SIZE;
    this.concurrency = options.concurrency ?? 1;
    this.maxReceiveCount = options.maxReceiveCount ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? ((count) => Math.min(DEFAULT_RETRY_BASE_MS * 2 ** (count - 1), DEFAULT_RETRY_MAX_MS));
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1 || this.batchSize > SQS_MAX_BATCH_SIZE) {
      throw new RangeError(`queue ${this.name}: batchSize must be 1 to ${SQS_MAX_BATCH_SIZE}`);
    }
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new RangeError(`queue ${this.name}: concurrency must be at least 1`);
    if (!Number.isInteger(this.maxReceiveCount) || this.maxReceiveCount < 1) throw new RangeError(`queue ${this.name}: maxReceiveCount must be at least 1`);
  }

  /** Messages waiting, delayed for a retry, or being handled. */
  get depth(): number {
    return this.ready.length + this.delayed.size + this.inFlightMessages;
  }

  /**
   * Loads the journal a previous run left (call before `start`). Returns how many messages it recovered.
   * A journal file that cannot be read is moved to the dead-letter folder rather than blocking the queue.
   */
  async recover(): Promise<number> {
    if (!this.dir) return 0;
    await fs.promises.mkdir(this.dir, { recursive: true });
    const names = (await fs.promises.readdir(this.dir)).filter((name) => name.endsWith(".json")).sort();
    let recovered = 0;
    for (const name of names) {
      const file = path.join(this.dir, name);
      try {
        const parsed = JSON.parse(await fs.promises.readFile(file, "utf8")) as { body?: unknown; sentTimestamp?: unknown; visibleAt?: unknown };
        if (typeof parsed.body !== "string" || typeof parsed.sentTimestamp !== "number") throw new Error("not a queue message");
        const visibleAt = typeof parsed.visibleAt === "number" ? parsed.visibleAt : 0;
        this.offer({ id: name.slice(0, -".json".length), body: parsed.body, sentTimestamp: parsed.sentTimestamp, visibleAt, receiveCount: 0 });
        recovered++;
      } catch (error) {
        await this.moveToDeadLetters(name.slice(0, -".json".length), file, `unreadable journal entry: ${errorText(error)}`);
      }
    }
    this.pump();
    return recovered;
  }

  /**
   * Adds a message and returns its id; resolves once it is durable (journal file and folder fsynced).
   * `delaySeconds` hides it that long first, as SQS's DelaySeconds (at most 900).
   */
  async send(body: string, options: { delaySeconds?: number } = {}): Promise<string> {
    const delaySeconds = options.delaySeconds ?? 0;
    if (!(delaySeconds >= 0 && delaySeconds <= SQS_MAX_DELAY_SECONDS)) {
      throw new RangeError(`queue ${this.name}: delaySeconds must be 0 to ${SQS_MAX_DELAY_SECONDS}`);
    }
    const now = Date.now();
    const id = newMessageId(now);
    const visibleAt = delaySeconds > 0 ? now + delaySeconds * 1000 : 0;
    if (this.dir) {
      this.dirReady ??= fs.promises.mkdir(this.dir, { recursive: true });
      await this.dirReady;
      await createFileDurably(path.join(this.dir, `${id}.json`), [Buffer.from(JSON.stringify({ body, sentTimestamp: now, visibleAt }))]);
    }
    this.offer({ id, body, sentTimestamp: now, visibleAt, receiveCount: 0 });
    return id;
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
    this.pump();
  }

  /**
   * Stops taking new batches and waits for the running ones. Waiting and delayed messages stay in the
   * journal for the next run.
   */
  async stop(): Promise<void> {
    this.running = false;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.ready.length = 0;
    await Promise.allSettled([...this.batches]);
    this.notifyIdle();
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
    let reason = "reported as failed by the consumer";
    try {
      failed = new Set((await handler(batch)).failed);
    } catch (error) {
      this.options.onHandlerError?.(error, batch);
      reason = `the consumer threw: ${errorText(error)}`;
      failed = new Set(batch.map((message) => message.id));
    }
    try {
      await Promise.all(batch.map((message) => (failed.has(message.id) ? this.retryOrDeadLetter(message, reason) : this.acknowledge(message))));
    } finally {
      this.inFlight--;
      this.inFlightMessages -= batch.length;
      this.pump();
      this.notifyIdle();
    }
  }

  private async acknowledge(message: QueueMessage): Promise<void> {
    if (!this.dir) return;
    // No fsync: if the deletion is lost in a crash the message is handled again, which consumers tolerate.
    await removeFile(path.join(this.dir, `${message.id}.json`));
  }

  private async retryOrDeadLetter(message: QueueMessage, reason: string): Promise<void> {
    if (message.receiveCount >= this.maxReceiveCount) {
      await this.moveToDeadLetters(message.id, this.dir ? path.join(this.dir, `${message.id}.json`) : undefined, reason, message);
      this.options.onDeadLetter?.(message, reason);
      return;
    }
    if (!this.running) return; // stays in the journal for the next run
    this.offer(message, Math.max(1, this.retryDelayMs(message.receiveCount)));
  }

  private async moveToDeadLetters(id: string, journalFile: string | undefined, reason: string, message?: QueueMessage): Promise<void> {
    if (!this.deadLetterDir) return;
    await fs.promises.mkdir(this.deadLetterDir, { recursive: true });
    const target = path.join(this.deadLetterDir, `${id}.json`);
    if (message) {
      const record = { body: message.body, sentTimestamp: message.sentTimestamp, receiveCount: message.receiveCount, reason, deadLetteredAt: new Date().toISOString() };
      await writeFileDurably(target, [Buffer.from(`${JSON.stringify(record, null, 2)}\n`)]);
      if (journalFile) await fs.promises.rm(journalFile, { force: true });
      return;
    }
    if (!journalFile) return;
    try {
      await fs.promises.rename(journalFile, target);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
