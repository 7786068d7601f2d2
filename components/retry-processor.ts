/**
 * Retry processor: a Standard state machine, started every hour (and by the CLI after a token
 * refresh), that replays the Gmail forwarder's retry queue through the forwarder. See
 * workflows.ts for the contract with the forwarder.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { HOUR_SECONDS, RETRY_RUN_INTERVAL_SECONDS } from "../core/retention";
import type { StackContext } from "./context";
import { retryProcessorStatements } from "./policies";
import { ScheduledStateMachine } from "./state-machine";
import { retryProcessorDefinition } from "./workflows";

/** Every RETRY_RUN_INTERVAL_SECONDS: the retention model counts on it (core/retention.ts). */
export const RETRY_PROCESSOR_SCHEDULE = `rate(${RETRY_RUN_INTERVAL_SECONDS / HOUR_SECONDS} hour${RETRY_RUN_INTERVAL_SECONDS === HOUR_SECONDS ? "" : "s"})`;

export interface RetryProcessorArgs {
  readonly stack: StackContext;
  readonly retryQueue: aws.sqs.Queue;
  readonly retryDeadLetterQueue: aws.sqs.Queue;
  readonly forwarder: aws.lambda.Function;
  /** The forwarder's timeout, seconds: sizes the visibility of received retry messages. */
  readonly forwarderTimeoutSeconds: number;
}

export class RetryProcessor extends pulumi.ComponentResource {
  public readonly workflow: ScheduledStateMachine;

  constructor(name: string, args: RetryProcessorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:gmail:RetryProcessor", name, {}, opts);
    const { stack } = args;
    const resolved = pulumi.all([
      args.retryQueue.url,
      args.retryQueue.arn,
      args.retryDeadLetterQueue.url,
      args.retryDeadLetterQueue.arn,
      args.forwarder.arn,
      stack.aws,
    ]);

    this.workflow = new ScheduledStateMachine(
      `${name}-workflow`,
      {
        stack,
        stateMachineName: stack.names.retryProcessor,
        type: "STANDARD",
        definition: resolved.apply(([retryQueueUrl, retryQueueArn, retryDeadLetterQueueUrl, , forwarderArn, ctx]) =>
          JSON.stringify(
            retryProcessorDefinition({
              retryQueueUrl,
              retryQueueArn,
              retryDeadLetterQueueUrl,
              forwarderArn,
              region: ctx.region,
              forwarderTimeoutSeconds: args.forwarderTimeoutSeconds,
            }),
          ),
        ),
        statements: resolved.apply(([, retryQueueArn, , retryDeadLetterQueueArn, forwarderArn]) =>
          retryProcessorStatements({ retryQueueArn, retryDeadLetterQueueArn, forwarderArn }),
        ),
        roleName: stack.names.role("retry-processor"),
        logGroupName: stack.names.retryProcessorLogGroup,
        scheduleExpression: RETRY_PROCESSOR_SCHEDULE,
        scheduleName: stack.names.retryProcessorSchedule,
        scheduleRoleName: stack.names.role("retry-schedule"),
      },
      { parent: this },
    );
    this.registerOutputs({ stateMachineArn: this.workflow.stateMachine.arn });
  }
}
