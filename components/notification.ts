/**
 * Notification and input queue: the SNS topic the receipt rule's S3 action notifies (X-Ray Active,
 * publishable only by this account's SES for this rule), and the input queue the Pipe polls, subscribed
 * with raw delivery so each SQS body is the SES notification itself.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { StackContext } from "./context";
import { notificationTopicPolicy } from "./policies";
import { allowServiceToSend, DEFAULT_QUEUE_SETTINGS, QueueWithDeadLetter, visibilityForFunction } from "./queue";
import { ROUTER_TIMEOUT_SECONDS } from "./router";

/**
 * How long the router's dependencies (DynamoDB, S3) may be down before inbound mail moves to the input
 * dead-letter queue. The Pipe retries a failed enrichment only by letting the message become visible
 * again, up to the queue's receive count, so the count and the visibility together set this.
 */
export const INPUT_QUEUE_OUTAGE_SECONDS = 15 * 60;

/**
 * The input queue's visibility and receive count. Visibility follows AWS's guidance for a queue a
 * Lambda consumes (six times the function's timeout): the Pipe calls the router synchronously and
 * retries a throttled call within the visibility, so a slow routing never makes the message visible
 * again while its decision is still being put (the seed's 30 s equalled the router's timeout). The
 * receive count is enough receives, one visibility apart, for the last to come after the outage.
 */
export function inputQueueSettings(
  routerTimeoutSeconds: number,
  outageSeconds = INPUT_QUEUE_OUTAGE_SECONDS,
): { visibilityTimeoutSeconds: number; maxReceiveCount: number } {
  const visibilityTimeoutSeconds = visibilityForFunction(routerTimeoutSeconds);
  // The k-th receive comes (k - 1) visibilities after the first.
  const maxReceiveCount = Math.ceil(outageSeconds / visibilityTimeoutSeconds) + 1;
  return { visibilityTimeoutSeconds, maxReceiveCount };
}

export interface InboundNotificationArgs {
  readonly stack: StackContext;
  /** The receipt rule SES publishes for (`aws:SourceArn` in the topic policy). */
  readonly receiptRuleArn: pulumi.Input<string>;
}

export class InboundNotification extends pulumi.ComponentResource {
  public readonly topic: aws.sns.Topic;
  public readonly topicPolicy: aws.sns.TopicPolicy;
  public readonly input: QueueWithDeadLetter;

  constructor(name: string, args: InboundNotificationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:inbound:Notification", name, {}, opts);
    const { stack } = args;
    const parent = { parent: this };

    this.topic = new aws.sns.Topic(`${name}-topic`, { name: stack.names.topic, tracingConfig: "Active" }, parent);
    this.topicPolicy = new aws.sns.TopicPolicy(
      `${name}-topic-policy`,
      {
        arn: this.topic.arn,
        policy: pulumi
          .all([this.topic.arn, stack.aws, args.receiptRuleArn])
          .apply(([topicArn, ctx, ruleArn]) =>
            JSON.stringify(notificationTopicPolicy({ topicArn, accountId: ctx.accountId, receiptRuleArn: ruleArn })),
          ),
      },
      parent,
    );

    // The seed's 20 s long polling and 4 days; visibility and receive count from inputQueueSettings.
    this.input = new QueueWithDeadLetter(
      `${name}-input`,
      {
        queueName: stack.names.inputQueue,
        deadLetterQueueName: stack.names.inputDeadLetterQueue,
        ...DEFAULT_QUEUE_SETTINGS,
        ...inputQueueSettings(ROUTER_TIMEOUT_SECONDS),
      },
      parent,
    );
    const queuePolicy = allowServiceToSend(`${name}-input-policy`, this.input.queue, "sns.amazonaws.com", [this.topic.arn], parent);
    new aws.sns.TopicSubscription(
      `${name}-subscription`,
      { topic: this.topic.arn, protocol: "sqs", endpoint: this.input.queue.arn, rawMessageDelivery: true },
      { parent: this, dependsOn: [queuePolicy] },
    );

    this.registerOutputs({ topicArn: this.topic.arn, inputQueueUrl: this.input.queue.url });
  }
}
