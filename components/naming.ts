/**
 * Physical names of every AWS resource of a stack, in the seed's `ses-mail-…-{env}` scheme, and the
 * AWS length limits they must fit. Pure: the components, the tests and the synth diagram all read
 * names from here, so a name is defined once.
 */
import { createHash } from "node:crypto";
import { routingTableName } from "../core/table";

/** AWS name length limits, by the kind of resource (from each service's API reference). */
export const NAME_LIMITS = {
  bucket: 63,
  iamRole: 64,
  iamPolicy: 128,
  lambdaFunction: 64,
  sqsQueue: 80,
  snsTopic: 256,
  eventBus: 256,
  eventRule: 64,
  pipe: 64,
  stateMachine: 80,
  schedule: 64,
  logGroup: 512,
  alarm: 255,
  dashboard: 255,
  kmsAlias: 256,
  receiptRuleSet: 64,
  receiptRule: 64,
  dynamodbTable: 255,
  resourceGroup: 128,
  application: 256,
  logResourcePolicy: 256,
  xraySamplingRule: 32,
} as const;
export type NameKind = keyof typeof NAME_LIMITS;

export class ResourceNameError extends Error {
  constructor(kind: NameKind, name: string) {
    super(
      `${kind} name ${JSON.stringify(name)} is ${name.length} characters; AWS allows at most ${NAME_LIMITS[kind]} (use a shorter stack name)`,
    );
    this.name = "ResourceNameError";
  }
}

/** Returns the name, or throws ResourceNameError when AWS would refuse it for its length. */
export function checkedName(kind: NameKind, name: string): string {
  if (name.length > NAME_LIMITS[kind]) throw new ResourceNameError(kind, name);
  return name;
}

/**
 * A name that must fit a tight limit (X-Ray sampling rules: 32): as is when it fits, otherwise cut and
 * made unique again with a short hash of the whole name, so long stack names still deploy.
 */
export function fittedName(kind: NameKind, name: string): string {
  const limit = NAME_LIMITS[kind];
  if (name.length <= limit) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 8);
  return `${name.slice(0, limit - hash.length - 1)}-${hash}`;
}

/** The Lambda functions of a stack, by role in the pipeline. */
export const FunctionKey = {
  Router: "router",
  GmailForwarder: "gmail-forwarder",
  Bouncer: "bouncer",
  CredentialManager: "credential-manager",
} as const;
export type FunctionKey = (typeof FunctionKey)[keyof typeof FunctionKey];

/** Every name of a stack. `accountId` is only needed for the bucket and may be an unresolved placeholder elsewhere. */
export function stackNames(env: string) {
  const fn = (key: FunctionKey) =>
    checkedName("lambdaFunction", key === FunctionKey.Router ? `ses-mail-router-enrichment-${env}` : `ses-mail-${key}-${env}`);
  const role = (key: string) => checkedName("iamRole", `ses-mail-${key}-${env}`);
  const queue = (name: string) => checkedName("sqsQueue", name);
  return {
    env,
    application: checkedName("application", `ses-mail-${env}`),
    resourceGroup: checkedName("resourceGroup", `ses-mail-${env}`),
    bucket: (accountId: string) => checkedName("bucket", `ses-mail-storage-${accountId}-${env}`),
    ruleSet: checkedName("receiptRuleSet", `ses-ruleset-${env}`),
    receiptRule: checkedName("receiptRule", `ses-mail-inbound-${env}`),
    topic: checkedName("snsTopic", `ses-email-processing-${env}`),
    inputQueue: queue(`ses-email-input-${env}`),
    inputDeadLetterQueue: queue(`ses-email-input-dlq-${env}`),
    table: checkedName("dynamodbTable", routingTableName(env)),
    function: fn,
    functionLogGroup: (key: FunctionKey) => checkedName("logGroup", `/aws/lambda/${fn(key)}`),
    role,
    pipe: checkedName("pipe", `ses-email-router-${env}`),
    pipeLogGroup: checkedName("logGroup", `/aws/pipes/ses-email-router-${env}`),
    bus: checkedName("eventBus", `ses-mail-email-routing-${env}`),
    busLogGroup: checkedName("logGroup", `/aws/events/ses-mail-email-routing-${env}`),
    busLogPolicy: checkedName("logResourcePolicy", `ses-mail-events-to-logs-${env}`),
    gmailRule: checkedName("eventRule", `route-to-gmail-${env}`),
    bouncerRule: checkedName("eventRule", `route-to-bouncer-${env}`),
    decisionLogRule: checkedName("eventRule", `log-routing-decisions-${env}`),
    eventRoutingDeadLetterQueue: queue(`ses-mail-event-routing-dlq-${env}`),
    gmailQueue: queue(`ses-gmail-forwarder-${env}`),
    gmailDeadLetterQueue: queue(`ses-gmail-forwarder-dlq-${env}`),
    retryQueue: queue(`ses-mail-gmail-forwarder-retry-${env}`),
    retryDeadLetterQueue: queue(`ses-mail-gmail-forwarder-retry-dlq-${env}`),
    bouncerQueue: queue(`ses-bouncer-${env}`),
    bouncerDeadLetterQueue: queue(`ses-bouncer-dlq-${env}`),
    credentialDeadLetterQueue: queue(`ses-mail-credential-manager-dlq-${env}`),
    credentialKeyAlias: checkedName("kmsAlias", `alias/ses-mail-smtp-credentials-${env}`),
    smtpUserBoundary: checkedName("iamPolicy", `ses-mail-smtp-user-boundary-${env}`),
    retryProcessor: checkedName("stateMachine", `ses-mail-gmail-forwarder-retry-processor-${env}`),
    // Under /aws/vendedlogs/: Step Functions then needs no entry in the account's one CloudWatch Logs
    // resource policy (5,120 characters, shared by every service that delivers logs), AWS's guidance.
    retryProcessorLogGroup: checkedName("logGroup", `/aws/vendedlogs/states/ses-mail-gmail-forwarder-retry-processor-${env}`),
    retryProcessorSchedule: checkedName("schedule", `ses-mail-retry-processor-${env}`),
    tokenMonitor: checkedName("stateMachine", `ses-mail-gmail-token-monitor-${env}`),
    tokenMonitorLogGroup: checkedName("logGroup", `/aws/vendedlogs/states/ses-mail-gmail-token-monitor-${env}`),
    tokenMonitorSchedule: checkedName("schedule", `ses-mail-token-monitor-${env}`),
    alarmTopic: checkedName("snsTopic", `ses-mail-alarms-${env}`),
    dashboard: checkedName("dashboard", `ses-mail-dashboard-${env}`),
    alarm: (what: string) => checkedName("alarm", `ses-mail-${what}-${env}`),
    xraySamplingRule: fittedName("xraySamplingRule", `ses-mail-${env}`),
    mtaStsBucket: (accountId: string) => checkedName("bucket", `ses-mail-mta-sts-${accountId}-${env}`),
  };
}
export type StackNames = ReturnType<typeof stackNames>;

/** The CloudWatch namespace of every custom metric of a stack (Powertools metrics and the token monitor). */
export function metricsNamespace(env: string): string {
  return `SESMail/${env}`;
}

/** Where SES writes raw messages in the bucket (the router and handlers read them there). */
export const RAW_MESSAGE_KEY_PREFIX = "emails/";
