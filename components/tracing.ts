/**
 * Tracing: the X-Ray sampling rule of the stack (the seed: 1 % sampling, not 100 %). It matches the
 * stack's own services by name (`ses-*-{env}`: functions, topic, pipe, state machines), so in an account
 * shared with other applications it changes nothing of theirs.
 *
 * Sampling rules apply where X-Ray's sampling decides: the state machines and code that samples with
 * the X-Ray SDK. A trace that starts in a Lambda function follows Lambda's own fixed sampling, which
 * is not configurable (docs/DECISIONS.md).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { StackContext } from "./context";

/** Share of requests traced beyond the reservoir: the seed's 1 %. */
export const XRAY_FIXED_RATE = 0.01;
/** Requests traced each second before the rate applies, so a quiet stack still leaves a trace to look at. */
export const XRAY_RESERVOIR_PER_SECOND = 1;
/**
 * Rule priority (lower wins; X-Ray's default rule is 10000). 1000 leaves room for a higher-priority rule
 * an operator adds while debugging.
 */
export const XRAY_RULE_PRIORITY = 1000;

/** The service-name pattern of a stack's resources: every physical name starts `ses-` and ends `-{env}`. */
export function stackServicePattern(env: string): string {
  return `ses-*-${env}`;
}

/** The sampling rule's inputs, as pure data (the tests read them too). */
export function samplingRuleArgs(ruleName: string, env: string): aws.xray.SamplingRuleArgs {
  return {
    ruleName,
    priority: XRAY_RULE_PRIORITY,
    version: 1,
    reservoirSize: XRAY_RESERVOIR_PER_SECOND,
    fixedRate: XRAY_FIXED_RATE,
    serviceName: stackServicePattern(env),
    serviceType: "*",
    host: "*",
    httpMethod: "*",
    urlPath: "*",
    resourceArn: "*",
  };
}

export interface TracingArgs {
  readonly stack: StackContext;
}

export class Tracing extends pulumi.ComponentResource {
  public readonly samplingRule: aws.xray.SamplingRule;

  constructor(name: string, args: TracingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:observability:Tracing", name, {}, opts);
    const { stack } = args;
    this.samplingRule = new aws.xray.SamplingRule(`${name}-sampling-rule`, samplingRuleArgs(stack.names.xraySamplingRule, stack.env), {
      parent: this,
    });
    this.registerOutputs({ samplingRuleName: this.samplingRule.ruleName });
  }
}
