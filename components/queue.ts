/**
 * An SQS queue with its dead-letter queue: SSE on both, long polling, and a redrive after a number of
 * receives. Every queue of ses-mail is one of these, so no queue can lack a DLQ.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEAD_LETTER_RETENTION_SECONDS, WORKING_QUEUE_RETENTION_SECONDS } from "../core/retention";
import { queueSendPolicy } from "./policies";

/** SQS's maximum retention: a dead letter is kept as long as SQS allows (the retention model, core/retention.ts). */
export const MAX_RETENTION_SECONDS = DEAD_LETTER_RETENTION_SECONDS;

export interface QueueSettings {
  readonly visibilityTimeoutSeconds: number;
  readonly messageRetentionSeconds: number;
  readonly receiveWaitTimeSeconds: number;
  readonly maxReceiveCount: number;
}

/** The seed's common queue configuration: 30 s visibility, 4 days, 20 s long polling, DLQ after 3 receives. */
export const DEFAULT_QUEUE_SETTINGS: QueueSettings = {
  visibilityTimeoutSeconds: 30,
  messageRetentionSeconds: WORKING_QUEUE_RETENTION_SECONDS,
  receiveWaitTimeSeconds: 20,
  maxReceiveCount: 3,
};

/** The redrive policy document SQS expects (a JSON string). */
export function redrivePolicy(deadLetterQueueArn: string, maxReceiveCount: number): string {
  if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
    throw new Error(`maxReceiveCount must be an integer from 1 to 1000, not ${maxReceiveCount}`);
  }
  return JSON.stringify({ deadLetterTargetArn: deadLetterQueueArn, maxReceiveCount });
}

/**
 * AWS's guidance for a queue that a Lambda event source mapping reads: visibility at least six times
 * the function timeout, so a message is not redelivered while the poller retries a throttled batch.
 */
export function visibilityForFunction(functionTimeoutSeconds: number): number {
  return Math.min(6 * functionTimeoutSeconds, 12 * 60 * 60);
}

export interface QueueWithDeadLetterArgs {
  /** Physical name of the queue. */
  readonly queueName: string;
  /** Physical name of its dead-letter queue. */
  readonly deadLetterQueueName: string;
  /** Visibility timeout, seconds. Default 30. */
  readonly visibilityTimeoutSeconds?: number;
  /** Retention, seconds. Default 4 days. */
  readonly messageRetentionSeconds?: number;
  /** Long-polling wait, seconds. Default 20. */
  readonly receiveWaitTimeSeconds?: number;
  /** Receives before a message moves to the DLQ. Default 3. */
  readonly maxReceiveCount?: number;
}

export class QueueWithDeadLetter extends pulumi.ComponentResource {
  public readonly queue: aws.sqs.Queue;
  public readonly deadLetterQueue: aws.sqs.Queue;

  constructor(name: string, args: QueueWithDeadLetterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:messaging:QueueWithDeadLetter", name, {}, opts);
    const settings: QueueSettings = {
      visibilityTimeoutSeconds: args.visibilityTimeoutSeconds ?? DEFAULT_QUEUE_SETTINGS.visibilityTimeoutSeconds,
      messageRetentionSeconds: args.messageRetentionSeconds ?? DEFAULT_QUEUE_SETTINGS.messageRetentionSeconds,
      receiveWaitTimeSeconds: args.receiveWaitTimeSeconds ?? DEFAULT_QUEUE_SETTINGS.receiveWaitTimeSeconds,
      maxReceiveCount: args.maxReceiveCount ?? DEFAULT_QUEUE_SETTINGS.maxReceiveCount,
    };

    this.deadLetterQueue = new aws.sqs.Queue(
      `${name}-dlq`,
      { name: args.deadLetterQueueName, messageRetentionSeconds: MAX_RETENTION_SECONDS, sqsManagedSseEnabled: true },
      { parent: this },
    );
    this.queue = new aws.sqs.Queue(
      `${name}-queue`,
      {
        name: args.queueName,
        visibilityTimeoutSeconds: settings.visibilityTimeoutSeconds,
        messageRetentionSeconds: settings.messageRetentionSeconds,
        receiveWaitTimeSeconds: settings.receiveWaitTimeSeconds,
        sqsManagedSseEnabled: true,
        redrivePolicy: this.deadLetterQueue.arn.apply((arn) => redrivePolicy(arn, settings.maxReceiveCount)),
      },
      { parent: this },
    );
    this.registerOutputs({ queueUrl: this.queue.url, deadLetterQueueUrl: this.deadLetterQueue.url });
  }
}

/**
 * The one policy of a queue that AWS services send to. SQS holds one policy per queue, so every source
 * of a queue goes into the same document.
 */
export function allowServiceToSend(
  name: string,
  queue: aws.sqs.Queue,
  service: "sns.amazonaws.com" | "events.amazonaws.com",
  sourceArns: pulumi.Input<pulumi.Input<string>[]>,
  opts: pulumi.CustomResourceOptions,
): aws.sqs.QueuePolicy {
  return new aws.sqs.QueuePolicy(
    name,
    {
      queueUrl: queue.url,
      policy: pulumi
        .all([queue.arn, sourceArns])
        .apply(([queueArn, sources]) => JSON.stringify(queueSendPolicy({ queueArn, service, sourceArns: sources }))),
    },
    opts,
  );
}
