/**
 * What a dead-lettered message is about, read from its body and attributes, pure: the mail it carries
 * (SES message id, sender, subject, recipients) and, where the message says, why it failed. Bodies are
 * the shapes ses-mail's queues carry: an SES receipt notification (input queue, raw or inside an SNS
 * envelope), a routing-decision event (forwarder and bouncer queues, and the event bus's DLQ), a retry
 * message (retry queue), or a Lambda on-failure record of a stream batch (credential manager).
 */
import { DECISION_SOURCE } from "../core/decision";
import { RETRY_MESSAGE_KIND } from "../core/delivery";

export type DeadLetterKind = "ses-notification" | "routing-decision" | "retry" | "stream-batch" | "unknown";

export interface DeadLetterSummary {
  readonly kind: DeadLetterKind;
  /** The SES message id (also the raw message's S3 key), when the body names it. */
  readonly messageId?: string;
  readonly from?: string;
  readonly subject?: string;
  /** Envelope recipients or Gmail targets the failed work was for. */
  readonly to: readonly string[];
  /** Why it failed, when the message itself says (retry messages and the retry DLQ's attributes). */
  readonly reason?: string;
}

type Json = Record<string, unknown>;

function object(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function parse(text: string): Json | undefined {
  try {
    return object(JSON.parse(text));
  } catch {
    return undefined;
  }
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function fromNotification(notification: Json): DeadLetterSummary | undefined {
  const mail = object(notification.mail);
  if (!mail) return undefined;
  const headers = object(mail.commonHeaders);
  const messageId = text(mail.messageId);
  const from = text(mail.source);
  const subject = text(headers?.subject);
  return {
    kind: "ses-notification",
    ...(messageId ? { messageId } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(subject !== undefined ? { subject } : {}),
    to: strings(mail.destination),
  };
}

function fromDecision(event: Json, onlyTarget?: string): DeadLetterSummary | undefined {
  const detail = object(event.detail);
  if (!detail) return undefined;
  const actions = object(detail.actions) ?? {};
  const to = new Set<string>();
  for (const summary of Object.values(actions)) {
    for (const target of (object(summary)?.targets as unknown[] | undefined) ?? []) {
      const entry = object(target);
      const where = text(entry?.target) ?? text(entry?.recipient);
      if (where) to.add(where);
    }
  }
  const messageId = text(detail.originalMessageId);
  const from = text(detail.source);
  const subject = text(detail.subject);
  return {
    kind: "routing-decision",
    ...(messageId ? { messageId } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(subject !== undefined ? { subject } : {}),
    to: onlyTarget ? [onlyTarget] : [...to],
  };
}

/**
 * Why a message was dead-lettered, from its attributes: the retry processor's `ses-mail-error` and
 * `ses-mail-cause`, or EventBridge's `ERROR_CODE` and `ERROR_MESSAGE` on a target DLQ.
 */
function reasonFromAttributes(attributes: Readonly<Record<string, string>>): string | undefined {
  for (const [code, message] of [
    ["ses-mail-error", "ses-mail-cause"],
    ["ERROR_CODE", "ERROR_MESSAGE"],
  ] as const) {
    if (attributes[code]) return [attributes[code], attributes[message]].filter(Boolean).join(": ");
  }
  return undefined;
}

/** A Lambda on-failure record of a DynamoDB stream batch (the credential manager's DLQ): it points at records, it holds none. */
function fromStreamBatch(json: Json): DeadLetterSummary | undefined {
  const batch = object(json.DDBStreamBatchInfo);
  if (!batch) return undefined;
  const context = object(json.requestContext);
  const response = object(json.responsePayload);
  const reason = [text(context?.condition), text(response?.errorMessage) ?? text(object(json.responseContext)?.functionError)]
    .filter(Boolean)
    .join(": ");
  const first = text(batch.approximateArrivalOfFirstRecord);
  return { kind: "stream-batch", ...(first ? { messageId: `stream records from ${first}` } : {}), to: [], ...(reason ? { reason } : {}) };
}

/** Summarizes one dead letter; `attributes` are its message attributes as plain strings. */
export function summarizeDeadLetter(body: string, attributes: Readonly<Record<string, string>> = {}): DeadLetterSummary {
  const json = parse(body);
  const attributeReason = reasonFromAttributes(attributes);
  let summary: DeadLetterSummary | undefined;
  if (json?.DDBStreamBatchInfo) {
    summary = fromStreamBatch(json);
  } else if (json?.kind === RETRY_MESSAGE_KIND) {
    const event = object(json.event);
    const lastError = object(json.lastError);
    const target = text(json.target);
    const base = (event && fromDecision(event, target)) ?? { kind: "retry" as const, to: target ? [target] : [] };
    const parked = lastError
      ? `parked ${String(json.attempt ?? "?")} time(s), last: ${text(lastError.code) ?? "?"}: ${text(lastError.message) ?? ""}`
      : undefined;
    summary = {
      ...base,
      kind: "retry",
      ...(attributeReason || parked ? { reason: [attributeReason, parked].filter(Boolean).join("; ") } : {}),
    };
  } else if (json?.source === DECISION_SOURCE) {
    summary = fromDecision(json);
  } else if (json?.Type === "Notification" && typeof json.Message === "string") {
    const inner = parse(json.Message);
    summary = inner ? fromNotification(inner) : undefined;
  } else if (json?.mail) {
    summary = fromNotification(json);
  }
  summary ??= { kind: "unknown", to: [] };
  return attributeReason && !summary.reason ? { ...summary, reason: attributeReason } : summary;
}

/** One line for a terminal: `<id> from <sender> to <a, b>: "<subject>"`. Long lists are cut. */
export function describeDeadLetter(summary: DeadLetterSummary): string {
  const to = summary.to.length > 3 ? `${summary.to.slice(0, 3).join(", ")} and ${summary.to.length - 3} more` : summary.to.join(", ");
  const subject =
    summary.subject === undefined
      ? ""
      : `: ${JSON.stringify(summary.subject.length > 80 ? `${summary.subject.slice(0, 77)}...` : summary.subject)}`;
  if (summary.kind === "unknown")
    return "a message ses-mail does not recognize (not an SES notification, routing decision or retry message)";
  if (summary.kind === "stream-batch") return `credential manager gave up on ${summary.messageId ?? "stream records"}`;
  return `${summary.messageId ?? "(no message id)"} from ${summary.from || "<>"}${to ? ` to ${to}` : ""}${subject}`;
}
