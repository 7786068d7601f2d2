/**
 * Router: the enrichment Lambda (`ses-mail-router-enrichment-{env}`, 128 MB, 30 s) and the EventBridge
 * Pipe (`ses-email-router-{env}`) that polls the input queue one message at a time, asks the router for
 * the routing decision, and puts it on the bus as `Email Routing Decision` from `ses.email.router`.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DECISION_DETAIL_TYPE, DECISION_SOURCE } from "../core/decision";
import type { DefaultAction } from "../core/rules";
import type { VerdictPolicy } from "../core/verdicts";
import type { StackContext } from "./context";
import { SesMailFunction, type LambdaCode } from "./lambda-function";
import { FunctionKey } from "./naming";
import { pipeStatements, policyDocument, routerStatements, serviceTrustPolicy, trustPolicyJson } from "./policies";

/** What the router's environment is built from (handlers/router.ts `RouterEnvironment`). */
export interface RouterStageEnvironment {
  readonly routingTable: string;
  readonly defaultAction: DefaultAction;
  readonly verdictPolicy: VerdictPolicy;
  readonly messageBucket?: string;
  readonly messageKeyPrefix?: string;
}

/** The router needs only the Powertools trio and zod; the DynamoDB client comes from the runtime. */
export const ROUTER_PACKAGES: readonly string[] = [
  "@aws-lambda-powertools/logger",
  "@aws-lambda-powertools/metrics",
  "@aws-lambda-powertools/tracer",
  "@aws-sdk/util-dynamodb",
  "zod",
];

export const ROUTER_MEMORY_MB = 128;
export const ROUTER_TIMEOUT_SECONDS = 30;

export interface RouterStageArgs {
  readonly stack: StackContext;
  readonly code: LambdaCode<RouterStageEnvironment>;
  readonly table: aws.dynamodb.Table;
  readonly inputQueue: aws.sqs.Queue;
  readonly bus: aws.cloudwatch.EventBus;
  readonly bucketName: pulumi.Input<string>;
  readonly keyPrefix: string;
  readonly defaultAction: DefaultAction;
  readonly verdictPolicy: VerdictPolicy;
}

export class RouterStage extends pulumi.ComponentResource {
  public readonly router: SesMailFunction;
  public readonly pipe: aws.pipes.Pipe;
  public readonly pipeRole: aws.iam.Role;
  public readonly pipeLogGroup: aws.cloudwatch.LogGroup;

  constructor(name: string, args: RouterStageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:routing:Router", name, {}, opts);
    const { stack } = args;
    const parent = { parent: this };

    this.router = new SesMailFunction(
      `${name}-function`,
      {
        stack,
        key: FunctionKey.Router,
        description: "Routing decision for each inbound message (EventBridge Pipes enrichment)",
        factory: args.code.factory,
        packages: args.code.packages ?? ROUTER_PACKAGES,
        memorySize: ROUTER_MEMORY_MB,
        timeout: ROUTER_TIMEOUT_SECONDS,
        environment: pulumi.all([args.table.name, args.bucketName]).apply(([routingTable, bucket]) =>
          args.code.environmentVariables({
            routingTable,
            defaultAction: args.defaultAction,
            verdictPolicy: args.verdictPolicy,
            messageBucket: bucket,
            messageKeyPrefix: args.keyPrefix,
          }),
        ),
        statements: args.table.arn.apply((tableArn) => routerStatements({ tableArn })),
      },
      parent,
    );

    this.pipeLogGroup = new aws.cloudwatch.LogGroup(
      `${name}-pipe-logs`,
      { name: stack.names.pipeLogGroup, retentionInDays: stack.logRetentionDays },
      parent,
    );
    this.pipeRole = new aws.iam.Role(
      `${name}-pipe-role`,
      {
        name: stack.names.role("pipe"),
        description: `Execution role of the ${stack.names.pipe} pipe`,
        assumeRolePolicy: stack.aws.accountId.apply((account) => trustPolicyJson(serviceTrustPolicy("pipes.amazonaws.com", account))),
      },
      parent,
    );
    const pipePolicy = new aws.iam.RolePolicy(
      `${name}-pipe-policy`,
      {
        name: `${stack.names.pipe}-permissions`,
        role: this.pipeRole.name,
        policy: pulumi
          .all([args.inputQueue.arn, this.router.arn, args.bus.arn, this.pipeLogGroup.arn])
          .apply(([inputQueueArn, routerArn, busArn, logGroupArn]) =>
            JSON.stringify(policyDocument(pipeStatements({ inputQueueArn, routerArn, busArn, logGroupArn }))),
          ),
      },
      parent,
    );

    this.pipe = new aws.pipes.Pipe(
      `${name}-pipe`,
      {
        name: stack.names.pipe,
        description: "Input queue → router enrichment → routing bus",
        roleArn: this.pipeRole.arn,
        desiredState: "RUNNING",
        source: args.inputQueue.arn,
        sourceParameters: { sqsQueueParameters: { batchSize: 1, maximumBatchingWindowInSeconds: 0 } },
        enrichment: this.router.arn,
        target: args.bus.arn,
        targetParameters: { eventbridgeEventBusParameters: { detailType: DECISION_DETAIL_TYPE, source: DECISION_SOURCE } },
        // INFO logs each step with the message id, outcome and error; the payloads (SES notifications with
        // addresses and subjects, routing decisions) only with `ses-mail:logExecutionData`.
        logConfiguration: {
          level: "INFO",
          ...(stack.logExecutionData ? { includeExecutionDatas: ["ALL"] } : {}),
          cloudwatchLogsLogDestination: { logGroupArn: this.pipeLogGroup.arn },
        },
      },
      { parent: this, dependsOn: [pipePolicy] },
    );

    this.registerOutputs({ routerArn: this.router.arn, pipeArn: this.pipe.arn });
  }
}
