/**
 * Gmail forwarder: its queue (`ses-gmail-forwarder-{env}`, fed by the bus) with a DLQ, the retry queue
 * (`ses-mail-gmail-forwarder-retry-{env}`, 15 min visibility, 14 days) with its own DLQ, SSM parameters
 * for the OAuth client and for every Gmail account the declared routes forward to (placeholders: the CLI
 * writes the values, Pulumi never does), and, given the handler, the function (512 MB, 5 min) with its
 * event source mapping reporting partial batch failures.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { DeclaredRoute } from "../config/schema";
import {
  accountParameterKey,
  oauthClientParameter,
  PARAMETER_PLACEHOLDER,
  refreshTokenParameter,
  refreshTokenPrefix,
  tokenMetadataParameter,
} from "../core/parameters";
import { GMAIL_FORWARDER_IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_PREFIX, MESSAGE_KEY_PREFIX } from "../core/table";
import type { StackContext } from "./context";
import type { LambdaCode, SesMailFunction } from "./lambda-function";
import { FunctionKey } from "./naming";
import { gmailForwarderStatements } from "./policies";
import { MAX_RETENTION_SECONDS, QueueWithDeadLetter } from "./queue";
import { createQueueConsumer } from "./queue-consumer";

/** What the forwarder's environment is built from (handlers/gmail-forwarder.ts `GmailForwarderEnvironment`). */
export interface GmailForwarderStageEnvironment {
  readonly environment: string;
  readonly routingTable: string;
  readonly retryQueueUrl: string;
}

export const GMAIL_FORWARDER_MEMORY_MB = 512;
export const GMAIL_FORWARDER_TIMEOUT_SECONDS = 300;
/** Records per invocation; failures are reported per record. */
export const GMAIL_FORWARDER_BATCH_SIZE = 10;
/** Concurrent invocations at most: Gmail imports per mailbox are rate-limited, and mail is not bursty. */
export const GMAIL_FORWARDER_MAX_CONCURRENCY = 5;
/** The retry queue: 15 minutes visibility and 14 days retention (the seed). */
export const RETRY_QUEUE_VISIBILITY_SECONDS = 15 * 60;
/** A retry message received this often without being deleted (the processor failed mid-way) is dead-lettered. */
export const RETRY_QUEUE_MAX_RECEIVES = 5;

/** Packages the forwarder's closure requires (the SDK clients come from the runtime). */
export const GMAIL_FORWARDER_PACKAGES: readonly string[] = [
  "@aws-lambda-powertools/batch",
  "@aws-lambda-powertools/idempotency",
  "@aws-lambda-powertools/logger",
  "@aws-lambda-powertools/metrics",
  "@aws-lambda-powertools/tracer",
  "@aws-sdk/util-dynamodb",
  "@googleapis/gmail",
  "google-auth-library",
  "zod",
];

/** Routing-table items the forwarder owns (core/table.ts): its idempotency partition and message progress. */
const FORWARDER_IDEMPOTENCY_PARTITION = `${IDEMPOTENCY_KEY_PREFIX}${GMAIL_FORWARDER_IDEMPOTENCY_KEY}`;

/** Every distinct Gmail account the declared routes forward to, canonical and sorted. */
export function declaredGmailAccounts(routes: readonly DeclaredRoute[]): string[] {
  const accounts = routes.flatMap((route) =>
    route.actions.flatMap((action) => (action.type === "forward-to-gmail" ? [action.target.toLowerCase()] : [])),
  );
  return [...new Set(accounts)].sort();
}

export interface GmailForwarderArgs {
  readonly stack: StackContext;
  /** The handler. Without it only the queues and parameters are built (nothing consumes the queue). */
  readonly code?: LambdaCode<GmailForwarderStageEnvironment>;
  /** Declared routes: their Gmail targets get token parameter placeholders. Default none. */
  readonly routes?: readonly DeclaredRoute[];
  readonly table: aws.dynamodb.Table;
  readonly bucket: aws.s3.Bucket;
  readonly keyPrefix: string;
}

export class GmailForwarder extends pulumi.ComponentResource {
  public readonly queues: QueueWithDeadLetter;
  public readonly retry: QueueWithDeadLetter;
  public readonly parameters: aws.ssm.Parameter[];
  public readonly function?: SesMailFunction;
  public readonly eventSourceMapping?: aws.lambda.EventSourceMapping;

  constructor(name: string, args: GmailForwarderArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:gmail:GmailForwarder", name, {}, opts);
    const { stack } = args;
    const parent = { parent: this };

    this.retry = new QueueWithDeadLetter(
      `${name}-retry`,
      {
        queueName: stack.names.retryQueue,
        deadLetterQueueName: stack.names.retryDeadLetterQueue,
        visibilityTimeoutSeconds: RETRY_QUEUE_VISIBILITY_SECONDS,
        messageRetentionSeconds: MAX_RETENTION_SECONDS,
        maxReceiveCount: RETRY_QUEUE_MAX_RECEIVES,
      },
      parent,
    );

    this.parameters = [
      new aws.ssm.Parameter(
        `${name}-oauth-client`,
        {
          name: oauthClientParameter(stack.env),
          type: "SecureString",
          value: PARAMETER_PLACEHOLDER,
          description: "Google OAuth client JSON for the Gmail API; set with the ses-mail CLI",
        },
        // The CLI owns the value. Any other changed input would make Pulumi send the whole parameter,
        // placeholder included, over the real secret: so the description is frozen too.
        { parent: this, ignoreChanges: ["value", "description"] },
      ),
      ...declaredGmailAccounts(args.routes ?? []).flatMap((account) => {
        const key = accountParameterKey(account);
        // Retained when the last declared route to the account goes: CLI rules may still forward to it,
        // and a refresh token costs a human OAuth consent to replace.
        const keep = { parent: this, ignoreChanges: ["value", "description"], retainOnDelete: true };
        return [
          new aws.ssm.Parameter(
            `${name}-token-${key}`,
            {
              name: refreshTokenParameter(stack.env, account),
              type: "SecureString",
              value: PARAMETER_PLACEHOLDER,
              description: `Gmail refresh token of ${account}; set with the ses-mail CLI`,
            },
            keep,
          ),
          new aws.ssm.Parameter(
            `${name}-token-metadata-${key}`,
            {
              name: tokenMetadataParameter(stack.env, account),
              type: "String",
              value: PARAMETER_PLACEHOLDER,
              description: `Expiry of the Gmail refresh token of ${account}; read by the token monitor`,
            },
            keep,
          ),
        ];
      }),
    ];

    const code = args.code;
    const consumer = createQueueConsumer(
      name,
      {
        stack,
        queueName: stack.names.gmailQueue,
        deadLetterQueueName: stack.names.gmailDeadLetterQueue,
        timeoutSeconds: GMAIL_FORWARDER_TIMEOUT_SECONDS,
        ...(code
          ? {
              consumer: {
                key: FunctionKey.GmailForwarder,
                description: "Imports routed messages into Gmail (users.messages.import)",
                factory: code.factory,
                packages: code.packages ?? GMAIL_FORWARDER_PACKAGES,
                memorySize: GMAIL_FORWARDER_MEMORY_MB,
                environment: pulumi
                  .all([args.table.name, this.retry.queue.url])
                  .apply(([routingTable, retryQueueUrl]) =>
                    code.environmentVariables({ environment: stack.env, routingTable, retryQueueUrl }),
                  ),
                statements: (queueArn) =>
                  pulumi
                    .all([stack.aws, args.bucket.arn, args.table.arn, this.retry.queue.arn, queueArn])
                    .apply(([ctx, bucketArn, tableArn, retryQueueArn, queueArn]) =>
                      gmailForwarderStatements(ctx, {
                        bucketArn,
                        keyPrefix: args.keyPrefix,
                        tableArn,
                        retryQueueArn,
                        queueArn,
                        oauthClientParameter: oauthClientParameter(stack.env),
                        refreshTokenPrefix: refreshTokenPrefix(stack.env),
                        idempotencyPartition: FORWARDER_IDEMPOTENCY_PARTITION,
                        messageKeyPrefix: MESSAGE_KEY_PREFIX,
                      }),
                    ),
                batchSize: GMAIL_FORWARDER_BATCH_SIZE,
                maxConcurrency: GMAIL_FORWARDER_MAX_CONCURRENCY,
              },
            }
          : {}),
      },
      this,
    );
    this.queues = consumer.queues;
    this.function = consumer.function;
    this.eventSourceMapping = consumer.eventSourceMapping;

    this.registerOutputs({ queueUrl: this.queues.queue.url, retryQueueUrl: this.retry.queue.url, functionArn: this.function?.arn });
  }
}
