/**
 * An SQS consumer stage: a queue with its dead-letter queue, whose visibility follows the consuming
 * function's timeout, and (given the handler) the least-privilege function and the event source mapping
 * that feeds it batches with partial batch failures (`ReportBatchItemFailures`) and bounded concurrency.
 * The Gmail forwarder and the bouncer are both built this way.
 *
 * A function rather than a ComponentResource of its own: the resources are created under the calling
 * stage's component with the names the stage always had (`<name>-queue`, `<name>-function`,
 * `<name>-trigger`), so their URNs stay what they were and a deployed stack is not replaced.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { StackContext } from "./context";
import { SesMailFunction, type HandlerFactory } from "./lambda-function";
import type { FunctionKey } from "./naming";
import type { PolicyStatement } from "./policies";
import { QueueWithDeadLetter, visibilityForFunction } from "./queue";

/** The function that consumes the queue, and how its batches are fed. */
export interface QueueConsumerFunctionArgs {
  readonly key: FunctionKey;
  readonly description: string;
  readonly factory: HandlerFactory;
  /** Packages from `dependencies` to bundle (lambda-function.ts). */
  readonly packages: readonly string[];
  /** Memory in MB. */
  readonly memorySize: number;
  readonly environment: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** The stage's statements, given the ARN of the queue the function consumes (its mapping's permissions among them). */
  readonly statements: (queueArn: pulumi.Output<string>) => pulumi.Input<PolicyStatement[]>;
  /** Records per invocation; failures are reported per record. */
  readonly batchSize: number;
  /** Concurrent invocations at most (2 is the least an SQS event source mapping allows). */
  readonly maxConcurrency: number;
}

export interface QueueConsumerArgs {
  readonly stack: StackContext;
  /** Physical names of the queue and its dead-letter queue. */
  readonly queueName: string;
  readonly deadLetterQueueName: string;
  /** The consuming function's timeout, seconds: the queue's visibility is derived from it (visibilityForFunction). */
  readonly timeoutSeconds: number;
  /** Receives before a message moves to the DLQ. Default 3 (queue.ts). */
  readonly maxReceiveCount?: number;
  /** The consumer. Without it only the queues are built (nothing consumes them). */
  readonly consumer?: QueueConsumerFunctionArgs;
}

export interface QueueConsumer {
  readonly queues: QueueWithDeadLetter;
  readonly function?: SesMailFunction;
  readonly eventSourceMapping?: aws.lambda.EventSourceMapping;
}

/** Builds the queue, and the function and its mapping when a consumer is given, under `parent`. */
export function createQueueConsumer(name: string, args: QueueConsumerArgs, parent: pulumi.Resource): QueueConsumer {
  const opts = { parent };
  const queues = new QueueWithDeadLetter(
    `${name}-queue`,
    {
      queueName: args.queueName,
      deadLetterQueueName: args.deadLetterQueueName,
      visibilityTimeoutSeconds: visibilityForFunction(args.timeoutSeconds),
      ...(args.maxReceiveCount !== undefined ? { maxReceiveCount: args.maxReceiveCount } : {}),
    },
    opts,
  );
  const consumer = args.consumer;
  if (!consumer) return { queues };

  const fn = new SesMailFunction(
    `${name}-function`,
    {
      stack: args.stack,
      key: consumer.key,
      description: consumer.description,
      factory: consumer.factory,
      packages: consumer.packages,
      memorySize: consumer.memorySize,
      timeout: args.timeoutSeconds,
      environment: consumer.environment,
      statements: consumer.statements(queues.queue.arn),
    },
    opts,
  );
  const eventSourceMapping = new aws.lambda.EventSourceMapping(
    `${name}-trigger`,
    {
      eventSourceArn: queues.queue.arn,
      functionName: fn.arn,
      batchSize: consumer.batchSize,
      maximumBatchingWindowInSeconds: 0,
      functionResponseTypes: ["ReportBatchItemFailures"],
      scalingConfig: { maximumConcurrency: consumer.maxConcurrency },
    },
    opts,
  );
  return { queues, function: fn, eventSourceMapping };
}
