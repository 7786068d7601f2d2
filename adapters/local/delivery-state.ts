/**
 * Local mode's delivery state: the IdempotencyStore, MessageProgress and ThrottleStore ports the
 * forwarder and the bouncer use, kept in memory and made durable in one append-only file with group
 * commit (append-log.ts), `DATA_DIR/delivery-state.jsonl`. In AWS these are items in the routing table
 * (adapters/aws/idempotency.ts, delivery-state.ts); locally, each of those items cost a DynamoDB round
 * trip through dynalite (about 1.5 ms of CPU each, four or five per message), where an appended line
 * and a shared fdatasync cost a small fraction of that.
 *
 * The contracts are the AWS adapters', checked by the same kind of tests:
 * - `once`: a completed key replays its recorded result; a key in progress elsewhere throws
 *   DeliveryInProgressError until its lock (the handler's remaining time) expires; a run that takes
 *   over an expired lock is told so (`interruptedEarlier`); a failed run leaves no record.
 * - `record`/`complete`: a set union of finished parts, returning every part done so far.
 * - `acquire`/`release`: one holder per key and window; release frees only the caller's own claim.
 * Every change is on disk (fdatasynced) before the call resolves, as a DynamoDB write is acknowledged
 * only once stored, but for two, which are written at once (they survive the process) and synced with
 * the next record that is: a completed import, synced with the message's progress that follows it (see
 * `once`), and, with `syncLocks: false`, the lock a run takes (see the option). Each saves a sync per
 * message. A change that cannot be written (a full disk) fails the call with DeliveryStateError and is
 * undone in memory.
 *
 * What it keeps, and how long: a delivery record for DELIVERY_RECORD_TTL_SECONDS (as the AWS one: as long
 * as anything can bring the message back to the forwarder); a message's finished parts for as long (the
 * AWS message record also keeps the message's fate for `ses-mail trace`, which local mode keeps in
 * `outcomes.jsonl` and `events.jsonl` instead, so the outcomes and decision handed to `record` are not
 * stored again here); a bounce claim for its window. Roughly 200 bytes of memory per delivery.
 */
import { randomUUID } from "node:crypto";
import { DeliveryInProgressError, DeliveryStateError } from "../../core/errors";
import type { IdempotencyStore, IdempotentRun, MessageProgress, MessageRecordEntry, ThrottleStore } from "../../core/ports";
import { DELIVERY_RECORD_TTL_SECONDS } from "../../core/retention";
import { AppendLog, type LogOpening, type LogRecord } from "./append-log";

type Result = Readonly<Record<string, string | number | boolean>>;

/** A (message, account) import: locked while it runs, then its recorded result. Times in epoch ms. */
type DeliveryRecord =
  | { readonly status: "in-progress"; readonly lockedUntil: number; readonly expiresAt: number }
  | { readonly status: "completed"; readonly result: Result; readonly expiresAt: number };

interface ProgressRecord {
  readonly parts: readonly string[];
  readonly expiresAt: number;
}

interface ThrottleClaim {
  readonly holder: string;
  readonly expiresAt: number;
}

/** The record kinds in the file. */
const Kind = {
  Delivery: "delivery",
  DeliveryRemoved: "delivery-removed",
  Progress: "progress",
  Throttle: "throttle",
  ThrottleRemoved: "throttle-removed",
} as const;

export interface LocalDeliveryStateOptions {
  /** `DATA_DIR/delivery-state.jsonl`. */
  readonly file: string;
  /** How long a run holds its lock: the handler's remaining time (Lambda: the invocation's). */
  readonly lockMs: () => number;
  /**
   * Whether a run's lock is synced before its work starts (default) or only written. Written is enough
   * when the work is idempotent by itself, as an import into a Maildir is (its file name is derived from
   * the bytes): a lock a power cut lost then only means the import is done again, to the same file.
   * A lock always survives the process (kill -9). Real Gmail keeps the default: it does not de-duplicate.
   */
  readonly syncLocks?: boolean;
  /** Epoch milliseconds; injected by tests. */
  readonly now?: () => number;
  /** Tests only: compact the file from this size on (append-log.ts COMPACT_MIN_BYTES). */
  readonly compactMinBytes?: number;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isResult(value: unknown): value is Result {
  return (
    typeof value === "object" &&
    value !== null &&
    Object.values(value).every((field) => ["string", "number", "boolean"].includes(typeof field))
  );
}

export class LocalDeliveryState {
  readonly file: string;
  private readonly deliveries = new Map<string, DeliveryRecord>();
  private readonly progress = new Map<string, ProgressRecord>();
  private readonly throttles = new Map<string, ThrottleClaim>();
  private readonly now: () => number;
  private readonly lockMs: () => number;
  private readonly syncLocks: boolean;
  private log!: AppendLog;
  /** What opening the file found. */
  opening: LogOpening = { records: 0, skipped: 0 };

  private constructor(options: LocalDeliveryStateOptions) {
    this.file = options.file;
    this.now = options.now ?? Date.now;
    this.lockMs = options.lockMs;
    this.syncLocks = options.syncLocks ?? true;
  }

  /** Opens the file (created if missing) and loads what it holds. */
  static async open(options: LocalDeliveryStateOptions): Promise<LocalDeliveryState> {
    const state = new LocalDeliveryState(options);
    const { log, opening } = await AppendLog.open({
      file: options.file,
      replay: (record) => state.replay(record),
      snapshot: () => state.snapshot(),
      ...(options.compactMinBytes !== undefined ? { compactMinBytes: options.compactMinBytes } : {}),
    });
    state.log = log;
    state.opening = opening;
    return state;
  }

  close(): Promise<void> {
    return this.log.close();
  }

  /** fdatasyncs of the file so far (tests: which changes wait for the disk). */
  get syncs(): number {
    return this.log.counts.syncs;
  }

  /** The IdempotencyStore port (the forwarder's imports). */
  readonly idempotency: IdempotencyStore = {
    once: <T extends Result>(key: string, work: (run: IdempotentRun) => Promise<T>) => this.once(key, work),
  };

  /** The MessageProgress port (who is done with each raw message). */
  readonly messageProgress: MessageProgress = {
    complete: async (messageId, parts) => {
      if (parts.length === 0) throw new DeliveryStateError(`message ${messageId}: no parts to mark done`);
      return this.record(messageId, { outcomes: [], partsDone: parts });
    },
    record: (messageId, entry) => this.record(messageId, entry),
  };

  /** The ThrottleStore port (the bouncer's one bounce per sender and recipient per window). */
  readonly throttle: ThrottleStore = {
    acquire: (key, windowSeconds) => this.acquire(key, windowSeconds),
    release: (key) => this.release(key),
  };

  private expiryFromNow(seconds: number): number {
    return this.now() + seconds * 1000;
  }

  private async persist(record: LogRecord, what: string, undo: () => void, options: { sync?: boolean } = {}): Promise<void> {
    try {
      await this.log.append(record, options);
    } catch (error) {
      undo();
      throw new DeliveryStateError(`cannot record ${what} in ${this.file}: ${describe(error)}`, { cause: error });
    }
  }

  private async once<T extends Result>(key: string, work: (run: IdempotentRun) => Promise<T>): Promise<{ value: T; replayed: boolean }> {
    // An empty key must fail, never run the work without protection.
    if (!key) throw new DeliveryStateError("an import without an idempotency key");
    const now = this.now();
    const existing = this.live(this.deliveries, key, now);
    if (existing?.status === "completed") return { value: { ...existing.result } as T, replayed: true };
    if (existing && existing.lockedUntil > now) throw new DeliveryInProgressError(key);
    const interruptedEarlier = existing !== undefined;

    const lock: DeliveryRecord = {
      status: "in-progress",
      lockedUntil: now + this.lockMs(),
      expiresAt: this.expiryFromNow(DELIVERY_RECORD_TTL_SECONDS),
    };
    const restore = () => {
      if (this.deliveries.get(key) !== lock) return;
      if (existing) this.deliveries.set(key, existing);
      else this.deliveries.delete(key);
    };
    this.deliveries.set(key, lock);
    await this.persist(deliveryRecord(key, lock), `the start of delivery ${key}`, restore, { sync: this.syncLocks });

    let value: T;
    try {
      value = await work({ interruptedEarlier });
    } catch (error) {
      // A failed run leaves no record, so a retry runs it again.
      if (this.deliveries.get(key) === lock) {
        this.deliveries.delete(key);
        await this.log.append({ kind: Kind.DeliveryRemoved, key }).catch(() => undefined);
      }
      throw error;
    }
    if (!isResult(value))
      throw new DeliveryStateError(`delivery ${key}: the recorded result must be a flat object of strings, numbers and booleans`);
    const done: DeliveryRecord = { status: "completed", result: { ...value }, expiresAt: this.expiryFromNow(DELIVERY_RECORD_TTL_SECONDS) };
    this.deliveries.set(key, done);
    // Written at once, and synced with the next record that is: the message's progress, which the
    // forwarder records next, before the raw message can be deleted (so a completion is on disk before
    // anything depends on it). A power cut in between leaves the lock, as a crash before an AWS record
    // is marked complete does: a retry waits it out and imports again, told so (interruptedEarlier).
    await this.persist(
      deliveryRecord(key, done),
      `delivery ${key}`,
      () => {
        if (this.deliveries.get(key) === done) this.deliveries.set(key, lock);
      },
      { sync: false },
    );
    return { value, replayed: false };
  }

  private async record(messageId: string, entry: MessageRecordEntry): Promise<readonly string[]> {
    const parts = [...new Set(entry.partsDone ?? [])];
    // The outcomes and the decision are in outcomes.jsonl and events.jsonl already (see the top of this file).
    if (parts.length === 0) return [];
    const existing = this.live(this.progress, messageId, this.now());
    const record: ProgressRecord = {
      parts: [...new Set([...(existing?.parts ?? []), ...parts])],
      expiresAt: this.expiryFromNow(DELIVERY_RECORD_TTL_SECONDS),
    };
    this.progress.set(messageId, record);
    await this.persist(
      { kind: Kind.Progress, messageId, parts: record.parts, expiresAt: record.expiresAt },
      `the progress of message ${messageId}`,
      () => {
        if (this.progress.get(messageId) !== record) return;
        if (existing) this.progress.set(messageId, existing);
        else this.progress.delete(messageId);
      },
    );
    return record.parts;
  }

  /** Claims held by this process, so release frees only its own. */
  private readonly held = new Map<string, ThrottleClaim>();

  private async acquire(key: string, windowSeconds: number): Promise<boolean> {
    const existing = this.live(this.throttles, key, this.now());
    if (existing) return false;
    const claim: ThrottleClaim = { holder: randomUUID(), expiresAt: this.expiryFromNow(windowSeconds) };
    this.throttles.set(key, claim);
    await this.persist({ kind: Kind.Throttle, key, holder: claim.holder, expiresAt: claim.expiresAt }, `the bounce claim ${key}`, () => {
      if (this.throttles.get(key) === claim) this.throttles.delete(key);
    });
    this.held.set(key, claim);
    return true;
  }

  private async release(key: string): Promise<void> {
    const claim = this.held.get(key);
    if (!claim) return;
    this.held.delete(key);
    // Someone else's claim now (this one expired and was taken): theirs to keep.
    if (this.throttles.get(key) !== claim) return;
    this.throttles.delete(key);
    await this.persist({ kind: Kind.ThrottleRemoved, key }, `the release of bounce claim ${key}`, () => {
      if (!this.throttles.has(key)) this.throttles.set(key, claim);
    });
  }

  /** The entry for a key unless it has expired (an expired one is forgotten). */
  private live<V extends { readonly expiresAt: number }>(map: Map<string, V>, key: string, now: number): V | undefined {
    const value = map.get(key);
    if (value && value.expiresAt <= now) {
      map.delete(key);
      return undefined;
    }
    return value;
  }

  /** Applies one record of the file (opening it). Unknown or malformed records are ignored. */
  private replay(record: LogRecord): void {
    const key = typeof record.key === "string" ? record.key : undefined;
    const expiresAt = typeof record.expiresAt === "number" ? record.expiresAt : 0;
    switch (record.kind) {
      case Kind.Delivery:
        if (!key) return;
        if (record.status === "completed" && isResult(record.result))
          this.deliveries.set(key, { status: "completed", result: record.result, expiresAt });
        else if (record.status === "in-progress" && typeof record.lockedUntil === "number")
          this.deliveries.set(key, { status: "in-progress", lockedUntil: record.lockedUntil, expiresAt });
        return;
      case Kind.DeliveryRemoved:
        if (key) this.deliveries.delete(key);
        return;
      case Kind.Progress:
        if (typeof record.messageId === "string" && Array.isArray(record.parts)) {
          this.progress.set(record.messageId, {
            parts: record.parts.filter((part): part is string => typeof part === "string"),
            expiresAt,
          });
        }
        return;
      case Kind.Throttle:
        if (key && typeof record.holder === "string") this.throttles.set(key, { holder: record.holder, expiresAt });
        return;
      case Kind.ThrottleRemoved:
        if (key) this.throttles.delete(key);
        return;
    }
  }

  /** Every live entry as a record: what a compacted file holds. */
  private *snapshot(): Iterable<LogRecord> {
    const now = this.now();
    for (const [key, value] of this.deliveries) if (value.expiresAt > now) yield deliveryRecord(key, value);
    for (const [messageId, value] of this.progress)
      if (value.expiresAt > now) yield { kind: Kind.Progress, messageId, parts: value.parts, expiresAt: value.expiresAt };
    for (const [key, value] of this.throttles)
      if (value.expiresAt > now) yield { kind: Kind.Throttle, key, holder: value.holder, expiresAt: value.expiresAt };
  }
}

function deliveryRecord(key: string, value: DeliveryRecord): LogRecord {
  return { kind: Kind.Delivery, key, ...value };
}
