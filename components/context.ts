/**
 * What every stage of a stack shares: the environment name, the names table, where the stack is
 * deployed, and the settings that apply to all stages (log retention, metrics namespace).
 */
import type * as pulumi from "@pulumi/pulumi";
import type { AwsContext } from "./arns";
import type { StackNames } from "./naming";

export interface StackContext {
  /** The stack name: the `{env}` of every resource name. */
  readonly env: string;
  readonly names: StackNames;
  /** Partition, region and account, resolved at deploy time. */
  readonly aws: pulumi.Output<AwsContext>;
  /** Days every log group keeps events (`ses-mail:logRetentionDays`). */
  readonly logRetentionDays: number;
  /** `SESMail/{env}`: every custom metric of the stack. */
  readonly metricsNamespace: string;
  /**
   * Whether the Pipe and the state machines log message data (notification bodies with addresses and
   * subjects, state inputs and outputs) beside ids, outcomes and errors (`ses-mail:logExecutionData`).
   */
  readonly logExecutionData: boolean;
}
