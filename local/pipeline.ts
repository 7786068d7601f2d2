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
 */
import { createHash, randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { DECISION_DETAIL_TYPE, DECISION_SOURCE, type DecisionDetail } from "../core/decision";
import { ALL_DECISIONS_PATTERN, BOUNCER_PATTERN, GMAIL_FORWARDER_PATTERN, type EventPattern } from "../core/event-patterns";
import type { Router, RoutedRecord } from "../handlers/router";
import { compileEventPattern } from "../adapters/local/event-pattern";
import { LocalQueue, type QueueMessage } from "../adapters/local/queue";
import { crashPoint } from "./crash-points";
import { messageLine, type StageOutcome } from "./log-line";
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from "./notification";

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

/**
 * Retry schedules, in the spirit of the deployed queues but short enough for a person watching:
 * the forwarder and bouncer wait out a handler timeout (a redelivery during a crashed import's lock
 * would only fail again), the pipe retries quickly (routing is cheap), the retry queue follows the
 * seed's retry processor (30 s, 60 s, 120 s).
 */
const RETRY_DELAYS = {
  input: (count: number) => Math.min(1000 * 2 ** (count - 1), 10_000),
  handler: () => LOCAL_HANDLER_TIMEOUT_MS,
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
  readonly outcomes: StageOutcome[];
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

function errorText(error: unknown): string {
  if (error instanceof AggregateError) return error.errors.map(errorText).join("; ");
  return error instanceof Error ? error.message : String(error);
}

/** Appends one JSON line per call, in call order. */
class JsonLinesWriter {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  append(value: unknown): Promise<void> {
    const line = `${JSON.stringify(value)}\n`;
    const write = this.tail.then(() => fs.promises.appendFile(this.file, line));
    this.tail = write.catch(() => undefined);
    return write;
  }

  flush(): Promise<void> {
    return this.tail;
  }
}

export class Pipeline {
  readonly input: LocalQueue;
  readonly forwarderQueue: LocalQueue;
  readonly bouncerQueue: LocalQueue;
  readonly retryQueue: LocalQueue;
  readonly eventsFile: string;
  private readonly events: JsonLinesWriter;
  private readonly options: PipelineOptions;
  private readonly tracked = new Map<string, Tracked>();
  private readonly notes = new Map<string, string[]>();
  private progressWaiters: Array<() => void> = [];
  private readonly rules: Array<{ name: string; matches: (event: unknown) => boolean; deliver: (event: Record<string, unknown>) => Promise<unknown> }>;
  private readonly listeners: Array<(detail: DecisionDetail, outcomes: readonly StageOutcome[], doneAt: Date) => void> = [];

  constructor(options: PipelineOptions) {
    this.options = options;
    const queuesDir = path.join(options.dataDir, "queues");
    const delay = (queue: keyof typeof QUEUE_NAMES, fallback: (count: number) => number) => (count: number) =>
      options.retryDelayMs ? options.retryDelayMs(queue, count) : fallback(count);
    const deadLetter = (stage: string) => (message: QueueMessage, reason: string) => this.deadLettered(stage, message, reason);
    this.input = new LocalQueue({
      name: QUEUE_NAMES.input,
      dir: path.join(queuesDir, "input"),
      batchSize: 10,
      concurrency: 2,
      retryDelayMs: delay("input", RETRY_DELAYS.input),
      onDeadLetter: deadLetter("router"),
    });
    this.forwarderQueue = new LocalQueue({
      name: QUEUE_NAMES.forwarder,
      dir: path.join(queuesDir, "gmail-forwarder"),
      batchSize: 10,
      concurrency: 4,
      retryDelayMs: delay("forwarder", RETRY_DELAYS.handler),
      onDeadLetter: deadLetter("forwarder"),
    });
    this.bouncerQueue = new LocalQueue({
      name: QUEUE_NAMES.bouncer,
      dir: path.join(queuesDir, "bouncer"),
      batchSize: 10,
      concurrency: 2,
      retryDelayMs: delay("bouncer", RETRY_DELAYS.handler),
      onDeadLetter: deadLetter("bouncer"),
    });
    this.retryQueue = new LocalQueue({
      name: QUEUE_NAMES.retry,
      dir: path.join(queuesDir, "gmail-forwarder-retry"),
      batchSize: 10,
      concurrency: 1,
      retryDelayMs: delay("retry", RETRY_DELAYS.retry),
      onDeadLetter: deadLetter("forwarder retry"),
    });
    this.eventsFile = path.join(options.dataDir, "events.jsonl");
    this.events = new JsonLinesWriter(this.eventsFile);
    const rule = (name: string, pattern: EventPattern, deliver: (event: Record<string, unknown>) => Promise<unknown>) => ({
      name,
      matches: compileEventPattern(pattern),
      deliver,
    });
    // The bus rules, as the infrastructure deploys them: the log target first, so a decision is on
    // record before anything acts on it.
    this.rules = [
      rule("log-all-decisions", ALL_DECISIONS_PATTERN, (event) => this.events.append(event)),
      rule("route-to-gmail", GMAIL_FORWARDER_PATTERN, (event) => this.forwarderQueue.send(JSON.stringify(event))),
      rule("route-to-bouncer", BOUNCER_PATTERN, (event) => this.bouncerQueue.send(JSON.stringify(event))),
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

  /** Adds a remark (what a handler did) to the line of a message still in flight. */
  note(messageId: string, text: string): void {
    const list = this.notes.get(messageId) ?? [];
    if (!list.includes(text)) list.push(text);
    this.notes.set(messageId, list);
  }

  /** Called for each message once every stage it was sent to is done (or dead-lettered). */
  onMessageDone(listener: (detail: DecisionDetail, outcomes: readonly StageOutcome[], doneAt: Date) => void): void {
    this.listeners.push(listener);
  }

  /** Reloads the journals a previous run left; returns how many messages were pending per queue. */
  async recover(): Promise<Record<keyof typeof QUEUE_NAMES, number>> {
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
    this.forwarderQueue.start((messages) => this.invoke("forwarder", QUEUE_NAMES.forwarder, this.options.forwarder, messages, true));
    this.bouncerQueue.start((messages) => this.invoke("bouncer", QUEUE_NAMES.bouncer, this.options.bouncer, messages, false));
    this.retryQueue.start((messages) => this.invoke("forwarder retry", QUEUE_NAMES.retry, this.options.forwarder, messages, false));
  }

  /** Publishes a notification (SNS → SQS): durable once this resolves. */
  async publish(notification: string): Promise<void> {
    await this.input.send(notification);
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
    await this.events.flush();
  }

  /** The Pipe: enrich a batch with the router, then put each decision on the bus. */
  private async pipe(messages: readonly QueueMessage[]): Promise<{ failed: string[] }> {
    const batch = (list: readonly QueueMessage[]) => list.map((message) => ({ messageId: message.id, body: message.body }));
    let routed: RoutedRecord[];
    try {
      routed = await this.options.router(batch(messages));
    } catch (error) {
      if (messages.length === 1) {
        this.options.output(`routing failed for queue message ${messages[0]!.id} (attempt ${messages[0]!.receiveCount}): ${errorText(error)}`);
        return { failed: [messages[0]!.id] };
      }
      // Pipes would fail the whole batch; retrying each record alone keeps one bad record from holding up the rest.
      const failed: string[] = [];
      for (const message of messages) {
        const result = await this.pipe([message]);
        failed.push(...result.failed);
      }
      return { failed };
    }
    const failed: string[] = [];
    for (const { sqsMessageId, decision: detail } of routed) {
      if (!detail) continue; // not mail (SES's setup notification): acknowledged, nothing goes on the bus
      try {
        await this.putOnBus(detail);
      } catch (error) {
        this.options.output(`cannot put the decision for ${detail.originalMessageId} on the bus: ${errorText(error)}`);
        failed.push(sqsMessageId);
      }
    }
    return { failed };
  }

  private async putOnBus(detail: DecisionDetail): Promise<void> {
    const event = decisionEvent(detail);
    const stages: string[] = [];
    for (const rule of this.rules) {
      if (!rule.matches(event)) continue;
      await rule.deliver(event);
      if (rule.name === "route-to-gmail") stages.push("forwarder");
      if (rule.name === "route-to-bouncer") stages.push("bouncer");
    }
    if (stages.length === 0) {
      this.finish({ detail, pending: new Set(), outcomes: [] });
      return;
    }
    const known = this.tracked.get(detail.originalMessageId);
    if (known) for (const stage of stages) known.pending.add(stage);
    else this.tracked.set(detail.originalMessageId, { detail, pending: new Set(stages), outcomes: [] });
  }

  /** Runs a handler on a batch as its event source mapping would, and reports the failed message ids. */
  private async invoke(stage: string, queueName: string, handler: SqsHandler, messages: readonly QueueMessage[], crashAfter: boolean): Promise<{ failed: string[] }> {
    const response = await handler({ Records: messages.map((message) => sqsRecordOf(queueName, message)) });
    if (crashAfter) crashPoint("forwarded");
    const failed = (response?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier);
    for (const message of messages) {
      if (!failed.includes(message.id)) this.settle(stage, message, { stage, ok: true });
    }
    return { failed };
  }

  private deadLettered(stage: string, message: QueueMessage, reason: string): void {
    this.options.output(`dead letter: ${stage} gave up on queue message ${message.id} after ${message.receiveCount} attempts (${reason}); kept in queues/`);
    this.settle(stage, message, { stage, ok: false, reason: "gave up, kept in the dead-letter folder" });
  }

  /** Marks a stage done for the message a queue message belongs to, and prints its line when it was the last. */
  private settle(stage: string, message: QueueMessage, outcome: StageOutcome): void {
    const detail = detailOf(message.body);
    if (!detail) return;
    const stageKey = stage === "forwarder retry" ? "forwarder" : stage;
    let tracked = this.tracked.get(detail.originalMessageId);
    // A queue message recovered after a restart: nothing is tracked for it yet.
    tracked ??= { detail, pending: new Set([stageKey]), outcomes: [] };
    tracked.pending.delete(stageKey);
    tracked.outcomes.push(outcome);
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
    this.options.output(messageLine(tracked.detail, tracked.outcomes, doneAt, this.notes.get(id) ?? []));
    this.notes.delete(id);
    const waiters = this.progressWaiters;
    this.progressWaiters = [];
    for (const wake of waiters) wake();
    for (const listener of this.listeners) listener(tracked.detail, tracked.outcomes, doneAt);
  }
}

/** The decision inside a handler queue body: an EventBridge event, or a retry message wrapping one. */
function detailOf(body: string): DecisionDetail | undefined {
  try {
    const value = JSON.parse(body) as { detail?: unknown; event?: { detail?: unknown } };
    const detail = (value.detail ?? value.event?.detail) as DecisionDetail | undefined;
    return detail && typeof detail.originalMessageId === "string" ? detail : undefined;
  } catch {
    return undefined;
  }
}
