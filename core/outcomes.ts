/**
 * What a stage did with a message or one of its targets: one discriminated union, the single source of
 * truth for everything that reports a message's fate.
 *
 * - Handlers (router, Gmail forwarder, bouncer) report outcomes through an injected OutcomeSink
 *   (core/ports.ts) and the reporter in handlers/outcomes.ts.
 * - `describeOutcome` turns an outcome into its log line and its metrics; OUTCOME_METRICS is the table of
 *   metric names the dashboard and alarms use, so a name exists in one place only.
 * - Local mode consumes the outcomes themselves (never log text) for its per-message console line.
 *
 * Every outcome is plain, JSON-serializable data: it can be stored in a fate record and printed by
 * `ses-mail trace`.
 */
import type { SuppressionReason } from "./backscatter";
import type { DecisionDetail } from "./decision";
import { errorMessage, SesMailError } from "./errors";
import type { UnappliedLabel } from "./labels";

/** The pipeline stage that reports an outcome: the Powertools service name of its function. */
export const OUTCOME_STAGES = ["router", "gmail-forwarder", "bouncer", "pipeline"] as const;
export type OutcomeStage = (typeof OUTCOME_STAGES)[number];

/** An error as an outcome carries it: the stable code (core/errors.ts ErrorCode, or UNEXPECTED) and the message. */
export interface OutcomeError {
  readonly code: string;
  readonly message: string;
}

/** The code of an unexpected error (anything that is not a SesMailError). */
export const UNEXPECTED_ERROR_CODE = "UNEXPECTED";

/** An error as an outcome records it: a SesMailError's code, or UNEXPECTED (an AggregateError joins its parts). */
export function outcomeError(error: unknown): OutcomeError {
  if (error instanceof AggregateError && error.errors.length > 0) {
    const parts = error.errors.map(outcomeError);
    const codes = [...new Set(parts.map((part) => part.code))];
    return { code: codes.length === 1 ? codes[0]! : UNEXPECTED_ERROR_CODE, message: parts.map((part) => part.message).join("; ") };
  }
  if (error instanceof SesMailError) return { code: error.code, message: error.message };
  return { code: UNEXPECTED_ERROR_CODE, message: errorMessage(error) };
}

/** Every message outcome names the SES message id and when it happened (ISO 8601). */
interface MessageOutcomeBase {
  readonly messageId: string;
  readonly at: string;
}

/** The router decided what happens to every recipient. */
export interface RoutedOutcome extends MessageOutcomeBase {
  readonly kind: "routed";
  readonly decision: DecisionDetail;
}

/**
 * SES's `AMAZON_SES_SETUP_NOTIFICATION`: written once when a receipt rule's S3 action is created. It is
 * not mail: acknowledged, counted, never routed or dead-lettered.
 */
export interface SetupNotificationOutcome extends MessageOutcomeBase {
  readonly kind: "setup-notification";
}

/** The message was imported into a mailbox (Gmail, or a Maildir in local mode). */
export interface ImportedOutcome extends MessageOutcomeBase {
  readonly kind: "imported";
  readonly account: string;
  /** The mailbox's id for the new message (Gmail message id, Maildir file name). */
  readonly mailboxId: string;
  readonly labels: readonly string[];
  readonly bytes: number;
  /** The envelope recipients that forward to this account. */
  readonly recipients: readonly string[];
  /** Whether the delivery came from the handler queue or from the retry queue. */
  readonly origin: "event" | "retry";
  /** Labels the rule asked for that could not be applied (core/labels.ts): the message was imported without them. */
  readonly unappliedLabels?: readonly UnappliedLabel[];
}

/** A redelivered record found its import already done: nothing was imported again. */
export interface AlreadyImportedOutcome extends MessageOutcomeBase {
  readonly kind: "already-imported";
  readonly account: string;
  readonly mailboxId: string;
  readonly importedAt: string;
}

/**
 * An earlier import of this (message, account) may have reached the mailbox without being recorded (a
 * crash between the import and its record), and the import ran again: the mailbox may hold it twice.
 */
export interface PossibleDuplicateOutcome extends MessageOutcomeBase {
  readonly kind: "possible-duplicate";
  readonly account: string;
  readonly reason: string;
  /** The mailbox's id for the import that just ran (the earlier one, if it landed, has another). */
  readonly mailboxId?: string;
}

/** The mailbox needs an operator (an expired or revoked OAuth token): the delivery waits in the retry queue. */
export interface ParkedOutcome extends MessageOutcomeBase {
  readonly kind: "parked";
  readonly account: string;
  readonly reason: OutcomeError;
  /** How many times this delivery has been parked, this one included. */
  readonly attempt: number;
  /** When the delivery was first parked (ISO 8601). */
  readonly parkedSince: string;
}

/** A parked delivery waited as long as it may (RETRY_MAX_PARKED_SECONDS): it fails to the retry dead-letter queue. */
export interface GivenUpOutcome extends MessageOutcomeBase {
  readonly kind: "given-up";
  readonly account: string;
  readonly reason: OutcomeError;
  readonly attempt: number;
  readonly parkedSince: string;
}

/** One import failed; the record fails, so the queue redelivers it (and in the end dead-letters it). */
export interface ImportFailedOutcome extends MessageOutcomeBase {
  readonly kind: "import-failed";
  readonly account: string;
  readonly error: OutcomeError;
}

/** A delivery status notification was sent to the envelope sender for these recipients. */
export interface BounceSentOutcome extends MessageOutcomeBase {
  readonly kind: "bounce-sent";
  /** The envelope sender the DSN went to. */
  readonly to: string;
  /** `MAILER-DAEMON@<recipient domain>`. */
  readonly from: string;
  /** Each bounced recipient with its DSN status code (`5.1.1`, `5.7.1`). */
  readonly recipients: readonly { readonly address: string; readonly status: string }[];
  /** The id the sender (SES, the outbox) gave the DSN. */
  readonly dsnMessageId: string;
}

/** No bounce for this recipient: it would have been backscatter (core/backscatter.ts). */
export interface BounceSuppressedOutcome extends MessageOutcomeBase {
  readonly kind: "bounce-suppressed";
  readonly recipient: string;
  readonly reason: SuppressionReason;
}

/** A DSN could not be sent; the record fails and is retried. */
export interface BounceFailedOutcome extends MessageOutcomeBase {
  readonly kind: "bounce-failed";
  readonly recipients: readonly string[];
  readonly error: OutcomeError;
}

/** The raw message is kept for these recipients (a `store` rule): nothing else happens to it. */
export interface StoredOutcome extends MessageOutcomeBase {
  readonly kind: "stored";
  readonly recipients: readonly string[];
}

/** Nothing is delivered to these recipients: a `drop` rule, or the verdict policy. */
export interface DroppedOutcome extends MessageOutcomeBase {
  readonly kind: "dropped";
  readonly recipients: readonly string[];
  readonly by: "rule" | "policy";
  /** The policy's reasons (`virus`, `dmarc-reject`) or the rule's pattern. */
  readonly reason?: string;
}

/** A queue gave up on the message after its last attempt: it waits in a dead-letter queue. */
export interface DeadLetteredOutcome extends MessageOutcomeBase {
  readonly kind: "dead-lettered";
  /** The queue that gave up (its key: `input`, `gmail-forwarder`, `bouncer`, `gmail-forwarder-retry`). */
  readonly queue: string;
  readonly error: OutcomeError;
  readonly attempts: number;
}

/** Every consumer is done with the raw message, and it was deleted. */
export interface RawMessageDeletedOutcome extends MessageOutcomeBase {
  readonly kind: "raw-message-deleted";
  readonly location: { readonly bucket: string; readonly key: string };
}

/** A message could not be routed; the record fails and the input queue retries it, then dead-letters it. */
export interface RoutingFailedOutcome extends MessageOutcomeBase {
  readonly kind: "routing-failed";
  readonly error: OutcomeError;
}

/**
 * A queue record that is not what its stage reads (not JSON, not a notification or decision): the
 * message it belongs to may be unknown, so it is named by the SQS message id.
 */
export interface InvalidRecordOutcome {
  readonly kind: "invalid-record";
  readonly at: string;
  readonly stage: OutcomeStage;
  readonly sqsMessageId: string;
  readonly messageId?: string;
  readonly error: OutcomeError;
}

export type Outcome =
  | RoutedOutcome
  | SetupNotificationOutcome
  | ImportedOutcome
  | AlreadyImportedOutcome
  | PossibleDuplicateOutcome
  | ParkedOutcome
  | GivenUpOutcome
  | ImportFailedOutcome
  | BounceSentOutcome
  | BounceSuppressedOutcome
  | BounceFailedOutcome
  | StoredOutcome
  | DroppedOutcome
  | DeadLetteredOutcome
  | RawMessageDeletedOutcome
  | RoutingFailedOutcome
  | InvalidRecordOutcome;

export type OutcomeKind = Outcome["kind"];

/** Outcomes are plain data; this maps a kind to its type. */
export type OutcomeOf<K extends OutcomeKind> = Extract<Outcome, { kind: K }>;

/**
 * The router's outcomes of one decision: routed, then the recipients kept (store) and those nothing is
 * delivered to (drop, by rule or by the verdict policy). `ses-mail trace` rebuilds the same outcomes from a
 * logged decision, since the router records nothing itself.
 */
export function decisionOutcomes(detail: DecisionDetail, at: string): Outcome[] {
  const messageId = detail.originalMessageId;
  const outcomes: Outcome[] = [{ kind: "routed", messageId, at, decision: detail }];
  const stored = detail.actions.store.targets.map((target) => target.recipient);
  if (stored.length > 0) outcomes.push({ kind: "stored", messageId, at, recipients: stored });
  const drops = detail.actions.drop.targets;
  const byPolicy = drops.filter((target) => target.match === "policy").map((target) => target.recipient);
  const byRule = drops.filter((target) => target.match !== "policy").map((target) => target.recipient);
  if (byPolicy.length > 0)
    outcomes.push({ kind: "dropped", messageId, at, recipients: byPolicy, by: "policy", reason: detail.verdicts.reasons.join(", ") });
  if (byRule.length > 0) outcomes.push({ kind: "dropped", messageId, at, recipients: byRule, by: "rule" });
  return outcomes;
}

/* ------------------------------------------------------------------------------------------------
 * Metrics: the one table of names. The dashboard and alarms read names from here.
 * ---------------------------------------------------------------------------------------------- */

export type MetricUnit = "Count" | "Bytes" | "Seconds";

export interface OutcomeMetric {
  readonly name: string;
  readonly unit: MetricUnit;
  readonly value: number;
}

/**
 * Every fixed metric name an outcome publishes, by kind, with the stages (Powertools services, hence the
 * `service` dimension) that publish it. Names with a variable part (`GmailImportFailed_<code>`,
 * `BounceSuppressed_<reason>`, `RoutingError_<code>`) are listed by their fixed prefix in
 * OUTCOME_METRIC_PREFIXES. `dead-lettered` is reported by local mode's queues only: in AWS, SQS moves a
 * message to its dead-letter queue without running any code, and the DLQ alarms watch the queues.
 */
export const OUTCOME_METRICS = {
  routed: { stages: ["router"], names: ["MessagesRouted", "Forwarded", "Bounced", "Quarantined"] },
  "setup-notification": { stages: ["router"], names: ["SetupNotificationAcknowledged"] },
  stored: { stages: ["router"], names: ["Stored"] },
  dropped: { stages: ["router"], names: ["Dropped", "PolicyDropped"] },
  "routing-failed": { stages: ["router"], names: [] },
  imported: { stages: ["gmail-forwarder"], names: ["GmailImported", "GmailImportedBytes", "GmailLabelsNotApplied"] },
  "already-imported": { stages: ["gmail-forwarder"], names: ["GmailImportReplayed"] },
  "possible-duplicate": { stages: ["gmail-forwarder"], names: ["GmailPossibleDuplicate"] },
  parked: { stages: ["gmail-forwarder"], names: ["GmailRetryQueued", "GmailParkedAgeSeconds"] },
  "given-up": { stages: ["gmail-forwarder"], names: ["GmailDeliveryGivenUp"] },
  "import-failed": { stages: ["gmail-forwarder"], names: ["GmailImportFailed"] },
  "bounce-sent": { stages: ["bouncer"], names: ["BounceSent", "BouncedRecipients"] },
  "bounce-suppressed": { stages: ["bouncer"], names: ["BounceSuppressed"] },
  "bounce-failed": { stages: ["bouncer"], names: ["BounceFailed"] },
  "dead-lettered": { stages: ["pipeline"], names: [] },
  "raw-message-deleted": { stages: ["gmail-forwarder", "bouncer"], names: ["RawMessageDeleted"] },
  "invalid-record": { stages: ["router", "gmail-forwarder", "bouncer"], names: ["InvalidRecord"] },
} as const satisfies Record<OutcomeKind, { readonly stages: readonly OutcomeStage[]; readonly names: readonly string[] }>;

/** A metric name of an outcome kind, checked against OUTCOME_METRICS when compiled: dashboards and alarms name metrics through it. */
export function outcomeMetricName<K extends OutcomeKind>(kind: K, name: (typeof OUTCOME_METRICS)[K]["names"][number]): string {
  return name;
}

/** Metric name prefixes followed by a code or reason. */
export const OUTCOME_METRIC_PREFIXES = {
  importFailed: "GmailImportFailed_",
  bounceSuppressed: "BounceSuppressed_",
  routingError: "RoutingError_",
} as const;

/** The fixed metric names a stage publishes, in table order (for the dashboard). */
export function stageMetricNames(stage: OutcomeStage): string[] {
  const names: string[] = [];
  for (const entry of Object.values(OUTCOME_METRICS)) {
    if (!(entry.stages as readonly OutcomeStage[]).includes(stage)) continue;
    for (const name of entry.names) if (!names.includes(name)) names.push(name);
  }
  return names;
}

/* ------------------------------------------------------------------------------------------------
 * From an outcome to its log line and metrics.
 * ---------------------------------------------------------------------------------------------- */

export type OutcomeLogLevel = "info" | "warn" | "error";

export interface OutcomeDescription {
  readonly level: OutcomeLogLevel;
  /** The log message: stable words for people; nothing may parse it. */
  readonly message: string;
  /** Structured attributes: always the outcome's kind and ids, never the message body. */
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly metrics: readonly OutcomeMetric[];
}

function count(name: string, value = 1): OutcomeMetric {
  return { name, unit: "Count", value };
}

function secondsBetween(fromIso: string, toIso: string): number {
  return Math.max(0, Math.round((Date.parse(toIso) - Date.parse(fromIso)) / 1000));
}

/** The log line and metrics of an outcome. Pure: the reporter (handlers/outcomes.ts) writes them. */
export function describeOutcome(outcome: Outcome): OutcomeDescription {
  const { kind } = outcome;
  switch (outcome.kind) {
    case "routed": {
      const { decision } = outcome;
      const metrics = [count("MessagesRouted")];
      const forwards = decision.actions["forward-to-gmail"].count;
      const bounces = decision.actions.bounce.count;
      if (forwards > 0) metrics.push(count("Forwarded", forwards));
      if (bounces > 0) metrics.push(count("Bounced", bounces));
      if (decision.verdicts.disposition === "quarantine") metrics.push(count("Quarantined"));
      return {
        level: "info",
        message: "routed",
        attributes: {
          kind,
          messageId: outcome.messageId,
          source: decision.source,
          disposition: decision.verdicts.disposition,
          verdictReasons: decision.verdicts.reasons,
          actions: Object.fromEntries(Object.entries(decision.actions).map(([type, summary]) => [type, summary.targets])),
        },
        metrics,
      };
    }
    case "setup-notification":
      return {
        level: "info",
        message: "SES setup notification acknowledged; it is not mail",
        attributes: { kind, messageId: outcome.messageId },
        metrics: [count("SetupNotificationAcknowledged")],
      };
    case "stored":
      return {
        level: "info",
        message: "raw message kept (store)",
        attributes: { kind, messageId: outcome.messageId, recipients: outcome.recipients },
        metrics: [count("Stored", outcome.recipients.length)],
      };
    case "dropped":
      return {
        level: "info",
        message: outcome.by === "policy" ? "dropped by the verdict policy" : "dropped by rule",
        attributes: { kind, messageId: outcome.messageId, recipients: outcome.recipients, by: outcome.by, reason: outcome.reason },
        metrics: [count("Dropped", outcome.recipients.length), ...(outcome.by === "policy" ? [count("PolicyDropped")] : [])],
      };
    case "routing-failed":
      return {
        level: "error",
        message: "routing failed",
        attributes: { kind, messageId: outcome.messageId, code: outcome.error.code, error: outcome.error.message },
        metrics: [count(`${OUTCOME_METRIC_PREFIXES.routingError}${outcome.error.code}`)],
      };
    case "imported": {
      const unapplied = outcome.unappliedLabels ?? [];
      return {
        level: unapplied.length > 0 ? "warn" : "info",
        message: unapplied.length > 0 ? "imported into the mailbox without some of its labels" : "imported into the mailbox",
        attributes: {
          kind,
          messageId: outcome.messageId,
          account: outcome.account,
          mailboxId: outcome.mailboxId,
          labels: outcome.labels,
          bytes: outcome.bytes,
          recipients: outcome.recipients,
          origin: outcome.origin,
          ...(unapplied.length > 0 ? { unappliedLabels: unapplied } : {}),
        },
        metrics: [
          count("GmailImported"),
          { name: "GmailImportedBytes", unit: "Bytes", value: outcome.bytes },
          ...(unapplied.length > 0 ? [count("GmailLabelsNotApplied", unapplied.length)] : []),
        ],
      };
    }
    case "already-imported":
      return {
        level: "info",
        message: "already imported; not importing again",
        attributes: {
          kind,
          messageId: outcome.messageId,
          account: outcome.account,
          mailboxId: outcome.mailboxId,
          importedAt: outcome.importedAt,
        },
        metrics: [count("GmailImportReplayed")],
      };
    case "possible-duplicate":
      return {
        level: "warn",
        message: "an interrupted earlier import may have reached the mailbox; imported again",
        attributes: { kind, messageId: outcome.messageId, account: outcome.account, mailboxId: outcome.mailboxId, reason: outcome.reason },
        metrics: [count("GmailPossibleDuplicate")],
      };
    case "parked":
      return {
        level: "warn",
        message: "mailbox needs an operator; delivery parked in the retry queue",
        attributes: {
          kind,
          messageId: outcome.messageId,
          account: outcome.account,
          attempt: outcome.attempt,
          parkedSince: outcome.parkedSince,
          code: outcome.reason.code,
          reason: outcome.reason.message,
        },
        metrics: [
          count("GmailRetryQueued"),
          { name: "GmailParkedAgeSeconds", unit: "Seconds", value: secondsBetween(outcome.parkedSince, outcome.at) },
        ],
      };
    case "given-up":
      return {
        level: "error",
        message: "mailbox still needs an operator; parked delivery given up to the retry dead-letter queue",
        attributes: {
          kind,
          messageId: outcome.messageId,
          account: outcome.account,
          attempt: outcome.attempt,
          parkedSince: outcome.parkedSince,
          code: outcome.reason.code,
          reason: outcome.reason.message,
        },
        metrics: [count("GmailDeliveryGivenUp")],
      };
    case "import-failed":
      return {
        level: "error",
        message: "import failed",
        attributes: {
          kind,
          messageId: outcome.messageId,
          account: outcome.account,
          code: outcome.error.code,
          error: outcome.error.message,
        },
        metrics: [count("GmailImportFailed"), count(`${OUTCOME_METRIC_PREFIXES.importFailed}${outcome.error.code}`)],
      };
    case "bounce-sent":
      return {
        level: "info",
        message: "bounce sent",
        attributes: {
          kind,
          messageId: outcome.messageId,
          to: outcome.to,
          from: outcome.from,
          recipients: outcome.recipients.map((recipient) => `${recipient.address} ${recipient.status}`),
          dsnMessageId: outcome.dsnMessageId,
        },
        metrics: [count("BounceSent"), count("BouncedRecipients", outcome.recipients.length)],
      };
    case "bounce-suppressed":
      return {
        level: "info",
        message: "bounce suppressed",
        attributes: { kind, messageId: outcome.messageId, recipient: outcome.recipient, reason: outcome.reason },
        metrics: [count("BounceSuppressed"), count(`${OUTCOME_METRIC_PREFIXES.bounceSuppressed}${outcome.reason}`)],
      };
    case "bounce-failed":
      return {
        level: "error",
        message: "bounce not sent",
        attributes: {
          kind,
          messageId: outcome.messageId,
          recipients: outcome.recipients,
          code: outcome.error.code,
          error: outcome.error.message,
        },
        metrics: [count("BounceFailed")],
      };
    case "dead-lettered":
      return {
        level: "error",
        message: "dead-lettered",
        attributes: {
          kind,
          messageId: outcome.messageId,
          queue: outcome.queue,
          attempts: outcome.attempts,
          code: outcome.error.code,
          error: outcome.error.message,
        },
        metrics: [],
      };
    case "raw-message-deleted":
      return {
        level: "info",
        message: "raw message deleted: every consumer is done",
        attributes: { kind, messageId: outcome.messageId, s3: outcome.location },
        metrics: [count("RawMessageDeleted")],
      };
    case "invalid-record":
      return {
        level: "error",
        message: "cannot read the record",
        attributes: {
          kind,
          stage: outcome.stage,
          sqsMessageId: outcome.sqsMessageId,
          messageId: outcome.messageId,
          code: outcome.error.code,
          error: outcome.error.message,
        },
        metrics: [count("InvalidRecord")],
      };
  }
}
