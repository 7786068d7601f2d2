/**
 * Local mode's SNS → SQS → Pipes → EventBridge → SQS, in process, carrying the same event shapes:
 *
 *   input queue ──(pipe: the router Lambda's code)──▶ bus ──(GMAIL_FORWARDER_PATTERN)──▶ forwarder queue ─▶ forwarder handler
 *                                                      ├──(BOUNCER_PATTERN)─────────▶ bouncer queue ───▶ bouncer handler
 *                                                      └──(ALL_DECISIONS_PATTERN)───▶ DATA_DIR/events.jsonl
 *   retry queue ─▶ forwarder handler (the retry processor's job)
 *
 * Each queue is journalled under DATA_DIR/queues/<name>, so whatever was accepted and not yet done is
 * picked up again after a crash; handlers are idempotent (the forwarder's records in the routing
 * table), so doing a step twice never delivers twice. The bus matches decisions against the very
 * pattern objects the infrastructure deploys (core/event-patterns.ts).
 *
 * The handlers report what they do as outcomes (core/outcomes.ts) through the sinks `outcomeSink`
 * gives them. The pipeline appends each to DATA_DIR/outcomes.jsonl (a record for `ses-mail trace`, not
 * a guarantee: no fsync), keeps a message's outcomes until it is done to print its one line
 * (local/log-line.ts), and gives a dead letter the error its stage reported for it.
 */
import { createHash, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { DECISION_DETAIL_TYPE, DECISION_SOURCE, type DecisionDetail } from "../core/decision";
import { errorMessage } from "../core/errors";
import { ALL_DECISIONS_PATTERN, BOUNCER_PATTERN, GMAIL_FORWARDER_PATTERN, type EventPattern } from "../core/event-patterns";
import {
  outcomeError,
  UNEXPECTED_ERROR_CODE,
  type DeadLetteredOutcome,
  type Outcome,
  type OutcomeError,
  type OutcomeStage,
} from "../core/outcomes";
import type { OutcomeSink } from "../core/ports";
import type { Router, RoutedRecord } from "../handlers/router";
import { compileEventPattern } from "../adapters/local/event-pattern";
import { JsonLinesFile } from "../adapters/local/json-lines";
import { LocalQueue, type BatchResult, type QueueMessage, type Recovery } from "../adapters/local/queue";
import { crashPoint, deliveryLockMs } from "./crash-points";
import { dataFiles, deadLetterCommands, LOCAL_QUEUE_FOLDERS, queueDir, queueRoleOf, type LocalQueueRole } from "./data-dir";
import { deadLetterLine, messageLine, retryLine, type LineOptions } from "./log-line";
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from "./notification";
import { detailOf, messageIdOf } from "./queue-bodies";

/** An SQS-triggered Lambda handler with partial batch responses (the forwarder, the bouncer). */
export type SqsHandler = (event: SQSEvent) => Promise<SQSBatchResponse | void>;

export const QUEUE_NAMES = {
  input: "ses-email-input-local",
  forwarder: "ses-gmail-forwarder-local",
  bouncer: "ses-bouncer-local",
  retry: "ses-mail-gmail-forwarder-retry-local",
} as const;

/**
 * How long a handler call may hold a delivery lock before another may take it over: the forwarder's
 * idempotency record of an import a crash interrupted expires after this (Lambda: the remaining time).
 */
export const LOCAL_HANDLER_TIMEOUT_MS = 30_000;

/** LOCAL_HANDLER_TIMEOUT_MS, unless a crash test shortened it (local/crash-points.ts). */
export function localHandlerTimeoutMs(): number {
  return deliveryLockMs(LOCAL_HANDLER_TIMEOUT_MS);
}

/**
 * Retry schedules, in the spirit of the deployed queues but short enough for a person watching:
 * the forwarder and bouncer wait out a handler timeout (a redelivery during a crashed import's lock
 * would only fail again), the pipe retries quickly (routing is cheap), the retry queue follows the
 * seed's retry processor (30 s, 60 s, 120 s).
 */
const RETRY_DELAYS = {
  input: (count: number) => Math.min(1000 * 2 ** (count - 1), 10_000),
  handler: () => localHandlerTimeoutMs(),
  retry: (count: number) => 30_000 * 2 ** (count - 1),
};

export interface PipelineOptions {
  readonly dataDir: string;
  readonly router: Router;
  readonly forwarder: SqsHandler;
  readonly bouncer: SqsHandler;
  /** Operator lines: one per message, plus dead letters. */
  readonly output: (line: string) => void;
  /** Overrides for tests: delays before a failed message is offered again. */
  readonly retryDelayMs?: (queue: keyof typeof QUEUE_NAMES, receiveCount: number) => number;
}

/** One message's progress through the stages the bus sent it to. */
interface Tracked {
  readonly detail: DecisionDetail;
  readonly pending: Set<string>;
}

/** The handler stage that runs for each queue (its outcomes come through that stage's sink). */
const STAGE_OF: Record<LocalQueueRole, OutcomeStage> = {
  input: "router",
  forwarder: "gmail-forwarder",
  bouncer: "bouncer",
  retry: "gmail-forwarder",
};
/** How a console line names the stage of each queue. */
const STAGE_LABEL: Record<LocalQueueRole, string> = {
  input: "router",
  forwarder: "forwarder",
  bouncer: "bouncer",
  retry: "forwarder (retry queue)",
};

/** Outcome kinds that say why a record failed; the record's dead letter keeps that error. */
function failureOf(outcome: Outcome): OutcomeError | undefined {
  switch (outcome.kind) {
    case "import-failed":
    case "bounce-failed":
    case "routing-failed":
    case "invalid-record":
      return outcome.error;
    case "given-up":
      return outcome.reason;
    default:
      return undefined;
  }
}

/** Several errors of one record as one (the same shape outcomeError gives an AggregateError). */
function joinErrors(errors: readonly OutcomeError[]): OutcomeError {
  if (errors.length === 1) return errors[0]!;
  const codes = [...new Set(errors.map((error) => error.code))];
  return { code: codes.length === 1 ? codes[0]! : UNEXPECTED_ERROR_CODE, message: errors.map((error) => error.message).join("; ") };
}

function md5(text: string): string {
  return createHash("md5").update(text).digest("hex");
}

/** The SQS record a Lambda event source mapping would hand over for a queue message. */
export function sqsRecordOf(queueName: string, message: QueueMessage): SQSRecord {
  return {
    messageId: message.id,
    receiptHandle: `local-${message.id}-${message.receiveCount}`,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(message.receiveCount),
      SentTimestamp: String(message.sentTimestamp),
      SenderId: LOCAL_ACCOUNT_ID,
      ApproximateFirstReceiveTimestamp: String(message.sentTimestamp),
    },
    messageAttributes: {},
    md5OfBody: md5(message.body),
    eventSource: "aws:sqs",
    eventSourceARN: `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:${queueName}`,
    awsRegion: LOCAL_REGION,
  };
}

/** The EventBridge event the Pipe puts on the bus for a decision. */
export function decisionEvent(detail: DecisionDetail, now: Date = new Date()): Record<string, unknown> {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": DECISION_DETAIL_TYPE,
    source: DECISION_SOURCE,
    account: LOCAL_ACCOUNT_ID,
    time: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
    region: LOCAL_REGION,
    resources: [],
    detail,
  };
}

export class Pipeline {
  readonly input: LocalQueue;
  readonly forwarderQueue: LocalQueue;
  readonly bouncerQueue: LocalQueue;
  readonly retryQueue: LocalQueue;
  readonly eventsFile: string;
  private readonly events: JsonLinesFile;
  private readonly outcomeLog: JsonLinesFile;
  private readonly options: PipelineOptions;
  private readonly lineOptions: LineOptions;
  private readonly tracked = new Map<string, Tracked>();
  /** The decision each handler-queue message sent from the bus carries, by queue message id: read again at settle without parsing the body. */
  private readonly sentDecisions = new Map<string, DecisionDetail>();
  /** The outcomes of messages not yet done, by SES message id: what their line is made of. */
  private readonly pendingOutcomes = new Map<string, Outcome[]>();
  /** Errors reported for records not yet settled, by stage and message (or SQS message) id. */
  private readonly failures = new Map<string, OutcomeError[]>();
  private progressWaiters: Array<() => void> = [];
  /** The bus rules: each target is the decisions log or a handler queue (with the stage it feeds). */
  private readonly rules: Array<{
    name: string;
    matches: (event: unknown) => boolean;
    target: "events" | { readonly queue: LocalQueue; readonly stage: string };
  }>;
  private readonly listeners: Array<(detail: DecisionDetail, outcomes: readonly Outcome[], doneAt: Date) => void> = [];

  constructor(options: PipelineOptions) {
    this.options = options;
    const delay = (queue: keyof typeof QUEUE_NAMES, fallback: (count: number) => number) => (count: number) =>
      options.retryDelayMs ? options.retryDelayMs(queue, count) : fallback(count);
    const queue = (role: LocalQueueRole, settings: { batchSize: number; concurrency: number; retryDelayMs: (count: number) => number }) =>
      new LocalQueue({
        name: QUEUE_NAMES[role],
        dir: queueDir(options.dataDir, role),
        ...settings,
        onDeadLetter: (message, error) => this.deadLettered(role, message, error),
        onRetry: (message, error, delayMs) => this.retrying(role, message, error, delayMs),
      });
    this.input = queue("input", { batchSize: 10, concurrency: 2, retryDelayMs: delay("input", RETRY_DELAYS.input) });
    this.forwarderQueue = queue("forwarder", { batchSize: 10, concurrency: 4, retryDelayMs: delay("forwarder", RETRY_DELAYS.handler) });
    this.bouncerQueue = queue("bouncer", { batchSize: 10, concurrency: 2, retryDelayMs: delay("bouncer", RETRY_DELAYS.handler) });
    this.retryQueue = queue("retry", { batchSize: 10, concurrency: 1, retryDelayMs: delay("retry", RETRY_DELAYS.retry) });
    const files = dataFiles(options.dataDir);
    this.eventsFile = files.events;
    this.events = new JsonLinesFile(this.eventsFile);
    this.outcomeLog = new JsonLinesFile(files.outcomes, (error) =>
      options.output(`cannot append to ${files.outcomes} (trace will miss what happens until it can): ${error.message}`),
    );
    this.lineOptions = {
      deadLetterCommand: (folder) => {
        const role = queueRoleOf(folder);
        return role ? deadLetterCommands(options.dataDir, role).show : undefined;
      },
    };
    const rule = (name: string, pattern: EventPattern, target: "events" | { queue: LocalQueue; stage: string }) => ({
      name,
      matches: compileEventPattern(pattern),
      target,
    });
    // The bus rules, as the infrastructure deploys them: the log target first, so a decision is on
    // record before anything acts on it.
    this.rules = [
      rule("log-all-decisions", ALL_DECISIONS_PATTERN, "events"),
      rule("route-to-gmail", GMAIL_FORWARDER_PATTERN, { queue: this.forwarderQueue, stage: "forwarder" }),
      rule("route-to-bouncer", BOUNCER_PATTERN, { queue: this.bouncerQueue, stage: "bouncer" }),
    ];
  }

  /** Accepted messages still being routed or delivered (parked retries not counted). */
  backlog(): number {
    return this.input.depth + this.forwarderQueue.depth + this.bouncerQueue.depth;
  }

  /** Resolves when a message is done (the backlog may have shrunk), or after `ms`. */
  waitForProgress(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.progressWaiters.push(done);
    });
  }

  /**
   * Where a handler stage reports its outcomes: each is appended to outcomes.jsonl and kept for the
   * message's line; an error is kept for the record's retry line and dead letter. Never throws.
   */
  outcomeSink(stage: OutcomeStage): OutcomeSink {
    return { record: (outcome) => this.recordOutcome(stage, outcome) };
  }

  /** What a stage's sink does with each outcome (see outcomeSink). A record that cannot be kept is said, never thrown. */
  recordOutcome(stage: OutcomeStage, outcome: Outcome): void {
    try {
      this.keepOutcome(stage, outcome);
    } catch (error) {
      this.options.output(`cannot record a ${outcome.kind} outcome: ${errorMessage(error)}`);
    }
  }

  private keepOutcome(stage: OutcomeStage, outcome: Outcome): void {
    // The decision itself is in events.jsonl already: the record says only when it was made.
    this.outcomeLog.append(outcome.kind === "routed" ? { kind: outcome.kind, messageId: outcome.messageId, at: outcome.at } : outcome);
    const error = failureOf(outcome);
    if (error) {
      const key = outcome.kind === "invalid-record" ? `${stage} sqs ${outcome.sqsMessageId}` : `${stage} ${outcome.messageId}`;
      this.failures.set(key, [...(this.failures.get(key) ?? []), error]);
    }
    if (outcome.kind === "invalid-record") return;
    const list = this.pendingOutcomes.get(outcome.messageId);
    if (list) list.push(outcome);
    else this.pendingOutcomes.set(outcome.messageId, [outcome]);
  }

  /** The errors a stage reported for a record (and forgets them). */
  private takeFailure(stage: OutcomeStage, message: QueueMessage): OutcomeError | undefined {
    if (this.failures.size === 0) return undefined; // the common case: nothing failed, no body to parse
    const keys = [`${stage} sqs ${message.id}`];
    const messageId = messageIdOf(message.body);
    if (messageId) keys.push(`${stage} ${messageId}`);
    const errors = keys.flatMap((key) => {
      const found = this.failures.get(key) ?? [];
      this.failures.delete(key);
      return found;
    });
    return errors.length > 0 ? joinErrors(errors) : undefined;
  }

  /** Called for each message once every stage it was sent to is done (or dead-lettered). */
  onMessageDone(listener: (detail: DecisionDetail, outcomes: readonly Outcome[], doneAt: Date) => void): void {
    this.listeners.push(listener);
  }

  /** Reloads the journals a previous run left (and dead letters redriven meanwhile); says what it found per queue. */
  async recover(): Promise<Record<LocalQueueRole, Recovery>> {
    await fs.promises.mkdir(this.options.dataDir, { recursive: true });
    return {
      input: await this.input.recover(),
      forwarder: await this.forwarderQueue.recover(),
      bouncer: await this.bouncerQueue.recover(),
      retry: await this.retryQueue.recover(),
    };
  }

  start(): void {
    this.input.start((messages) => this.pipe(messages));
    this.forwarderQueue.start((messages) => this.invoke("forwarder", this.options.forwarder, messages, true));
    this.bouncerQueue.start((messages) => this.invoke("bouncer", this.options.bouncer, messages, false));
    this.retryQueue.start((messages) => this.invoke("retry", this.options.forwarder, messages, false));
  }

  /**
   * Publishes a notification (SNS → SQS): durable once this resolves, with the raw message's bytes when
   * given (the message store wrote its file without syncing it: adapters/local/file-message-store.ts).
   */
  async publish(notification: string, rawMessage?: { key: string; bytes: Buffer }): Promise<void> {
    await this.input.send(notification, rawMessage ? { rawMessage } : {});
  }

  /** Resolves when every queue is empty and nothing is in flight (retries included). */
  async idle(): Promise<void> {
    for (;;) {
      await Promise.all([this.input.idle(), this.forwarderQueue.idle(), this.bouncerQueue.idle(), this.retryQueue.idle()]);
      const depth = this.input.depth + this.forwarderQueue.depth + this.bouncerQueue.depth + this.retryQueue.depth;
      if (depth === 0) return;
    }
  }

  async stop(): Promise<void> {
    // Upstream first, so nothing is handed to a queue that has already stopped.
    await this.input.stop();
    await Promise.all([this.forwarderQueue.stop(), this.bouncerQueue.stop(), this.retryQueue.stop()]);
    await this.events.close();
    await this.outcomeLog.close();
  }

  /** The Pipe: enrich a batch with the router, then put each decision on the bus. */
  private async pipe(messages: readonly QueueMessage[]): Promise<BatchResult> {
    const batch = (list: readonly QueueMessage[]) => list.map((message) => ({ messageId: message.id, body: message.body }));
    let routed: RoutedRecord[];
    try {
      routed = await this.options.router(batch(messages));
    } catch (error) {
      if (messages.length === 1) {
        const [message] = messages as [QueueMessage];
        return { failed: [message.id], errors: new Map([[message.id, this.takeFailure("router", message) ?? outcomeError(error)]]) };
      }
      // Pipes would fail the whole batch; retrying each record alone keeps one bad record from holding up the rest.
      const failed: string[] = [];
      const errors = new Map<string, OutcomeError>();
      for (const message of messages) {
        const result = await this.pipe([message]);
        failed.push(...result.failed);
        for (const [id, reason] of result.errors ?? []) errors.set(id, reason);
      }
      return { failed, errors };
    }
    const failed: string[] = [];
    const errors = new Map<string, OutcomeError>();
    const byId = new Map(messages.map((message) => [message.id, message]));
    for (const { sqsMessageId, decision: detail } of routed) {
      if (!detail) continue; // not mail (SES's setup notification): acknowledged, nothing goes on the bus
      try {
        await this.putOnBus(detail, byId.get(sqsMessageId)!);
      } catch (error) {
        failed.push(sqsMessageId);
        errors.set(sqsMessageId, {
          code: outcomeError(error).code,
          message: `cannot put the decision on the bus: ${outcomeError(error).message}`,
        });
      }
    }
    return { failed, errors };
  }

  /**
   * Puts a decision on the bus: into events.jsonl, then onto the handler queues its rules match, in one
   * journal record that also takes the notification off the input queue (LocalQueue.moveTo).
   */
  private async putOnBus(detail: DecisionDetail, notification: QueueMessage): Promise<void> {
    const event = decisionEvent(detail);
    const targets: Array<{ queue: LocalQueue; stage: string }> = [];
    for (const rule of this.rules) {
      if (!rule.matches(event)) continue;
      if (rule.target === "events") this.events.appendNow(event);
      else targets.push(rule.target);
    }
    const stages = targets.map((target) => target.stage);
    if (targets.length > 0) {
      const body = JSON.stringify(event);
      const ids = await this.input.moveTo(
        notification,
        targets.map(({ queue }) => ({ queue, body })),
      );
      for (const id of ids) this.sentDecisions.set(id, detail);
    }
    if (stages.length === 0) {
      this.finish({ detail, pending: new Set() });
      return;
    }
    const known = this.tracked.get(detail.originalMessageId);
    if (known) for (const stage of stages) known.pending.add(stage);
    else this.tracked.set(detail.originalMessageId, { detail, pending: new Set(stages) });
  }

  /** Runs a handler on a batch as its event source mapping would, and reports the failed message ids with their errors. */
  private async invoke(
    role: LocalQueueRole,
    handler: SqsHandler,
    messages: readonly QueueMessage[],
    crashAfter: boolean,
  ): Promise<BatchResult> {
    const response = await handler({ Records: messages.map((message) => sqsRecordOf(QUEUE_NAMES[role], message)) });
    if (crashAfter) crashPoint("forwarded");
    const failed = (response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier);
    const stage = STAGE_OF[role];
    const errors = new Map<string, OutcomeError>();
    for (const message of messages) {
      const error = this.takeFailure(stage, message);
      if (!failed.includes(message.id)) {
        this.settle(role, message);
        continue;
      }
      errors.set(
        message.id,
        error ?? {
          code: "UNREPORTED",
          message: `the ${stage} failed the record without reporting an outcome (POWERTOOLS_LOG_LEVEL=ERROR shows its log)`,
        },
      );
    }
    return { failed, errors };
  }

  /** One short line for an attempt that failed and will be retried. */
  private retrying(role: LocalQueueRole, message: QueueMessage, error: OutcomeError, delayMs: number): void {
    const what = messageIdOf(message.body) ?? `queue message ${message.id}`;
    this.options.output(retryLine(new Date(), what, STAGE_LABEL[role], error, message.receiveCount, delayMs));
  }

  private deadLettered(role: LocalQueueRole, message: QueueMessage, error: OutcomeError): void {
    const outcome: DeadLetteredOutcome = {
      kind: "dead-lettered",
      messageId: messageIdOf(message.body) ?? message.id,
      at: new Date().toISOString(),
      queue: LOCAL_QUEUE_FOLDERS[role],
      error,
      attempts: message.receiveCount,
    };
    this.recordOutcome("pipeline", outcome);
    if (detailOf(message.body)) {
      this.settle(role, message);
      return;
    }
    // Never routed (the input queue gave up): there is no decision to make a line of.
    this.pendingOutcomes.delete(outcome.messageId);
    this.options.output(deadLetterLine(outcome, this.lineOptions));
    this.wakeProgressWaiters();
  }

  /** Marks a stage done for the message a queue message belongs to, and prints its line when it was the last. */
  private settle(role: LocalQueueRole, message: QueueMessage): void {
    const detail = this.sentDecisions.get(message.id) ?? detailOf(message.body);
    this.sentDecisions.delete(message.id);
    if (!detail) return;
    const stageKey = role === "retry" ? "forwarder" : role;
    let tracked = this.tracked.get(detail.originalMessageId);
    // A queue message recovered after a restart, or a parked one back from the retry queue: nothing is tracked for it yet.
    tracked ??= { detail, pending: new Set([stageKey]) };
    tracked.pending.delete(stageKey);
    if (tracked.pending.size > 0) {
      this.tracked.set(detail.originalMessageId, tracked);
      return;
    }
    this.tracked.delete(detail.originalMessageId);
    this.finish(tracked);
  }

  private finish(tracked: Tracked): void {
    const doneAt = new Date();
    const id = tracked.detail.originalMessageId;
    const outcomes = this.pendingOutcomes.get(id) ?? [];
    this.pendingOutcomes.delete(id);
    this.options.output(messageLine(tracked.detail, outcomes, doneAt, this.lineOptions));
    this.wakeProgressWaiters();
    for (const listener of this.listeners) listener(tracked.detail, outcomes, doneAt);
  }

  private wakeProgressWaiters(): void {
    const waiters = this.progressWaiters;
    this.progressWaiters = [];
    for (const wake of waiters) wake();
  }
}
