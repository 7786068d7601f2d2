/**
 * Event routing: the bus `ses-mail-email-routing-{env}`, one rule per handler with exactly the event
 * pattern from core/event-patterns.ts (local mode matches against the same objects), each targeting its
 * handler queue with a retry policy and a dead-letter queue, and a catch-all rule that logs every
 * decision to `/aws/events/ses-mail-email-routing-{env}`.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ALL_DECISIONS_PATTERN, type EventPattern } from "../core/event-patterns";
import { EVENT_MAX_AGE_SECONDS } from "../core/retention";
import type { StackContext } from "./context";
import { eventsLogResourcePolicy } from "./policies";
import { allowServiceToSend, MAX_RETENTION_SECONDS } from "./queue";

/**
 * How long EventBridge keeps retrying a target before the event goes to the DLQ. A delivery to SQS
 * fails only on misconfiguration or an outage; these are EventBridge's maxima, made explicit.
 */
export const TARGET_RETRY_POLICY = { maximumEventAgeInSeconds: EVENT_MAX_AGE_SECONDS, maximumRetryAttempts: 185 } as const;

export interface HandlerRoute {
  /** Short key (`gmail`, `bouncer`), used in child names. */
  readonly key: string;
  /** The rule's physical name. */
  readonly ruleName: string;
  readonly description: string;
  readonly pattern: EventPattern;
  readonly queue: aws.sqs.Queue;
}

export interface EventRoutingArgs {
  readonly stack: StackContext;
  /** One rule per handler queue. */
  readonly routes: readonly HandlerRoute[];
}

export class EventRouting extends pulumi.ComponentResource {
  public readonly bus: aws.cloudwatch.EventBus;
  public readonly rules: Record<string, aws.cloudwatch.EventRule>;
  public readonly deadLetterQueue: aws.sqs.Queue;
  public readonly decisionLog: aws.cloudwatch.LogGroup;

  constructor(name: string, args: EventRoutingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:routing:EventRouting", name, {}, opts);
    const { stack } = args;
    const parent = { parent: this };

    this.bus = new aws.cloudwatch.EventBus(`${name}-bus`, { name: stack.names.bus, description: "ses-mail routing decisions" }, parent);
    this.deadLetterQueue = new aws.sqs.Queue(
      `${name}-dlq`,
      { name: stack.names.eventRoutingDeadLetterQueue, messageRetentionSeconds: MAX_RETENTION_SECONDS, sqsManagedSseEnabled: true },
      parent,
    );
    this.decisionLog = new aws.cloudwatch.LogGroup(
      `${name}-decision-log`,
      { name: stack.names.busLogGroup, retentionInDays: stack.logRetentionDays },
      parent,
    );

    const rule = (key: string, ruleName: string, description: string, pattern: EventPattern) =>
      new aws.cloudwatch.EventRule(
        `${name}-${key}-rule`,
        { name: ruleName, description, eventBusName: this.bus.name, eventPattern: JSON.stringify(pattern), state: "ENABLED" },
        parent,
      );
    const target = (key: string, ruleResource: aws.cloudwatch.EventRule, arn: pulumi.Input<string>, dependsOn: pulumi.Resource[]) =>
      new aws.cloudwatch.EventTarget(
        `${name}-${key}-target`,
        {
          rule: ruleResource.name,
          eventBusName: this.bus.name,
          targetId: key,
          arn,
          retryPolicy: { ...TARGET_RETRY_POLICY },
          deadLetterConfig: { arn: this.deadLetterQueue.arn },
        },
        { parent: this, dependsOn },
      );

    this.rules = {};
    for (const route of args.routes) {
      const ruleResource = rule(route.key, route.ruleName, route.description, route.pattern);
      this.rules[route.key] = ruleResource;
      const queuePolicy = allowServiceToSend(
        `${name}-${route.key}-queue-policy`,
        route.queue,
        "events.amazonaws.com",
        [ruleResource.arn],
        parent,
      );
      target(route.key, ruleResource, route.queue.arn, [queuePolicy]);
    }

    const logRule = rule(
      "decision-log",
      stack.names.decisionLogRule,
      "Every routing decision, to the decision log group",
      ALL_DECISIONS_PATTERN,
    );
    this.rules["decision-log"] = logRule;
    const logPolicy = new aws.cloudwatch.LogResourcePolicy(
      `${name}-decision-log-policy`,
      {
        policyName: stack.names.busLogPolicy,
        policyDocument: this.decisionLog.arn.apply((logGroupArn) => JSON.stringify(eventsLogResourcePolicy({ logGroupArn }))),
      },
      parent,
    );
    target("decision-log", logRule, this.decisionLog.arn, [logPolicy]);

    // One policy for the DLQ, naming every rule whose target may dead-letter into it.
    const ruleArns = Object.values(this.rules).map((r) => r.arn);
    allowServiceToSend(`${name}-dlq-policy`, this.deadLetterQueue, "events.amazonaws.com", ruleArns, parent);

    this.registerOutputs({ busName: this.bus.name, busArn: this.bus.arn });
  }
}
