/**
 * The Gmail forwarder: imports each routed message, unchanged, into the Gmail mailbox of every
 * `forward-to-gmail` target, then deletes the raw message when nothing else needs it.
 *
 * AWS API actions it calls (for its IAM policy):
 * - s3:GetObject, s3:DeleteObject on `arn:aws:s3:::<message bucket>/emails/*`; s3:ListBucket on
 *   `arn:aws:s3:::<message bucket>` (so a missing object answers 404, not 403).
 * - ssm:GetParameter on `arn:aws:ssm:<region>:<account>:parameter/ses-mail/<env>/gmail/oauth-client` and
 *   `…:parameter/ses-mail/<env>/gmail/tokens/*` (WithDecryption). kms:Decrypt only if those parameters
 *   use a customer managed key (condition `kms:ViaService = ssm.<region>.amazonaws.com`); aws/ssm needs none.
 * - dynamodb:GetItem, PutItem, UpdateItem, DeleteItem on the routing table, items with leading keys
 *   `IDEMPOTENCY#gmail-forwarder` and `MESSAGE#*` (idempotency records and message progress).
 * - sqs:SendMessage on the retry queue.
 * - Through its event source mapping: sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes,
 *   sqs:ChangeMessageVisibility on the forwarder queue. Plus logs and X-Ray as every function.
 * - Not IAM: HTTPS to oauth2.googleapis.com (token exchange) and gmail.googleapis.com (upload, and
 *   users.labels.list/create for labels named in rules).
 *
 * Per record (partial batch failures, by SQS messageId):
 * - The body is the decision event from its own queue, or a retry message from the retry processor
 *   (core/delivery.ts). A body that parses as neither fails alone with InvalidDeliveryEventError.
 * - Each target is imported at most once (IdempotencyStore keyed by message and account), streamed
 *   from the store with the decision's labels and `internalDateSource=receivedTime`. Label names
 *   (`Shops/Receipts`) are resolved to the mailbox's ids first (a LabelResolver: adapters/gmail/labels.ts,
 *   which creates a missing label); a label that cannot be applied (no label access, a name Gmail
 *   refuses, an id the mailbox lacks) is left out and named in the `imported` outcome, so the message
 *   still arrives rather than every message of the rule failing to the DLQ.
 * - A mailbox that needs an operator (MailboxAuthorizationError: expired/revoked/missing token) parks
 *   the target in the retry queue with its attempt count, and the record counts as handled. A target
 *   parked by a retry run is parked again with a delay (see RETRY_REPARK_DELAY_SECONDS), until
 *   RETRY_MAX_PARKED_SECONDS after it was first parked; then it fails to the retry DLQ.
 * - Throttling and 5xx (MailboxUnavailableError), a permanent 4xx (MailboxRejectedError, Gmail's error
 *   logged), a missing raw message (MessageNotFoundError) or a concurrent delivery fail the record:
 *   SQS redelivers it after the visibility timeout (that is the backoff) and its DLQ keeps it in the
 *   end. Targets already imported are not imported again on redelivery.
 * - Two targets parked in one record and redelivered because a third failed may be parked twice; the
 *   retry that runs second replays the recorded import instead of importing again.
 * - An import whose earlier run was interrupted after Gmail may have accepted it (a crash or timeout
 *   before its record was completed) runs again and is reported as a possible duplicate: no narrow Gmail
 *   scope can look the earlier import up (docs/ARCHITECTURE.md, "No duplicate after an interrupted import").
 * - Every record's outcomes, the decision and the consumers it finished go to the message record in one
 *   write (handlers/raw-message.ts), which `ses-mail trace` reads.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { z } from "zod";
import { DynamoDbMessageProgress } from "../adapters/aws/delivery-state";
import { DynamoDbIdempotencyStore } from "../adapters/aws/idempotency";
import { S3MessageStore } from "../adapters/aws/s3-message-store";
import { SqsRetryQueue } from "../adapters/aws/sqs-retry-queue";
import { SsmSecretStore } from "../adapters/aws/ssm-secrets";
import { GmailImporter } from "../adapters/gmail/importer";
import { GmailLabels } from "../adapters/gmail/labels";
import { GoogleAccounts } from "../adapters/gmail/oauth";
import {
  buildRetryMessage,
  createDeliveryParser,
  deliveryKey,
  forwardPart,
  parkingExpired,
  serializeRetryMessage,
  type ForwardTarget,
  type ForwardWork,
} from "../core/delivery";
import { asError, MailboxAuthorizationError, MailboxRejectedError } from "../core/errors";
import type { LabelResolver, UnappliedLabel } from "../core/labels";
import { RETRY_REPARK_DELAY_SECONDS } from "../core/retention";
import { outcomeError } from "../core/outcomes";
import {
  discardBody,
  type Clock,
  type IdempotencyStore,
  type MailboxImporter,
  type MessageProgress,
  type MessageStore,
  type OutcomeSink,
  type RetryQueue,
} from "../core/ports";
import { lambdaEntry, parseEnvironment, type LambdaHandler } from "./entry";
import { traced, type Observability } from "./observability";
import { collectingReporter, createOutcomeReporter, type ReportOutcome } from "./outcomes";
import { releaseRawMessage } from "./raw-message";

export interface GmailForwarderOptions {
  /** Where the raw messages are (S3 in AWS, files in local mode). */
  readonly messages: MessageStore;
  /** Where they go (Gmail in AWS, a Maildir in local mode). */
  readonly mailbox: MailboxImporter;
  /** Remembers each (message, target) import (the routing table through Powertools idempotency). */
  readonly deliveries: IdempotencyStore;
  /** Which consumers are done with each raw message. */
  readonly progress: MessageProgress;
  readonly retryQueue: RetryQueue;
  readonly observability: Observability;
  /** Resolves label names to the mailbox's ids (Gmail); without it labels go to the mailbox as given (local mode's Maildir maps names itself). */
  readonly labels?: LabelResolver;
  /** Receives every outcome (core/outcomes.ts) after it is logged and counted: local mode's console line. */
  readonly outcomes?: OutcomeSink;
  readonly now?: Clock;
}

/** An SQS batch handler with partial failures. */
export type GmailForwarder = LambdaHandler<SQSEvent, SQSBatchResponse>;

type TargetOutcome = "imported" | "replayed" | "parked";

/**
 * The recorded result of one import (what a redelivery replays). The idempotency record holds flat
 * values, so the label ids applied and the labels left out are kept as JSON text.
 */
type ImportRecord = { gmailId: string; bytes: number; importedAt: string; labelsJson?: string; unappliedLabelsJson?: string };

function jsonArray<T>(text: string | undefined): T[] | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? (value as T[]) : undefined;
  } catch {
    return undefined;
  }
}

export function createGmailForwarder(options: GmailForwarderOptions): GmailForwarder {
  const { messages, mailbox, deliveries, progress, retryQueue, observability } = options;
  const { logger, tracer } = observability;
  const now = options.now ?? (() => new Date());
  const parser = createDeliveryParser();
  const reportOutcome = createOutcomeReporter(observability, options.outcomes);

  async function importOnce(work: ForwardWork, target: ForwardTarget, report: ReportOutcome): Promise<TargetOutcome> {
    const { detail } = work;
    const key = deliveryKey(detail.originalMessageId, target.account);
    const { value, replayed } = await deliveries.once<ImportRecord>(key, async ({ interruptedEarlier }) => {
      const resolved = options.labels ? await options.labels.resolve(target.account, target.labels) : { ids: target.labels, unapplied: [] };
      const stored = await messages.open(detail.s3);
      let imported: ImportRecord;
      try {
        const { id } = await mailbox.importMessage(target.account, stored, resolved.ids);
        imported = {
          gmailId: id,
          bytes: stored.size,
          importedAt: now().toISOString(),
          labelsJson: JSON.stringify(resolved.ids),
          ...(resolved.unapplied.length > 0 ? { unappliedLabelsJson: JSON.stringify(resolved.unapplied) } : {}),
        };
      } catch (error) {
        // An id Gmail refused may be a label deleted since it was cached: the redelivery lists afresh.
        if (error instanceof MailboxRejectedError) options.labels?.forget(target.account);
        throw error;
      } finally {
        discardBody(stored.body);
      }
      if (interruptedEarlier) {
        report({
          kind: "possible-duplicate",
          messageId: detail.originalMessageId,
          at: imported.importedAt,
          account: target.account,
          mailboxId: imported.gmailId,
          reason:
            "an earlier import into this mailbox was interrupted before it was recorded (its in-progress record expired), so Gmail may already hold the message; " +
            "it was imported again because the Gmail scope ses-mail holds (gmail.insert) cannot look the earlier one up",
        });
      }
      return imported;
    });
    const at = now().toISOString();
    if (replayed) {
      report({
        kind: "already-imported",
        messageId: detail.originalMessageId,
        at,
        account: target.account,
        mailboxId: value.gmailId,
        importedAt: value.importedAt,
      });
      return "replayed";
    }
    const unappliedLabels = jsonArray<UnappliedLabel>(value.unappliedLabelsJson) ?? [];
    report({
      kind: "imported",
      messageId: detail.originalMessageId,
      at,
      account: target.account,
      mailboxId: value.gmailId,
      labels: jsonArray<string>(value.labelsJson) ?? target.labels,
      bytes: value.bytes,
      recipients: target.recipients,
      origin: work.origin,
      ...(unappliedLabels.length > 0 ? { unappliedLabels } : {}),
    });
    return "imported";
  }

  async function park(
    work: ForwardWork,
    target: ForwardTarget,
    error: MailboxAuthorizationError,
    report: ReportOutcome,
  ): Promise<TargetOutcome> {
    const at = now();
    const reason = { code: error.code, message: error.message };
    if (work.retry && parkingExpired(work.retry, at)) {
      report({
        kind: "given-up",
        messageId: work.detail.originalMessageId,
        at: at.toISOString(),
        account: target.account,
        reason,
        attempt: work.retry.attempt,
        parkedSince: work.retry.firstQueuedAt,
      });
      throw new MailboxAuthorizationError(
        target.account,
        `still not authorized after waiting since ${work.retry.firstQueuedAt} (${work.retry.attempt} attempts); giving up: ${error.message}`,
        { cause: error },
      );
    }
    const message = buildRetryMessage(work, target.account, reason, at);
    await retryQueue.enqueue(serializeRetryMessage(message), work.origin === "retry" ? { delaySeconds: RETRY_REPARK_DELAY_SECONDS } : {});
    report({
      kind: "parked",
      messageId: work.detail.originalMessageId,
      at: message.lastQueuedAt,
      account: target.account,
      reason,
      attempt: message.attempt,
      parkedSince: message.firstQueuedAt,
    });
    return "parked";
  }

  async function deliverTarget(work: ForwardWork, target: ForwardTarget, report: ReportOutcome): Promise<TargetOutcome> {
    return traced(tracer, "import", async () => {
      tracer.putAnnotation("messageId", work.detail.originalMessageId);
      tracer.putAnnotation("target", target.account);
      try {
        return await importOnce(work, target, report);
      } catch (error) {
        if (error instanceof MailboxAuthorizationError) return park(work, target, error, report);
        throw error;
      }
    });
  }

  async function processRecord(record: SQSRecord): Promise<void> {
    let work: ForwardWork;
    try {
      work = parser.parseForward(record.body);
    } catch (error) {
      reportOutcome(
        {
          kind: "invalid-record",
          at: now().toISOString(),
          stage: "gmail-forwarder",
          sqsMessageId: record.messageId,
          error: outcomeError(error),
        },
        error,
      );
      throw error;
    }
    const { detail } = work;
    const { report, outcomes } = collectingReporter(reportOutcome);
    const done: string[] = [];
    const failures: Error[] = [];
    for (const target of work.targets) {
      try {
        const outcome = await deliverTarget(work, target, report);
        if (outcome !== "parked") done.push(forwardPart(target.account));
      } catch (caught) {
        const error = asError(caught);
        failures.push(error);
        // A given-up delivery was reported as such before it threw.
        if (!(error instanceof MailboxAuthorizationError)) {
          report(
            {
              kind: "import-failed",
              messageId: detail.originalMessageId,
              at: now().toISOString(),
              account: target.account,
              error: outcomeError(error),
            },
            error,
          );
        }
      }
    }

    try {
      await releaseRawMessage(detail, done, { progress, messages }, { outcomes, report: reportOutcome, now });
    } catch (caught) {
      // The imports stand; the record is redelivered, replays them and tries the cleanup again.
      const error = asError(caught);
      logger.error("cannot record progress or delete the raw message", {
        sqsMessageId: record.messageId,
        messageId: detail.originalMessageId,
        error,
      });
      failures.push(error);
    }

    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) {
      throw new AggregateError(
        failures,
        `message ${detail.originalMessageId}: ${failures.length} of ${work.targets.length} targets failed`,
      );
    }
  }

  return async (event, context) => {
    // One processor per invocation: it keeps per-batch state, and local mode may run batches concurrently.
    const processor = new BatchProcessor(EventType.SQS);
    return processPartialResponse(event, processRecord, processor, {
      ...(context ? { context } : {}),
      // Always answer with batchItemFailures (never throw for a batch that failed whole): the retry
      // processor decides what to delete from that list.
      throwOnFullBatchFailure: false,
    });
  };
}

/* ------------------------------------------------------------------------------------------------
 * Lambda wiring: the environment the component sets, and the factory Pulumi serializes.
 * ---------------------------------------------------------------------------------------------- */

export interface GmailForwarderEnvironment {
  /** The stack's environment (`test`, `prod`): SSM parameter names derive from it (core/parameters.ts). */
  readonly environment: string;
  readonly routingTable: string;
  readonly retryQueueUrl: string;
  /** Gmail API base URL; only a test or a proxy sets it. */
  readonly gmailApiUrl?: string;
  /** Google OAuth token endpoint; only a test or a proxy sets it. */
  readonly oauthTokenUrl?: string;
}

export function gmailForwarderEnvironmentVariables(env: GmailForwarderEnvironment): Record<string, string> {
  return {
    SES_MAIL_ENVIRONMENT: env.environment,
    ROUTING_TABLE: env.routingTable,
    RETRY_QUEUE_URL: env.retryQueueUrl,
    ...(env.gmailApiUrl ? { GMAIL_API_URL: env.gmailApiUrl } : {}),
    ...(env.oauthTokenUrl ? { GOOGLE_OAUTH_TOKEN_URL: env.oauthTokenUrl } : {}),
  };
}

export function readGmailForwarderEnvironment(env: NodeJS.ProcessEnv): GmailForwarderEnvironment {
  const schema = z
    .object({
      SES_MAIL_ENVIRONMENT: z.string().regex(/^[a-z0-9-]{1,32}$/, "is a stack environment name such as test or prod"),
      ROUTING_TABLE: z.string().min(1),
      RETRY_QUEUE_URL: z.url(),
      GMAIL_API_URL: z.url().optional(),
      GOOGLE_OAUTH_TOKEN_URL: z.url().optional(),
    })
    .transform((data): GmailForwarderEnvironment => ({
      environment: data.SES_MAIL_ENVIRONMENT,
      routingTable: data.ROUTING_TABLE,
      retryQueueUrl: data.RETRY_QUEUE_URL,
      ...(data.GMAIL_API_URL ? { gmailApiUrl: data.GMAIL_API_URL } : {}),
      ...(data.GOOGLE_OAUTH_TOKEN_URL ? { oauthTokenUrl: data.GOOGLE_OAUTH_TOKEN_URL } : {}),
    }));
  return parseEnvironment("gmail forwarder", schema, env);
}

/**
 * The callback factory Pulumi serializes (`aws.lambda.CallbackFunction({ callbackFactory })`). It runs
 * once per container: clients, schemas, the access-token cache and Powertools are built here.
 */
export function gmailForwarderFactory(): LambdaHandler<SQSEvent, SQSBatchResponse> {
  return lambdaEntry({
    service: "gmail-forwarder",
    readEnvironment: readGmailForwarderEnvironment,
    build: (env, observability) => {
      const deliveries = new DynamoDbIdempotencyStore({ tableName: env.routingTable });
      const accounts = new GoogleAccounts({
        secrets: new SsmSecretStore(),
        environment: env.environment,
        ...(env.oauthTokenUrl ? { tokenUrl: env.oauthTokenUrl } : {}),
      });
      const forward = createGmailForwarder({
        messages: new S3MessageStore(),
        mailbox: new GmailImporter({ accounts, ...(env.gmailApiUrl ? { apiBaseUrl: env.gmailApiUrl } : {}) }),
        labels: new GmailLabels({ accounts, environment: env.environment, ...(env.gmailApiUrl ? { apiBaseUrl: env.gmailApiUrl } : {}) }),
        deliveries,
        progress: new DynamoDbMessageProgress({ tableName: env.routingTable }),
        retryQueue: new SqsRetryQueue({ queueUrl: env.retryQueueUrl }),
        observability,
      });
      return (event, context) => {
        // An INPROGRESS idempotency record left by a crash expires when this invocation would have ended.
        if (context) deliveries.useRemainingTime(() => context.getRemainingTimeInMillis());
        return forward(event, context);
      };
    },
  });
}
