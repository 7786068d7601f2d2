/**
 * A scheduled Step Functions state machine with its own role, log group (every event, retention from
 * config, under `/aws/vendedlogs/`), X-Ray tracing, and an EventBridge Scheduler schedule with its own
 * role that may start only it. The log carries each state's name, timing and errors; state inputs and
 * outputs (retry bodies with addresses and subjects) only with `ses-mail:logExecutionData`.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { StackContext } from "./context";
import { policyDocument, schedulerStatements, serviceTrustPolicy, trustPolicyJson, type PolicyStatement } from "./policies";

export interface ScheduledStateMachineArgs {
  readonly stack: StackContext;
  /** Physical name. */
  readonly stateMachineName: string;
  /** STANDARD or EXPRESS. */
  readonly type: "STANDARD" | "EXPRESS";
  /** The Amazon States Language document (JSON text). */
  readonly definition: pulumi.Input<string>;
  /** The role's statements (what the states call, plus log delivery and tracing). */
  readonly statements: pulumi.Input<PolicyStatement[]>;
  readonly roleName: string;
  readonly logGroupName: string;
  /** A Scheduler expression: `rate(1 hour)`, `rate(5 minutes)`. */
  readonly scheduleExpression: string;
  readonly scheduleName: string;
  readonly scheduleRoleName: string;
}

export class ScheduledStateMachine extends pulumi.ComponentResource {
  public readonly stateMachine: aws.sfn.StateMachine;
  public readonly role: aws.iam.Role;
  public readonly logGroup: aws.cloudwatch.LogGroup;
  public readonly schedule: aws.scheduler.Schedule;

  constructor(name: string, args: ScheduledStateMachineArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:workflow:ScheduledStateMachine", name, {}, opts);
    const { stack } = args;
    const parent = { parent: this };
    const accountId = stack.aws.accountId;

    this.logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { name: args.logGroupName, retentionInDays: stack.logRetentionDays },
      parent,
    );
    this.role = new aws.iam.Role(
      `${name}-role`,
      {
        name: args.roleName,
        description: `Execution role of the ${args.stateMachineName} state machine`,
        assumeRolePolicy: accountId.apply((account) => trustPolicyJson(serviceTrustPolicy("states.amazonaws.com", account))),
      },
      parent,
    );
    const policy = new aws.iam.RolePolicy(
      `${name}-policy`,
      {
        name: `${args.stateMachineName}-permissions`,
        role: this.role.name,
        policy: pulumi.output(args.statements).apply((statements) => JSON.stringify(policyDocument(statements))),
      },
      parent,
    );
    this.stateMachine = new aws.sfn.StateMachine(
      `${name}-state-machine`,
      {
        name: args.stateMachineName,
        type: args.type,
        roleArn: this.role.arn,
        definition: args.definition,
        loggingConfiguration: {
          logDestination: pulumi.interpolate`${this.logGroup.arn}:*`,
          includeExecutionData: stack.logExecutionData,
          level: "ALL",
        },
        tracingConfiguration: { enabled: true },
      },
      { parent: this, dependsOn: [policy] },
    );

    const scheduleRole = new aws.iam.Role(
      `${name}-schedule-role`,
      {
        name: args.scheduleRoleName,
        description: `Lets EventBridge Scheduler start ${args.stateMachineName}`,
        assumeRolePolicy: accountId.apply((account) => trustPolicyJson(serviceTrustPolicy("scheduler.amazonaws.com", account))),
      },
      parent,
    );
    const schedulePolicy = new aws.iam.RolePolicy(
      `${name}-schedule-policy`,
      {
        name: `${args.scheduleName}-permissions`,
        role: scheduleRole.name,
        policy: this.stateMachine.arn.apply((stateMachineArn) => JSON.stringify(policyDocument(schedulerStatements({ stateMachineArn })))),
      },
      parent,
    );
    this.schedule = new aws.scheduler.Schedule(
      `${name}-schedule`,
      {
        name: args.scheduleName,
        description: `Starts ${args.stateMachineName}`,
        scheduleExpression: args.scheduleExpression,
        flexibleTimeWindow: { mode: "OFF" },
        target: {
          arn: this.stateMachine.arn,
          roleArn: scheduleRole.arn,
          input: "{}",
          retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 300 },
        },
      },
      { parent: this, dependsOn: [schedulePolicy] },
    );

    this.registerOutputs({ stateMachineArn: this.stateMachine.arn });
  }
}
