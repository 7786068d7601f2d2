/**
 * The bouncer: answers each bounced recipient of a routing decision with an RFC 3464 delivery status
 * notification to the envelope sender, unless that would be backscatter (core/backscatter.ts).
 *
 * AWS API actions it calls (for its IAM policy):
 * - s3:GetObject on `arn:aws:s3:::<message bucket>/emails/*` (only the header block is read), s3:DeleteObject
 *   on the same objects (when it is the last consumer), s3:ListBucket on the bucket (404 rather than 403 for
 *   a missing object).
 * - ses:SendRawEmail on `arn:aws:ses:<region>:<account>:identity/<domain>` for each receiving domain; the
 *   From is always `MAILER-DAEMON@<domain>`, so a condition `StringLike ses:FromAddress = MAILER-DAEMON@*`
 *   holds. (With a configuration set, also its ARN.)
 * - dynamodb:PutItem, DeleteItem on the routing table for leading keys `BOUNCE#*` (the throttle), and
 *   dynamodb:UpdateItem for `MESSAGE#*` (message progress).
 * - Through its event source mapping: sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes,
 *   sqs:ChangeMessageVisibility on the bouncer queue. Plus logs and X-Ray as every function.
 *
 * Every record's outcomes go to the message record (handlers/raw-message.ts), which `ses-mail trace` reads.
 *
 * Per record (partial batch failures): the checks that need no I/O run first (sender, verdicts), then the
 * original's header block is read (never the body) for Auto-Submitted / Precedence, then each recipient
 * claims the one-bounce-per-hour throttle. The remaining recipients get one DSN per recipient domain.
 * A DSN that SES refuses frees its throttle claims and fails the record, so it is retried; DSNs that
 * were sent keep their claims, so a retry never sends them twice. A crash between a claim and the send
 * loses that one bounce rather than risking two.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { DynamoDbMessageProgress, DynamoDbThrottleStore } from "../adapters/aws/delivery-state";
import { S3MessageStore } from "../adapters/aws/s3-message-store";
import { SesRawMailSender } from "../adapters/aws/ses-sender";
import { parseAddress } from "../core/addresses";
import { headerSuppression, SuppressionReason, senderSuppression, verdictSuppression } from "../core/backscatter";
import type { DecisionDetail, DecisionTarget } from "../core/decision";
import { BOUNCE_PART, createDeliveryParser } from "../core/delivery";
import { buildDsn, dsnStatusFor, type DsnRecipient } from "../core/dsn";
import { asError, MessageNotFoundError } from "../core/errors";
import { BOUNCE_THROTTLE_WINDOW_SECONDS, HEADER_SCAN_MAX_BYTES } from "../core/limits";
import { headerValue, parseHeaderFields, readHeaderBlock, type HeaderField } from "../core/mail-headers";
import { outcomeError } from "../core/outcomes";
import {
  discardBody,
  type Clock,
  type MessageProgress,
  type MessageStore,
  type OutcomeSink,
  type RawMailSender,
  type ThrottleStore,
} from "../core/ports";
import { lambdaEntry, parseEnvironment, type LambdaHandler } from "./entry";
import type { Observability } from "./observability";
import { collectingReporter, createOutcomeReporter, type ReportOutcome } from "./outcomes";
import { releaseRawMessage } from "./raw-message";

export interface BouncerOptions {
  /** The raw messages, for the original's headers. */
  readonly messages: MessageStore;
  readonly sender: RawMailSender;
  /** One bounce per (sender, recipient) per BOUNCE_THROTTLE_WINDOW_SECONDS. */
  readonly throttle: ThrottleStore;
  readonly progress: MessageProgress;
  readonly observability: Observability;
  /** Receives every outcome (core/outcomes.ts) after it is logged and counted: local mode's console line. */
  readonly outcomes?: OutcomeSink;
  readonly now?: Clock;
  /** Random text for Message-IDs and MIME boundaries. */
  readonly random?: () => string;
}

export type Bouncer = LambdaHandler<SQSEvent, SQSBatchResponse>;

export function createBouncer(options: BouncerOptions): Bouncer {
  const { messages, sender, throttle, progress, observability } = options;
  const { logger } = observability;
  const now = options.now ?? (() => new Date());
  const random = options.random ?? (() => randomBytes(12).toString("hex"));
  const parser = createDeliveryParser();
  const reportOutcome = createOutcomeReporter(observability, options.outcomes);

  function suppressed(report: ReportOutcome, detail: DecisionDetail, targets: readonly DecisionTarget[], reason: SuppressionReason): void {
    const at = now().toISOString();
    for (const target of targets)
      report({ kind: "bounce-suppressed", messageId: detail.originalMessageId, at, recipient: target.recipient, reason });
  }

  /** The original's header fields, or a suppression reason when they cannot be had. */
  async function originalHeaders(detail: DecisionDetail): Promise<{ block: Buffer; fields: HeaderField[] } | SuppressionReason> {
    let stored;
    try {
      stored = await messages.open(detail.s3);
    } catch (error) {
      if (error instanceof MessageNotFoundError) return SuppressionReason.OriginalUnavailable;
      throw error;
    }
    try {
      const block = await readHeaderBlock(stored.body, HEADER_SCAN_MAX_BYTES);
      return { block: block.bytes, fields: parseHeaderFields(block.bytes) };
    } finally {
      discardBody(stored.body);
    }
  }

  async function processRecord(record: SQSRecord): Promise<void> {
    let detail: DecisionDetail;
    try {
      detail = parser.parseDecisionEvent(record.body).detail;
    } catch (error) {
      reportOutcome(
        { kind: "invalid-record", at: now().toISOString(), stage: "bouncer", sqsMessageId: record.messageId, error: outcomeError(error) },
        error,
      );
      throw error;
    }
    const { report, outcomes } = collectingReporter(reportOutcome);
    const targets = detail.actions.bounce.targets;
    if (targets.length === 0) {
      logger.warn("a decision without bounce targets reached the bouncer", { messageId: detail.originalMessageId });
      return;
    }

    const failures: Error[] = [];
    const early = senderSuppression(detail.source) ?? verdictSuppression(detail.verdicts);
    const original = early ? undefined : await originalHeaders(detail);
    const reason = early ?? (typeof original === "string" ? original : headerSuppression(original!.fields));

    if (reason) {
      suppressed(report, detail, targets, reason);
    } else {
      const headers = original as { block: Buffer; fields: HeaderField[] };
      const envelopeSender = parseAddress(detail.source).address;
      const claimed: Array<DecisionTarget & { key: string }> = [];
      for (const target of targets) {
        const key = `${envelopeSender}|${target.recipient}`;
        if (await throttle.acquire(key, BOUNCE_THROTTLE_WINDOW_SECONDS)) claimed.push({ ...target, key });
        else suppressed(report, detail, [target], SuppressionReason.Throttled);
      }
      const byDomain = new Map<string, Array<DecisionTarget & { key: string }>>();
      for (const target of claimed) {
        const domain = parseAddress(target.recipient).domain;
        byDomain.set(domain, [...(byDomain.get(domain) ?? []), target]);
      }
      for (const [domain, group] of byDomain) {
        const recipients: DsnRecipient[] = group.map((target) => ({ address: target.recipient, status: dsnStatusFor(target.match) }));
        try {
          const dsn = buildDsn(
            {
              domain,
              envelopeSender,
              arrivalDate: new Date(detail.timestamp),
              sesMessageId: detail.originalMessageId,
              originalSubject: detail.subject,
              recipients,
              originalHeaders: headers.block,
              date: now(),
              random,
            },
            headerValue(headers.fields, "Message-ID"),
          );
          const { messageId } = await sender.sendRawMessage({ from: dsn.from, to: [dsn.to], raw: dsn.raw });
          report({
            kind: "bounce-sent",
            messageId: detail.originalMessageId,
            at: now().toISOString(),
            to: envelopeSender,
            from: dsn.from,
            recipients,
            dsnMessageId: messageId,
          });
        } catch (caught) {
          const error = asError(caught);
          failures.push(error);
          // Free the claims, so the redelivered record can send this DSN.
          await Promise.allSettled(group.map((target) => throttle.release(target.key)));
          report(
            {
              kind: "bounce-failed",
              messageId: detail.originalMessageId,
              at: now().toISOString(),
              recipients: recipients.map((recipient) => recipient.address),
              error: outcomeError(error),
            },
            error,
          );
        }
      }
    }

    if (failures.length === 0) {
      await releaseRawMessage(detail, [BOUNCE_PART], { progress, messages }, { outcomes, report: reportOutcome, now });
      return;
    }
    // The record is retried: what failed goes to the message record now, so trace can say why it waits.
    await progress.record(detail.originalMessageId, { decision: detail, outcomes }).catch((error: unknown) => {
      logger.error("cannot record the failed bounce in the message record", { messageId: detail.originalMessageId, error });
    });
    throw failures.length === 1
      ? failures[0]
      : new AggregateError(failures, `message ${detail.originalMessageId}: ${failures.length} bounces not sent`);
  }

  return async (event, context) => {
    const processor = new BatchProcessor(EventType.SQS);
    return processPartialResponse(event, processRecord, processor, { ...(context ? { context } : {}), throwOnFullBatchFailure: false });
  };
}

/* ------------------------------------------------------------------------------------------------
 * Lambda wiring: the environment the component sets, and the factory Pulumi serializes.
 * ---------------------------------------------------------------------------------------------- */

export interface BouncerEnvironment {
  readonly routingTable: string;
  /** An SES configuration set for the DSNs (optional). */
  readonly configurationSet?: string;
}

export function bouncerEnvironmentVariables(env: BouncerEnvironment): Record<string, string> {
  return {
    ROUTING_TABLE: env.routingTable,
    ...(env.configurationSet ? { SES_CONFIGURATION_SET: env.configurationSet } : {}),
  };
}

export function readBouncerEnvironment(env: NodeJS.ProcessEnv): BouncerEnvironment {
  const schema = z
    .object({ ROUTING_TABLE: z.string().min(1), SES_CONFIGURATION_SET: z.string().min(1).optional() })
    .transform((data): BouncerEnvironment => ({
      routingTable: data.ROUTING_TABLE,
      ...(data.SES_CONFIGURATION_SET ? { configurationSet: data.SES_CONFIGURATION_SET } : {}),
    }));
  return parseEnvironment("bouncer", schema, env);
}

/** The callback factory Pulumi serializes; runs once per container. */
export function bouncerFactory(): LambdaHandler<SQSEvent, SQSBatchResponse> {
  return lambdaEntry({
    service: "bouncer",
    readEnvironment: readBouncerEnvironment,
    build: (env, observability) =>
      createBouncer({
        messages: new S3MessageStore(),
        sender: new SesRawMailSender(env.configurationSet ? { configurationSetName: env.configurationSet } : {}),
        throttle: new DynamoDbThrottleStore({ tableName: env.routingTable }),
        progress: new DynamoDbMessageProgress({ tableName: env.routingTable }),
        observability,
      }),
  });
}
