/**
 * What the delivery handlers agree on, pure: the two record bodies the Gmail forwarder accepts, the
 * retry-queue message, the idempotency key of an import, and the protocol that decides who deletes the
 * raw message.
 *
 * ## Record bodies
 * - From the forwarder's own queue: the EventBridge event the bus delivered (`source` DECISION_SOURCE,
 *   `detail-type` DECISION_DETAIL_TYPE, `detail` a DecisionDetail). Every `forward-to-gmail` target is
 *   delivered.
 * - From the retry processor: a RetryMessage, exactly as the forwarder enqueued it. Only its `target`
 *   is delivered. The processor passes the retry-queue body unchanged as the SQS record `body`.
 *
 * ## Who deletes the raw message (S3 object)
 * The forwarder and the bouncer receive the same decision from separate queues, and both read the raw
 * message (the forwarder imports it, the bouncer quotes its headers). Each "consumer" of the object is
 * named by a part: `forward:<gmail address>` per Gmail target and `bounce` when the decision bounces any
 * recipient. When a handler finishes parts, it adds them to a string set on one item per message
 * (MessageProgress, an atomic set union that returns the whole set); whoever sees every part done deletes
 * the object. A handler that finished every part itself deletes it without touching the table.
 * - A `store` action or a policy drop keeps the object: it is never deleted by a handler (the bucket's
 *   lifecycle rule expires it).
 * - A delivery parked in the retry queue is not done, so the object stays until the retry succeeds.
 * - A delivery that ends in a DLQ is never done: the object stays for a redrive until the lifecycle rule.
 * - Marking is idempotent and deletion of a missing object is success, so concurrent or repeated
 *   completions are harmless.
 */
import { z } from "zod";
import { canonicalize } from "./addresses";
import { DECISION_DETAIL_TYPE, DECISION_SOURCE, decisionDetailSchema, type DecisionDetail } from "./decision";
import { InvalidDeliveryEventError } from "./errors";
import { SQS_MAX_MESSAGE_BYTES } from "./limits";
import { RETRY_MAX_PARKED_SECONDS } from "./retention";
import { gmailLabels } from "./verdicts";
import { builtOnce } from "./built-once";

/** Marks a retry-queue body, so the forwarder can tell it from an EventBridge event. */
export const RETRY_MESSAGE_KIND = "ses-mail.gmail-forward-retry";
export const RETRY_MESSAGE_VERSION = 1;

/** What the forwarder puts on the retry queue when a mailbox needs an operator (an expired OAuth token). */
export interface RetryMessage {
  readonly kind: typeof RETRY_MESSAGE_KIND;
  readonly version: typeof RETRY_MESSAGE_VERSION;
  /** The one Gmail account this message retries (canonical). */
  readonly target: string;
  /** How many times this delivery has been parked, this time included (1 the first time). */
  readonly attempt: number;
  /** When the delivery was first parked (ISO 8601); parking stops after RETRY_MAX_PARKED_SECONDS. */
  readonly firstQueuedAt: string;
  readonly lastQueuedAt: string;
  /** Why it was parked the last time. */
  readonly lastError: { readonly code: string; readonly message: string };
  /** The EventBridge event the delivery came from, unchanged. */
  readonly event: Readonly<Record<string, unknown>>;
}

/** One Gmail account to import the message into. */
export interface ForwardTarget {
  /** The Gmail address (canonical). */
  readonly account: string;
  /** Label ids: INBOX + UNREAD, or SPAM when quarantined, plus the rule's. */
  readonly labels: readonly string[];
  /** The envelope recipients that forward to this account (for logs). */
  readonly recipients: readonly string[];
}

/** A parsed forwarder record: the decision, and the targets this record asks for. */
export interface ForwardWork {
  readonly origin: "event" | "retry";
  readonly event: Readonly<Record<string, unknown>>;
  readonly detail: DecisionDetail;
  readonly targets: readonly ForwardTarget[];
  /** Present when the record came from the retry queue. */
  readonly retry?: RetryMessage;
}

/** The decision event as it reaches a handler queue (an EventBridge event). Built once per process: see rules.ts. */
function decisionEventSchema() {
  return builtOnce("core/delivery:decisionEventSchema", () => {
    return z
      .object({
        source: z.literal(DECISION_SOURCE),
        "detail-type": z.literal(DECISION_DETAIL_TYPE),
        detail: decisionDetailSchema(),
      })
      .loose();
  });
}

function retryMessageSchema() {
  return builtOnce("core/delivery:retryMessageSchema", () => {
    return z
      .object({
        kind: z.literal(RETRY_MESSAGE_KIND),
        version: z.literal(RETRY_MESSAGE_VERSION),
        target: z.string().min(1),
        attempt: z.number().int().min(1),
        firstQueuedAt: z.iso.datetime(),
        lastQueuedAt: z.iso.datetime(),
        lastError: z.object({ code: z.string(), message: z.string() }),
        event: z.record(z.string(), z.unknown()),
      })
      .strict();
  });
}

function issueText(error: z.ZodError): string {
  const first = error.issues[0];
  const where = first && first.path.length > 0 ? ` at ${first.path.join(".")}` : "";
  return `${where}: ${first?.message ?? "invalid"}`;
}

/** Every Gmail target of a decision, one per account, labels merged (the router already merges; this is defensive). */
export function forwardTargets(detail: DecisionDetail): ForwardTarget[] {
  const byAccount = new Map<string, { labels: string[]; recipients: string[] }>();
  for (const entry of detail.actions["forward-to-gmail"].targets) {
    if (!entry.target) {
      throw new InvalidDeliveryEventError(
        `message ${detail.originalMessageId}: a forward-to-gmail target for ${entry.recipient} has no Gmail address`,
      );
    }
    const account = canonicalize(entry.target);
    const labels = entry.labels && entry.labels.length > 0 ? entry.labels : gmailLabels(detail.verdicts.disposition);
    const known = byAccount.get(account);
    if (known) {
      for (const label of labels) if (!known.labels.includes(label)) known.labels.push(label);
      if (!known.recipients.includes(entry.recipient)) known.recipients.push(entry.recipient);
    } else {
      byAccount.set(account, { labels: [...labels], recipients: [entry.recipient] });
    }
  }
  return [...byAccount].map(([account, { labels, recipients }]) => ({ account, labels, recipients }));
}

export interface DeliveryParser {
  /** Parses a forwarder record body. Throws InvalidDeliveryEventError with the reason. */
  parseForward(body: string): ForwardWork;
  /** Parses a bouncer record body (the decision event). Throws InvalidDeliveryEventError. */
  parseDecisionEvent(body: string): { event: Readonly<Record<string, unknown>>; detail: DecisionDetail };
}

/** Builds the parser (zod schemas inside: build it at cold start, never at module level). */
export function createDeliveryParser(): DeliveryParser {
  const eventSchema = decisionEventSchema();
  const retrySchema = retryMessageSchema();

  function json(body: string): unknown {
    try {
      return JSON.parse(body);
    } catch (error) {
      throw new InvalidDeliveryEventError("the record body is not JSON", { cause: error });
    }
  }

  function decisionEvent(value: unknown, what: string) {
    const parsed = eventSchema.safeParse(value);
    if (!parsed.success) {
      throw new InvalidDeliveryEventError(`${what} is not a routing decision event${issueText(parsed.error)}`, { cause: parsed.error });
    }
    return { event: value as Readonly<Record<string, unknown>>, detail: parsed.data.detail as DecisionDetail };
  }

  return {
    parseDecisionEvent(body) {
      return decisionEvent(json(body), "the record body");
    },

    parseForward(body) {
      const value = json(body);
      const isRetry = typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === RETRY_MESSAGE_KIND;
      if (!isRetry) {
        const { event, detail } = decisionEvent(value, "the record body");
        return { origin: "event", event, detail, targets: forwardTargets(detail) };
      }
      const retry = retrySchema.safeParse(value);
      if (!retry.success) {
        throw new InvalidDeliveryEventError(`the record body is not a valid retry message${issueText(retry.error)}`, {
          cause: retry.error,
        });
      }
      const { event, detail } = decisionEvent(retry.data.event, "the retry message's event");
      const account = canonicalize(retry.data.target);
      const target = forwardTargets(detail).find((candidate) => candidate.account === account);
      if (!target) {
        throw new InvalidDeliveryEventError(
          `the retry message's target ${account} is not a Gmail target of message ${detail.originalMessageId}`,
        );
      }
      return { origin: "retry", event, detail, targets: [target], retry: { ...retry.data, target: account } as RetryMessage };
    },
  };
}

/**
 * The retry-queue message for one parked target. `previous` is the retry message the record came from,
 * if any: its attempt count and first-queued time carry over.
 */
export function buildRetryMessage(
  work: Pick<ForwardWork, "event" | "retry">,
  account: string,
  error: { code: string; message: string },
  now: Date,
): RetryMessage {
  const previous = work.retry;
  return {
    kind: RETRY_MESSAGE_KIND,
    version: RETRY_MESSAGE_VERSION,
    target: account,
    attempt: (previous?.attempt ?? 0) + 1,
    firstQueuedAt: previous?.firstQueuedAt ?? now.toISOString(),
    lastQueuedAt: now.toISOString(),
    lastError: { code: error.code, message: error.message.slice(0, 1000) },
    event: work.event,
  };
}

/** The retry message as the queue body; throws when it would not fit an SQS message. */
export function serializeRetryMessage(message: RetryMessage): string {
  const body = JSON.stringify(message);
  const bytes = Buffer.byteLength(body, "utf8");
  if (bytes > SQS_MAX_MESSAGE_BYTES) {
    throw new InvalidDeliveryEventError(
      `the retry message for ${message.target} is ${bytes} bytes, over the SQS limit of ${SQS_MAX_MESSAGE_BYTES}`,
    );
  }
  return body;
}

/** True when a parked delivery has waited as long as we let it (then it fails to the retry DLQ instead). */
export function parkingExpired(retry: RetryMessage | undefined, now: Date): boolean {
  if (!retry) return false;
  return now.getTime() - Date.parse(retry.firstQueuedAt) >= RETRY_MAX_PARKED_SECONDS * 1000;
}

/** The idempotency key of one import: the SES message id and the Gmail account. */
export function deliveryKey(messageId: string, account: string): string {
  return `${messageId}|${canonicalize(account)}`;
}

/* Raw-message consumers (see the protocol at the top of this file). */

export const BOUNCE_PART = "bounce";

export function forwardPart(account: string): string {
  return `forward:${canonicalize(account)}`;
}

/** True when the decision asks to keep the raw message (a `store` target, or a policy drop kept for inspection). */
export function keepsRawMessage(detail: DecisionDetail): boolean {
  return detail.actions.store.count > 0 || detail.verdicts.disposition === "drop";
}

/** Every part that must be done before the raw message may be deleted. */
export function rawMessageConsumers(detail: DecisionDetail): string[] {
  const parts = detail.actions["forward-to-gmail"].targets.flatMap((entry) => (entry.target ? [forwardPart(entry.target)] : []));
  if (detail.actions.bounce.count > 0) parts.push(BOUNCE_PART);
  return [...new Set(parts)];
}

/** The parts not yet in `done`. */
export function pendingConsumers(detail: DecisionDetail, done: readonly string[]): string[] {
  return rawMessageConsumers(detail).filter((part) => !done.includes(part));
}
