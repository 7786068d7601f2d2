/**
 * ARNs that policies need before (or without) the resource they name, built from plain strings.
 * Pure, so the policy builders and their tests use exactly what the components use.
 */

/** Where a stack is deployed: resolved from `aws.getCallerIdentity`, `aws.getRegion` and `aws.getPartition`. */
export interface AwsContext {
  readonly partition: string;
  readonly region: string;
  readonly accountId: string;
}

/** The receipt rule SES acts as when it writes to the bucket and publishes to the topic (`aws:SourceArn`). */
export function receiptRuleArn(ctx: AwsContext, ruleSetName: string, ruleName: string): string {
  return `arn:${ctx.partition}:ses:${ctx.region}:${ctx.accountId}:receipt-rule-set/${ruleSetName}:receipt-rule/${ruleName}`;
}

/** An SSM parameter's ARN; `name` starts with `/`. */
export function ssmParameterArn(ctx: AwsContext, name: string): string {
  if (!name.startsWith("/")) throw new Error(`SSM parameter names here are paths starting with /: ${name}`);
  return `arn:${ctx.partition}:ssm:${ctx.region}:${ctx.accountId}:parameter${name}`;
}

/** IAM users under a name prefix (the SMTP users the credential manager creates). */
export function iamUserArnPattern(ctx: AwsContext, prefix: string): string {
  return `arn:${ctx.partition}:iam::${ctx.accountId}:user/${prefix}*`;
}

/** The account root principal, for key policies. */
export function accountRootArn(ctx: AwsContext): string {
  return `arn:${ctx.partition}:iam::${ctx.accountId}:root`;
}

/** Log streams of a log group: what `logs:CreateLogStream` and `logs:PutLogEvents` are granted on. */
export function logStreamsArn(logGroupArn: string): string {
  return `${logGroupArn.replace(/:\*$/, "")}:*`;
}

/** A verified SES identity (a domain) that mail may be sent from. */
export function sesIdentityArn(ctx: AwsContext, identity: string): string {
  return `arn:${ctx.partition}:ses:${ctx.region}:${ctx.accountId}:identity/${identity}`;
}

/** The `{region}` endpoint that receives mail for a domain: the target of its MX record. */
export function inboundSmtpEndpoint(region: string): string {
  return `inbound-smtp.${region}.amazonaws.com`;
}
