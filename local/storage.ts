/**
 * Whether local mode can persist now: its data directory's filesystem has room (STORAGE_MIN_FREE_BYTES
 * and STORAGE_MIN_FREE_INODES) and its DynamoDB store is up (it is restarted after LevelDB could not
 * write). While it cannot:
 * - intake answers MAIL FROM with 451 (the sender keeps the message and retries);
 * - the router and the handlers wait before they run, and a call that failed while storage failed is
 *   run again once it is back, so a full disk never uses up a queued message's receives and sends it
 *   to a dead-letter folder: mail accepted before the disk filled is delivered after, once.
 * Nothing has to be done to resume: every check looks again.
 */
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import * as fs from "node:fs";
import { errorMessage } from "../core/errors";
import type { Router } from "../handlers/router";
import type { DynamoDbStatus } from "./dynamodb";
import { STORAGE_CHECK_REUSE_MS, STORAGE_MIN_FREE_BYTES, STORAGE_MIN_FREE_INODES, STORAGE_RECHECK_MS } from "./limits";
import type { SqsHandler } from "./pipeline";

export interface StorageMonitorOptions {
  /** The data directory: its filesystem's free space is what counts. */
  readonly dir: string;
  readonly dynamo?: { status(): DynamoDbStatus; onStatusChange(listener: (status: DynamoDbStatus) => void): void };
  /** A line when persisting stops being possible, and one when it is again. */
  readonly note?: (line: string) => void;
  /** How often to look again while local mode cannot persist. Default STORAGE_RECHECK_MS. */
  readonly recheckMs?: number;
}

/** Thrown to a call waiting for storage when local mode stops: the message stays queued for the next start. */
export class StorageStoppedError extends Error {
  constructor() {
    super("local mode is stopping while storage cannot persist; the message stays queued");
    this.name = "StorageStoppedError";
  }
}

function megabytes(bytes: number): string {
  return `${Math.floor(bytes / (1024 * 1024))} MB`;
}

export class StorageMonitor {
  private current: string | undefined;
  /** How many times persisting became impossible: a failed call that saw it change is run again. */
  private outages = 0;
  private wakers: Array<() => void> = [];
  private stopped = false;
  private checkedAt = 0;

  constructor(private readonly options: StorageMonitorOptions) {
    options.dynamo?.onStatusChange((status) => {
      if (!status.available) this.update(`the DynamoDB store failed (${status.reason})`);
      this.wake();
    });
  }

  /** The last known reason local mode cannot persist, or undefined. */
  problem(): string | undefined {
    return this.current;
  }

  /**
   * Looks again (free space, the DynamoDB store) and returns why local mode cannot persist, or
   * undefined. A good answer less than STORAGE_CHECK_REUSE_MS old is reused unless `fresh`.
   */
  async check(options: { fresh?: boolean } = {}): Promise<string | undefined> {
    const dynamo = this.options.dynamo?.status();
    if (!options.fresh && this.current === undefined && (dynamo?.available ?? true) && Date.now() - this.checkedAt < STORAGE_CHECK_REUSE_MS)
      return undefined;
    // A failure the DynamoDB worker has just posted is read before the verdict.
    if (options.fresh) await new Promise((resolve) => setImmediate(resolve));
    return this.look();
  }

  private async look(): Promise<string | undefined> {
    const dynamo = this.options.dynamo?.status();
    let problem = dynamo && !dynamo.available ? `the DynamoDB store failed (${dynamo.reason})` : undefined;
    if (!problem) {
      try {
        const stats = await fs.promises.statfs(this.options.dir);
        const free = stats.bavail * stats.bsize;
        if (free < STORAGE_MIN_FREE_BYTES)
          problem = `only ${megabytes(free)} free under ${this.options.dir}, ${megabytes(STORAGE_MIN_FREE_BYTES)} needed`;
        // Some filesystems report no inode counts (files 0); an inode shortage is ENOSPC all the same.
        else if (stats.files > 0 && stats.ffree < STORAGE_MIN_FREE_INODES)
          problem = `only ${stats.ffree} free inodes under ${this.options.dir}, ${STORAGE_MIN_FREE_INODES} needed`;
      } catch (error) {
        problem = `cannot read the free space under ${this.options.dir}: ${errorMessage(error)}`;
      }
    }
    this.checkedAt = problem === undefined ? Date.now() : 0;
    this.update(problem);
    return problem;
  }

  /** Resolves once local mode can persist (checking every `recheckMs` meanwhile); rejects when it stops. */
  async ready(): Promise<void> {
    for (;;) {
      if (this.stopped) throw new StorageStoppedError();
      if ((await this.check({ fresh: this.current !== undefined })) === undefined) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.options.recheckMs ?? STORAGE_RECHECK_MS);
        const wakers = this.wakers;
        function done() {
          clearTimeout(timer);
          resolve();
        }
        wakers.push(done);
      });
    }
  }

  /**
   * An SQS handler that runs only while storage can persist. Records it failed while storage failed are
   * run again once storage is back (the handlers are idempotent), instead of counting as a failed receive.
   */
  guard(handler: SqsHandler): SqsHandler {
    return async (event: SQSEvent): Promise<SQSBatchResponse | void> => {
      let records = event.Records;
      const succeeded: string[] = [];
      for (;;) {
        await this.ready();
        const outagesBefore = this.outages;
        let failed: Set<string>;
        let thrown: unknown;
        try {
          const response = await handler({ Records: records });
          failed = new Set((response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
        } catch (error) {
          thrown = error;
          failed = new Set(records.map((record) => record.messageId));
        }
        succeeded.push(...records.filter((record) => !failed.has(record.messageId)).map((record) => record.messageId));
        if (failed.size === 0) return { batchItemFailures: [] };
        if (!(await this.failedWithStorage(outagesBefore))) {
          if (thrown !== undefined && succeeded.length === 0) throw thrown;
          return { batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })) };
        }
        records = records.filter((record) => failed.has(record.messageId));
      }
    };
  }

  /** The router (the Pipe's enrichment) run only while storage can persist, and again if it failed while storage failed. */
  guardRouter(router: Router): Router {
    return async (records) => {
      for (;;) {
        await this.ready();
        const outagesBefore = this.outages;
        try {
          return await router(records);
        } catch (error) {
          if (!(await this.failedWithStorage(outagesBefore))) throw error;
        }
      }
    };
  }

  /** Stops waiting: calls waiting for storage reject with StorageStoppedError. */
  stop(): void {
    this.stopped = true;
    this.wake();
  }

  /** After a failed call: whether storage failed meanwhile or fails now (then the call is run again once it is back). */
  private async failedWithStorage(outagesBefore: number): Promise<boolean> {
    if (this.stopped) return false;
    return (await this.check({ fresh: true })) !== undefined || this.outages !== outagesBefore;
  }

  private update(problem: string | undefined): void {
    if (problem === this.current) return;
    const was = this.current;
    this.current = problem;
    if (problem !== undefined && was === undefined) {
      this.outages++;
      this.options.note?.(`storage: cannot persist: ${problem}; new mail is refused with 451 and deliveries wait until it can`);
    } else if (problem === undefined) {
      this.options.note?.(`storage: can persist again; accepting mail and delivering`);
    }
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }
}
