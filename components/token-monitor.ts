/**
 * Token monitor: every 5 minutes an Express state machine reads the Gmail token metadata
 * (`/ses-mail/{env}/gmail/token-metadata/*`) and publishes `TokenSecondsUntilExpiration` to
 * `SESMail/{env}`: the minimum over accounts (what the alarms watch) and one value per account
 * (dimension `Account`). Unknown expiry publishes UNKNOWN_EXPIRY_SECONDS, which trips the critical alarm.
 */
import * as pulumi from "@pulumi/pulumi";
import { tokenMetadataPrefix } from "../core/parameters";
import type { StackContext } from "./context";
import { tokenMonitorStatements } from "./policies";
import { ScheduledStateMachine } from "./state-machine";
import { tokenMonitorDefinition } from "./workflows";

export const TOKEN_MONITOR_SCHEDULE = "rate(5 minutes)";

export interface TokenMonitorArgs {
  readonly stack: StackContext;
}

export class TokenMonitor extends pulumi.ComponentResource {
  public readonly workflow: ScheduledStateMachine;

  constructor(name: string, args: TokenMonitorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:gmail:TokenMonitor", name, {}, opts);
    const { stack } = args;
    const metadataPrefix = tokenMetadataPrefix(stack.env);

    this.workflow = new ScheduledStateMachine(
      `${name}-workflow`,
      {
        stack,
        stateMachineName: stack.names.tokenMonitor,
        // Express: a 5-minute schedule as a Standard workflow costs about 100× more, for no benefit here.
        type: "EXPRESS",
        definition: JSON.stringify(tokenMonitorDefinition({ metadataPrefix, namespace: stack.metricsNamespace })),
        statements: stack.aws.apply((ctx) =>
          tokenMonitorStatements(ctx, { metadataPath: metadataPrefix, namespace: stack.metricsNamespace }),
        ),
        roleName: stack.names.role("token-monitor"),
        logGroupName: stack.names.tokenMonitorLogGroup,
        scheduleExpression: TOKEN_MONITOR_SCHEDULE,
        scheduleName: stack.names.tokenMonitorSchedule,
        scheduleRoleName: stack.names.role("token-schedule"),
      },
      { parent: this },
    );
    this.registerOutputs({ stateMachineArn: this.workflow.stateMachine.arn });
  }
}
