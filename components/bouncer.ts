/**
 * Bouncer: its queue (`ses-bouncer-{env}`, fed by the bus) with a DLQ and, given the handler, the
 * function (`ses-mail-bouncer-{env}`, 256 MB, 1 min) with an event source mapping reporting partial
 * batch failures. The function sends RFC 3464 reports through SES as MAILER-DAEMON of the stack's
 * domains only.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BOUNCE_THROTTLE_KEY_PREFIX, MESSAGE_KEY_PREFIX } from "../core/table";
import type { StackContext } from "./context";
import type { LambdaCode, SesMailFunction } from "./lambda-function";
import { FunctionKey } from "./naming";
import { bouncerStatements } from "./policies";
import { visibilityForFunction, type QueueWithDeadLetter } from "./queue";
import { createQueueConsumer } from "./queue-consumer";

/** What the bouncer's environment is built from (handlers/bouncer.ts `BouncerEnvironment`). */
export interface BouncerStageEnvironment {
  readonly routingTable: string;
}

export const BOUNCER_MEMORY_MB = 256;
export const BOUNCER_TIMEOUT_SECONDS = 60;
export const BOUNCER_BATCH_SIZE = 10;
/**
 * Concurrent invocations at most (2 is the least an SQS event source mapping allows). A spam burst to a
 * bounce rule then waits in the queue instead of outrunning the account's SES sending rate (1 message
 * per second in the sandbox, 14 by default in production); the SES client paces and retries throttled
 * sends on top (adapters/aws/ses-sender.ts).
 */
export const BOUNCER_MAX_CONCURRENCY = 2;
/**
 * How long SES may keep refusing sends for the rate before a bounce is dead-lettered: a throttled
 * record is retried by SQS once per visibility timeout, this many seconds in all.
 */
export const BOUNCER_THROTTLE_RIDE_OUT_SECONDS = 60 * 60;

/** Receives of a bouncer record before the DLQ: one per visibility timeout across the ride-out, and the first. */
export function bouncerMaxReceiveCount(visibilityTimeoutSeconds: number): number {
  return Math.ceil(BOUNCER_THROTTLE_RIDE_OUT_SECONDS / visibilityTimeoutSeconds) + 1;
}

export const BOUNCER_PACKAGES: readonly string[] = [
  "@aws-lambda-powertools/batch",
  "@aws-lambda-powertools/logger",
  "@aws-lambda-powertools/metrics",
  "@aws-lambda-powertools/tracer",
  "zod",
];

export interface BouncerArgs {
  readonly stack: StackContext;
  /** The handler. Without it only the queues are built. */
  readonly code?: LambdaCode<BouncerStageEnvironment>;
  readonly table: aws.dynamodb.Table;
  readonly bucket: aws.s3.Bucket;
  readonly keyPrefix: string;
  /** The stack's domains: the only identities reports may be sent from. */
  readonly domains: readonly string[];
}

export class Bouncer extends pulumi.ComponentResource {
  public readonly queues: QueueWithDeadLetter;
  public readonly function?: SesMailFunction;
  public readonly eventSourceMapping?: aws.lambda.EventSourceMapping;

  constructor(name: string, args: BouncerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:bounce:Bouncer", name, {}, opts);
    const { stack } = args;

    const code = args.code;
    const consumer = createQueueConsumer(
      name,
      {
        stack,
        queueName: stack.names.bouncerQueue,
        deadLetterQueueName: stack.names.bouncerDeadLetterQueue,
        timeoutSeconds: BOUNCER_TIMEOUT_SECONDS,
        maxReceiveCount: bouncerMaxReceiveCount(visibilityForFunction(BOUNCER_TIMEOUT_SECONDS)),
        ...(code
          ? {
              consumer: {
                key: FunctionKey.Bouncer,
                description: "Sends RFC 3464 bounce reports for refused recipients",
                factory: code.factory,
                packages: code.packages ?? BOUNCER_PACKAGES,
                memorySize: BOUNCER_MEMORY_MB,
                environment: args.table.name.apply((routingTable) => code.environmentVariables({ routingTable })),
                statements: (queueArn) =>
                  pulumi.all([stack.aws, args.bucket.arn, args.table.arn, queueArn]).apply(([ctx, bucketArn, tableArn, queueArn]) =>
                    bouncerStatements(ctx, {
                      bucketArn,
                      keyPrefix: args.keyPrefix,
                      tableArn,
                      queueArn,
                      domains: args.domains,
                      throttleKeyPrefix: BOUNCE_THROTTLE_KEY_PREFIX,
                      messageKeyPrefix: MESSAGE_KEY_PREFIX,
                    }),
                  ),
                batchSize: BOUNCER_BATCH_SIZE,
                maxConcurrency: BOUNCER_MAX_CONCURRENCY,
              },
            }
          : {}),
      },
      this,
    );
    this.queues = consumer.queues;
    this.function = consumer.function;
    this.eventSourceMapping = consumer.eventSourceMapping;

    this.registerOutputs({ queueUrl: this.queues.queue.url, functionArn: this.function?.arn });
  }
}
