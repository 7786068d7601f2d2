/**
 * Notification and input queue: the SNS topic the receipt rule's S3 action notifies (X-Ray Active,
 * publishable only by this account's SES for this rule), and the input queue the Pipe polls, subscribed
 * with raw delivery so each SQS body is the SES notification itself.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { StackContext } from "./context";
import { notificationTopicPolicy } from "./policies";
import { allowServiceToSend, DEFAULT_QUEUE_SETTINGS, QueueWithDeadLetter } from "./queue";

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
          .apply(([topicArn, ctx, ruleArn]) => JSON.stringify(notificationTopicPolicy({ topicArn, accountId: ctx.accountId, receiptRuleArn: ruleArn }))),
      },
      parent,
    );

    // The seed's input queue: 30 s visibility, 20 s long polling, 4 days, DLQ after 3 receives.
    this.input = new QueueWithDeadLetter(
      `${name}-input`,
      { queueName: stack.names.inputQueue, deadLetterQueueName: stack.names.inputDeadLetterQueue, ...DEFAULT_QUEUE_SETTINGS },
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
