/**
 * `ses-mail trace` against a deployed stack: the FateReader (core/fate.ts) that puts together what the
 * stack knows about a message.
 *
 * - The message record (`MESSAGE#<id>` in the routing table): the decision and every outcome the forwarder
 *   and the bouncer recorded, and which consumers are done (adapters/aws/delivery-state.ts).
 * - The decision log group (`/aws/events/ses-mail-email-routing-<env>`, where the bus logs every decision):
 *   decisions of messages no handler saw (store, drop), and every message to a recipient. Searched with
 *   FilterLogEvents for the message id or the address as a quoted term, then checked field by field.
 * - The router's log group, only for a message that has no decision: why routing failed.
 * - The dead-letter queues, peeked without consuming (received with a short visibility timeout, then made
 *   visible again at once), as `ses-mail dlq show` does.
 * - The bucket: HeadObject says whether the raw message is still there and until when the lifecycle rule
 *   keeps it (S3's own `Expiration`, else LastModified plus `emailRetentionDays`, at the next midnight UTC).
 *
 * Whatever cannot be read (access denied, a queue that does not exist, a search cut short) becomes a gap
 * in the fate: said, never hidden, and never an exception.
 *
 * AWS actions it calls (for the operator's identity): dynamodb:GetItem on the routing table;
 * logs:FilterLogEvents on the decision and router log groups; sqs:GetQueueUrl, sqs:GetQueueAttributes,
 * sqs:ReceiveMessage, sqs:ChangeMessageVisibility on the dead-letter queues; s3:GetObject (HeadObject) on
 * `<bucket>/emails/*`, with s3:ListBucket so a deleted message answers 404.
 */
import { paginateFilterLogEvents, type CloudWatchLogsClient, type FilteredLogEvent } from "@aws-sdk/client-cloudwatch-logs";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { canonicalize } from "../../core/addresses";
import type { DecisionDetail } from "../../core/decision";
import { describeError } from "../../core/errors";
import { fateOutcomes, placesFromOutcomes, type FatePlace, type FateReader, type MessageFate } from "../../core/fate";
import type { Outcome, OutcomeError } from "../../core/outcomes";
import type { Clock, MessageLocation, StoredMessageRecord } from "../../core/ports";
import { DAY_SECONDS } from "../../core/retention";
import { DynamoDbMessageProgress } from "./delivery-state";

/**
 * What the reader needs to know about a stack: `cli/stack-target.ts` resolves exactly this for `--stack`
 * (its StackTarget fits as it is), so the CLI passes its target and the clients built from it.
 */
export interface FateStack {
  readonly env: string;
  readonly config: { readonly emailRetentionDays: number };
  readonly names: {
    readonly table: string;
    readonly busLogGroup: string;
    readonly inputDeadLetterQueue: string;
    readonly eventRoutingDeadLetterQueue: string;
    readonly gmailDeadLetterQueue: string;
    readonly bouncerDeadLetterQueue: string;
    readonly retryDeadLetterQueue: string;
    functionLogGroup(key: "router"): string;
  };
}

export interface FateClients {
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  readonly logs: CloudWatchLogsClient;
}

export interface StackFateReaderOptions {
  readonly now?: Clock;
  /** The bucket and key prefix of raw messages, when known: lets a message with no decision be found in the bucket. */
  readonly rawMessages?: { readonly bucket: string; readonly keyPrefix: string };
  /** Dead letters read per queue at most (see DEAD_LETTER_PEEK_MAX). */
  readonly deadLetterPeekMax?: number;
}

/** Dead letters read per queue: enough for any mailbox's bad day; a bigger queue is said to be read in part. */
export const DEAD_LETTER_PEEK_MAX = 200;
/** How long a peeked dead letter stays hidden if the CLI dies before making it visible again. */
const PEEK_VISIBILITY_SECONDS = 30;
/** Long poll per receive: SQS samples servers otherwise, and a near-empty queue can look empty. */
const PEEK_WAIT_SECONDS = 1;
/** SQS receives and changes at most 10 messages per call. */
const SQS_BATCH = 10;
/** Pages of FilterLogEvents per search: a search still going after this many is cut short and said so. */
export const LOG_SEARCH_MAX_PAGES = 50;
/** Messages `byRecipient` traces at most; more are said to be left out. */
export const RECIPIENT_TRACE_MAX = 50;

/** The dead-letter queues by the name `ses-mail dlq --queue` takes. */
type DeadLetterRole = "input" | "event-routing" | "forwarder" | "bouncer" | "retry";

interface DeadLetter {
  readonly role: DeadLetterRole;
  readonly queueName: string;
  readonly messageId?: string;
  readonly recipients: readonly string[];
  readonly location?: MessageLocation;
  /** Why, when the dead letter says so itself (the retry processor's and EventBridge's attributes). */
  readonly reason?: OutcomeError;
  readonly since?: string;
}

interface DeadLetterSnapshot {
  readonly letters: readonly DeadLetter[];
  readonly gaps: readonly string[];
}

type Json = Record<string, unknown>;

function object(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function parseJson(text: string | undefined): Json | undefined {
  if (text === undefined) return undefined;
  try {
    return object(JSON.parse(text));
  } catch {
    return undefined;
  }
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : "";
}

/** A term for a CloudWatch Logs filter pattern: quoted, so `@`, `.` and `+` match literally. */
function quotedTerm(value: string): string {
  return `"${value.replace(/["\\]/g, "")}"`;
}

/** A decision event as the bus logs it, if the text is one. */
function decisionOfLogEvent(message: string | undefined): DecisionDetail | undefined {
  const detail = object(parseJson(message)?.detail);
  return detail && typeof detail.originalMessageId === "string" && object(detail.actions)
    ? (detail as unknown as DecisionDetail)
    : undefined;
}

function recipientsOf(decision: DecisionDetail): string[] {
  return Object.values(decision.actions).flatMap((summary) => summary.targets.map((target) => target.recipient));
}

/** What a dead letter's body and attributes say: its message, recipients, raw message and reason. */
function readDeadLetter(role: DeadLetterRole, queueName: string, message: Message): DeadLetter {
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {}))
    if (value.StringValue !== undefined) attributes[name] = value.StringValue;
  const sent = Number(message.Attributes?.SentTimestamp);
  const base = { role, queueName, ...(Number.isFinite(sent) && sent > 0 ? { since: new Date(sent).toISOString() } : {}) };
  const reason: OutcomeError | undefined = attributes["ses-mail-error"]
    ? { code: attributes["ses-mail-error"], message: attributes["ses-mail-cause"] ?? "" }
    : attributes.ERROR_CODE
      ? { code: attributes.ERROR_CODE, message: attributes.ERROR_MESSAGE ?? "" }
      : undefined;
  let body = parseJson(message.Body);
  if (body?.Type === "Notification") body = parseJson(text(body.Message));
  const withReason = reason ? { reason } : {};
  if (body?.mail) {
    const mail = object(body.mail);
    const receipt = object(body.receipt);
    const action = object(receipt?.action);
    const bucket = text(action?.bucketName);
    const key = text(action?.objectKey);
    const messageId = text(mail?.messageId);
    return {
      ...base,
      ...withReason,
      ...(messageId ? { messageId } : {}),
      recipients: Array.isArray(receipt?.recipients)
        ? receipt.recipients.filter((entry): entry is string => typeof entry === "string")
        : [],
      ...(bucket && key ? { location: { bucket, key } } : {}),
    };
  }
  // A retry message carries the decision event; a handler DLQ and the bus's DLQ hold the event itself.
  const event = object(body?.event) ?? body;
  const detail = object(event?.detail);
  const s3 = object(detail?.s3);
  const messageId = text(detail?.originalMessageId);
  const location = text(s3?.bucket) && text(s3?.key) ? { bucket: text(s3?.bucket)!, key: text(s3?.key)! } : undefined;
  return {
    ...base,
    ...withReason,
    ...(messageId ? { messageId } : {}),
    recipients: detail && object(detail.actions) ? recipientsOf(detail as unknown as DecisionDetail) : [],
    ...(location ? { location } : {}),
  };
}

/** The next midnight UTC at or after `days` after `from`: when S3's lifecycle rule makes an object eligible to expire. */
export function lifecycleExpiry(from: Date, days: number): Date {
  const due = new Date(from.getTime() + days * DAY_SECONDS * 1000);
  const midnight = Date.UTC(due.getUTCFullYear(), due.getUTCMonth(), due.getUTCDate());
  return new Date(midnight === due.getTime() ? midnight : midnight + DAY_SECONDS * 1000);
}

/** S3's `Expiration` header: `expiry-date="Fri, 23 Dec 2026 00:00:00 GMT", rule-id="…"`. */
function expiryOfHeader(header: string | undefined): Date | undefined {
  const match = header ? /expiry-date="([^"]+)"/.exec(header) : null;
  const time = match ? Date.parse(match[1]!) : NaN;
  return Number.isFinite(time) ? new Date(time) : undefined;
}

export function createStackFateReader(stack: FateStack, clients: FateClients, options: StackFateReaderOptions = {}): FateReader {
  const now = options.now ?? (() => new Date());
  const peekMax = options.deadLetterPeekMax ?? DEAD_LETTER_PEEK_MAX;
  const records = new DynamoDbMessageProgress({ tableName: stack.names.table, client: clients.dynamodb });
  const deadLetterQueues: ReadonlyArray<readonly [DeadLetterRole, string]> = [
    ["input", stack.names.inputDeadLetterQueue],
    ["event-routing", stack.names.eventRoutingDeadLetterQueue],
    ["forwarder", stack.names.gmailDeadLetterQueue],
    ["bouncer", stack.names.bouncerDeadLetterQueue],
    ["retry", stack.names.retryDeadLetterQueue],
  ];

  /** Log events matching a quoted term, page by page, until `enough` says so or the search ends. */
  async function searchLogs(
    logGroupName: string,
    term: string,
    range: { startTime?: number; endTime?: number },
    enough: (events: readonly FilteredLogEvent[]) => boolean,
    gaps: string[],
  ): Promise<FilteredLogEvent[]> {
    const found: FilteredLogEvent[] = [];
    let pages = 0;
    try {
      for await (const page of paginateFilterLogEvents(
        { client: clients.logs },
        { logGroupName, filterPattern: quotedTerm(term), ...range },
      )) {
        found.push(...(page.events ?? []));
        if (!page.nextToken || enough(found)) return found;
        if (++pages === LOG_SEARCH_MAX_PAGES) break;
      }
    } catch (error) {
      gaps.push(`cannot search the log group ${logGroupName}: ${describeError(error)}`);
      return found;
    }
    gaps.push(`the search of ${logGroupName} for ${term} stopped after ${LOG_SEARCH_MAX_PAGES} pages; older entries were not read`);
    return found;
  }

  /** The decision for a message from the decision log, and when the bus logged it. */
  async function loggedDecision(messageId: string, gaps: string[]): Promise<{ decision: DecisionDetail; at: string } | undefined> {
    const matches = (event: FilteredLogEvent) => decisionOfLogEvent(event.message)?.originalMessageId === messageId;
    const events = await searchLogs(stack.names.busLogGroup, messageId, {}, (found) => found.some(matches), gaps);
    const event = events.find(matches);
    if (!event) return undefined;
    return {
      decision: decisionOfLogEvent(event.message)!,
      at: new Date(event.timestamp ?? Date.parse(decisionOfLogEvent(event.message)!.timestamp)).toISOString(),
    };
  }

  /** Why a message that has no decision was not routed, from the router's log lines (Powertools JSON). */
  async function routerOutcomes(messageId: string, gaps: string[]): Promise<Outcome[]> {
    const events = await searchLogs(stack.names.functionLogGroup("router"), messageId, {}, () => false, gaps);
    const outcomes: Outcome[] = [];
    for (const event of events) {
      const line = parseJson(event.message);
      if (text(line?.messageId) !== messageId) continue;
      const at = text(line?.timestamp) ?? new Date(event.timestamp ?? 0).toISOString();
      if (line?.kind === "routing-failed")
        outcomes.push({
          kind: "routing-failed",
          messageId,
          at,
          error: { code: text(line.code) ?? "UNEXPECTED", message: text(line.error) ?? "" },
        });
      if (line?.kind === "setup-notification") outcomes.push({ kind: "setup-notification", messageId, at });
    }
    return outcomes;
  }

  async function peekQueue(role: DeadLetterRole, queueName: string): Promise<DeadLetterSnapshot> {
    let url: string | undefined;
    try {
      url = (await clients.sqs.send(new GetQueueUrlCommand({ QueueName: queueName }))).QueueUrl;
      if (!url) return { letters: [], gaps: [] };
      const attributes = await clients.sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages"] }),
      );
      const visible = Number(attributes.Attributes?.ApproximateNumberOfMessages ?? 0);
      if (visible === 0) return { letters: [], gaps: [] };
      const received: Message[] = [];
      const gaps: string[] = [];
      try {
        while (received.length < Math.min(visible, peekMax)) {
          const output = await clients.sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: url,
              MaxNumberOfMessages: Math.min(SQS_BATCH, peekMax - received.length),
              WaitTimeSeconds: PEEK_WAIT_SECONDS,
              VisibilityTimeout: PEEK_VISIBILITY_SECONDS,
              MessageSystemAttributeNames: ["SentTimestamp"],
              MessageAttributeNames: ["All"],
            }),
          );
          const messages = output.Messages ?? [];
          if (messages.length === 0) break;
          received.push(...messages);
        }
      } finally {
        // Visible again at once: peeking must not delay a redrive or hide a dead letter from `dlq show`.
        for (let start = 0; start < received.length; start += SQS_BATCH) {
          const chunk = received.slice(start, start + SQS_BATCH);
          await clients.sqs
            .send(
              new ChangeMessageVisibilityBatchCommand({
                QueueUrl: url,
                Entries: chunk.map((message, index) => ({
                  Id: String(index),
                  ReceiptHandle: message.ReceiptHandle!,
                  VisibilityTimeout: 0,
                })),
              }),
            )
            .catch((error: unknown) =>
              gaps.push(
                `${queueName}: ${chunk.length} peeked message(s) stay hidden for up to ${PEEK_VISIBILITY_SECONDS} s (${describeError(error)})`,
              ),
            );
        }
      }
      if (visible > received.length) gaps.push(`${queueName} holds about ${visible} dead letters; ${received.length} were read`);
      return { letters: received.map((message) => readDeadLetter(role, queueName, message)), gaps };
    } catch (error) {
      if (/QueueDoesNotExist|NonExistentQueue/.test(errorName(error)))
        return { letters: [], gaps: [`the dead-letter queue ${queueName} does not exist`] };
      return { letters: [], gaps: [`cannot read the dead-letter queue ${queueName}: ${describeError(error)}`] };
    }
  }

  async function peekDeadLetters(): Promise<DeadLetterSnapshot> {
    const snapshots = await Promise.all(deadLetterQueues.map(([role, name]) => peekQueue(role, name)));
    return { letters: snapshots.flatMap((snapshot) => snapshot.letters), gaps: snapshots.flatMap((snapshot) => snapshot.gaps) };
  }

  async function readRecord(messageId: string, gaps: string[]): Promise<StoredMessageRecord | undefined> {
    try {
      return await records.read(messageId);
    } catch (error) {
      gaps.push(`cannot read the message record in ${stack.names.table}: ${describeError(error)}`);
      return undefined;
    }
  }

  async function rawMessagePlace(
    location: MessageLocation,
    gaps: string[],
  ): Promise<Extract<FatePlace, { kind: "raw-message" }> | undefined> {
    try {
      const head = await clients.s3.send(new HeadObjectCommand({ Bucket: location.bucket, Key: location.key }));
      const keptUntil =
        expiryOfHeader(head.Expiration) ??
        (head.LastModified ? lifecycleExpiry(head.LastModified, stack.config.emailRetentionDays) : undefined);
      return { kind: "raw-message", location, state: "kept", ...(keptUntil ? { keptUntil: keptUntil.toISOString() } : {}) };
    } catch (error) {
      if (/^(NotFound|NoSuchKey)$/.test(errorName(error))) return { kind: "raw-message", location, state: "deleted" };
      gaps.push(`cannot look for the raw message s3://${location.bucket}/${location.key}: ${describeError(error)}`);
      return undefined;
    }
  }

  /** Why a dead letter failed: its own attributes, else the last failure recorded for its stage. */
  function deadLetterError(letter: DeadLetter, outcomes: readonly Outcome[]): OutcomeError {
    if (letter.reason) return letter.reason;
    const failures = outcomes.filter((outcome) =>
      letter.role === "input"
        ? outcome.kind === "routing-failed"
        : letter.role === "bouncer"
          ? outcome.kind === "bounce-failed"
          : outcome.kind === "import-failed" || outcome.kind === "given-up",
    );
    const last = failures.at(-1);
    if (last?.kind === "given-up") return last.reason;
    if (last && "error" in last) return last.error;
    return {
      code: "UNKNOWN",
      message: `the queue gave up after its last attempt; the ${letter.role === "input" ? "router's" : "handler's"} log group has the error`,
    };
  }

  function redriveCommand(role: DeadLetterRole): string {
    return `ses-mail dlq redrive --queue ${role}${role === "retry" ? " --replay" : ""} --stack ${stack.env}`;
  }

  async function assemble(
    messageId: string,
    known: { decision?: DecisionDetail; routedAt?: string },
    deadLetters: DeadLetterSnapshot,
    gaps: string[],
  ): Promise<MessageFate | undefined> {
    const record = await readRecord(messageId, gaps);
    if (record && record.unreadable > 0)
      gaps.push(`${record.unreadable} recorded outcome(s) could not be read (written by a newer version?)`);
    // The record keeps the decision of every message a handler saw; only the others (store, drop, never
    // routed) need the decision log, whose search is the slow part of a trace.
    let decision = known.decision ?? record?.decision;
    let routedAt = known.routedAt;
    if (!decision) {
      const logged = await loggedDecision(messageId, gaps);
      decision = logged?.decision;
      routedAt = logged?.at;
    }
    const letters = deadLetters.letters.filter((letter) => letter.messageId === messageId);
    const fromRouter = decision ? [] : await routerOutcomes(messageId, gaps);
    const outcomes = fateOutcomes(decision, routedAt, [...(record?.outcomes ?? []), ...fromRouter]);
    const places: FatePlace[] = [
      ...placesFromOutcomes(outcomes, decision),
      ...letters.map((letter): FatePlace => ({
        kind: "dead-letter",
        queue: letter.role,
        name: letter.queueName,
        error: deadLetterError(letter, outcomes),
        redrive: redriveCommand(letter.role),
        ...(letter.since ? { since: letter.since } : {}),
      })),
    ];
    const location =
      decision?.s3 ??
      letters.find((letter) => letter.location)?.location ??
      (options.rawMessages ? { bucket: options.rawMessages.bucket, key: `${options.rawMessages.keyPrefix}${messageId}` } : undefined);
    const raw = location ? await rawMessagePlace(location, gaps) : undefined;
    const found = record !== undefined || decision !== undefined || letters.length > 0 || fromRouter.length > 0 || raw?.state === "kept";
    if (!found) return undefined;
    if (raw) places.push(raw);
    else if (!location) gaps.push("where the raw message is cannot be told: no decision and no bucket to look in");
    return { messageId, ...(decision ? { decision } : {}), outcomes, places, gaps: [...gaps] };
  }

  return {
    async byMessageId(messageId) {
      const deadLetters = await peekDeadLetters();
      return assemble(messageId, {}, deadLetters, [...deadLetters.gaps]);
    },

    async byRecipient(address, since) {
      const recipient = canonicalize(address);
      const gaps: string[] = [];
      const range = { startTime: since.getTime(), endTime: now().getTime() };
      const decisions = new Map<string, { decision: DecisionDetail; at: string }>();
      const events = await searchLogs(stack.names.busLogGroup, recipient, range, () => false, gaps);
      for (const event of events) {
        const decision = decisionOfLogEvent(event.message);
        if (!decision || !recipientsOf(decision).some((entry) => canonicalize(entry) === recipient)) continue;
        decisions.set(decision.originalMessageId, {
          decision,
          at: new Date(event.timestamp ?? Date.parse(decision.timestamp)).toISOString(),
        });
      }
      const deadLetters = await peekDeadLetters();
      gaps.push(...deadLetters.gaps);
      // Messages that never reached a decision (the input DLQ) are found by their notification's recipients.
      const unrouted = deadLetters.letters.filter(
        (letter) =>
          letter.messageId !== undefined &&
          !decisions.has(letter.messageId) &&
          letter.recipients.some((entry) => canonicalize(entry) === recipient) &&
          (letter.since === undefined || Date.parse(letter.since) >= since.getTime()),
      );
      const ids = [
        ...[...decisions.entries()].sort(([, a], [, b]) => Date.parse(b.at) - Date.parse(a.at)).map(([id]) => id),
        ...new Set(unrouted.map((letter) => letter.messageId!)),
      ];
      if (ids.length > RECIPIENT_TRACE_MAX)
        gaps.push(`${ids.length} messages to ${recipient} since ${since.toISOString()}; the newest ${RECIPIENT_TRACE_MAX} are shown`);
      const fates: MessageFate[] = [];
      for (const id of ids.slice(0, RECIPIENT_TRACE_MAX)) {
        const known = decisions.get(id);
        const fate = await assemble(id, known ? { decision: known.decision, routedAt: known.at } : {}, deadLetters, [...gaps]);
        if (fate) fates.push(fate);
      }
      return fates;
    },
  };
}
