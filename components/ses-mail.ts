/**
 * The whole ses-mail stack as one component: every pipeline stage, wired in the order the mail flows,
 * with the default tags on every taggable resource. index.ts reads the stack config and hands it here
 * with the handler factories; tests and the offline synth run the very same program.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config/schema";
import { BOUNCER_PATTERN, GMAIL_FORWARDER_PATTERN } from "../core/event-patterns";
import { outcomeMetricName, stageMetricNames } from "../core/outcomes";
import { Application } from "./application";
import { receiptRuleArn, type AwsContext } from "./arns";
import { Bouncer, type BouncerStageEnvironment } from "./bouncer";
import type { StackContext } from "./context";
import { CredentialManager, type CredentialManagerStageEnvironment } from "./credential-manager";
import { EventRouting } from "./event-routing";
import { GmailForwarder, GMAIL_FORWARDER_TIMEOUT_SECONDS, type GmailForwarderStageEnvironment } from "./gmail-forwarder";
import { Inbound, type DnsRecord } from "./inbound";
import type { LambdaCode } from "./lambda-function";
import { Monitoring, PARKED_AGE_METRIC, type MonitoringArgs } from "./monitoring";
import { MtaSts } from "./mta-sts";
import { metricsNamespace, stackNames } from "./naming";
import { InboundNotification } from "./notification";
import { RetryProcessor } from "./retry-processor";
import { RouterStage, type RouterStageEnvironment } from "./router";
import { RoutingTable } from "./routing-table";
import { MessageStorage } from "./storage";
import { defaultTags, tagTransformation } from "./tags";
import { TokenMonitor } from "./token-monitor";
import { Tracing } from "./tracing";

/** The Lambda handlers, each a factory with its environment builder. Stages without one build everything but the function. */
export interface SesMailHandlers {
  readonly router: LambdaCode<RouterStageEnvironment>;
  readonly gmailForwarder?: LambdaCode<GmailForwarderStageEnvironment>;
  readonly bouncer?: LambdaCode<BouncerStageEnvironment>;
  readonly credentialManager?: LambdaCode<CredentialManagerStageEnvironment>;
}

export interface SesMailArgs {
  /** The validated stack config (config/schema.ts). */
  readonly config: StackConfig;
  readonly handlers: SesMailHandlers;
  /** The credential manager's stream filter (its handler exports it). Default: SMTP user items. */
  readonly credentialStreamFilter?: Readonly<Record<string, unknown>>;
}

/**
 * Handler metrics on the dashboard, by Powertools service: the delivery handlers' come from the outcome
 * table (core/outcomes.ts), the credential manager's from its own calls.
 */
export const HANDLER_DASHBOARD_METRICS: Readonly<Record<string, readonly string[]>> = {
  // Bytes and the parking age are not counts: the parked-delivery widget and alarms show the age.
  "gmail-forwarder": stageMetricNames("gmail-forwarder").filter(
    (name) => name !== outcomeMetricName("imported", "GmailImportedBytes") && name !== PARKED_AGE_METRIC,
  ),
  bouncer: stageMetricNames("bouncer"),
  "credential-manager": ["SmtpUserCreated", "SmtpUserRotated", "SmtpUserDeleted", "SmtpUserFailed", "SmtpRecordFailed"],
};

/**
 * Queue-age alarm thresholds, seconds: the Pipe drains the input queue in seconds; handlers in minutes. The
 * retry queue has none: a parked delivery is re-parked as a new message every hour, so its age never grows;
 * the parked-delivery alarms (components/monitoring.ts) watch the parking age the messages carry instead.
 */
export const QUEUE_AGE_THRESHOLDS = { input: 5 * 60, gmail: 60 * 60, bouncer: 60 * 60 } as const;

/** The stack outputs (index.ts exports them). */
export interface SesMailOutputs {
  readonly bucketName: pulumi.Output<string>;
  readonly routingTableName: pulumi.Output<string>;
  readonly eventBusName: pulumi.Output<string>;
  readonly inputQueueUrl: pulumi.Output<string>;
  readonly retryQueueUrl: pulumi.Output<string>;
  readonly receiptRuleSetName: pulumi.Output<string>;
  readonly dnsRecords: pulumi.Output<Record<string, DnsRecord[]>>;
  readonly alarmTopicArn: pulumi.Output<string>;
  readonly dashboardUrl: pulumi.Output<string>;
  readonly myApplicationsUrl: pulumi.Output<string>;
  readonly retryProcessorArn?: pulumi.Output<string>;
  readonly smtpCredentialsKeyArn?: pulumi.Output<string>;
  readonly functions: pulumi.Output<Record<string, string>>;
}

export class SesMail extends pulumi.ComponentResource {
  public readonly outputs: SesMailOutputs;

  constructor(name: string, args: SesMailArgs, opts?: pulumi.ComponentResourceOptions) {
    const { config, handlers } = args;
    const env = config.environment;
    const tags = defaultTags(env);
    // The application tag is known only once the application exists; every later resource gets it.
    const late: { applicationTag?: pulumi.Output<Record<string, string>> } = {};
    super(
      "ses-mail:index:SesMail",
      name,
      {},
      { ...opts, transformations: [tagTransformation(tags, () => late.applicationTag), ...(opts?.transformations ?? [])] },
    );
    const parent = { parent: this };

    const names = stackNames(env);
    const awsContext: pulumi.Output<AwsContext> = pulumi
      .all([aws.getCallerIdentityOutput({}, parent), aws.getRegionOutput({}, parent), aws.getPartitionOutput({}, parent)])
      .apply(([identity, region, partition]) => ({ accountId: identity.accountId, region: region.region, partition: partition.partition }));
    const stack: StackContext = {
      env,
      names,
      aws: awsContext,
      logRetentionDays: config.logRetentionDays,
      metricsNamespace: metricsNamespace(env),
      logExecutionData: config.logExecutionData,
    };

    const application = new Application(`${name}-application`, { stack, tags }, parent);
    late.applicationTag = application.applicationTag;

    // Inbound: SES writes to the bucket and notifies the topic, acting as this rule (known before it exists).
    const ruleSetName = config.joinExistingRuleSet ?? names.ruleSet;
    const ruleArn = awsContext.apply((ctx) => receiptRuleArn(ctx, ruleSetName, names.receiptRule));
    const table = new RoutingTable(
      `${name}-routing-table`,
      { stack, routes: config.routes, deletionProtection: config.deletionProtection },
      parent,
    );
    const storage = new MessageStorage(
      `${name}-storage`,
      { stack, retentionDays: config.emailRetentionDays, receiptRuleArn: ruleArn, deletionProtection: config.deletionProtection },
      parent,
    );
    const notification = new InboundNotification(`${name}-notification`, { stack, receiptRuleArn: ruleArn }, parent);
    const inbound = new Inbound(
      `${name}-inbound`,
      {
        stack,
        domains: config.domains,
        bucketName: storage.bucket.bucket,
        keyPrefix: storage.keyPrefix,
        topicArn: notification.topic.arn,
        ...(config.joinExistingRuleSet ? { joinExistingRuleSet: config.joinExistingRuleSet } : {}),
        ...(config.replaceActiveRuleSet ? { replaceActiveRuleSet: config.replaceActiveRuleSet } : {}),
        adoptRuleSet: config.adoptRuleSet,
        adoptIdentities: config.adoptIdentities,
        tlsPolicy: config.tlsPolicy,
        permissions: [storage.policy, notification.topicPolicy],
      },
      parent,
    );

    const mtaSts = config.mtaSts
      ? new MtaSts(
          `${name}-mta-sts`,
          {
            stack,
            domains: config.domains,
            mode: config.mtaSts.mode,
            maxAgeDays: config.mtaSts.maxAgeDays,
            certificateArn: config.mtaSts.certificateArn,
            ...(config.mtaSts.reportingAddress ? { reportingAddress: config.mtaSts.reportingAddress } : {}),
          },
          parent,
        )
      : undefined;

    // Delivery stages first: the bus routes into their queues.
    const gmail = new GmailForwarder(
      `${name}-gmail-forwarder`,
      {
        stack,
        ...(handlers.gmailForwarder ? { code: handlers.gmailForwarder } : {}),
        routes: config.routes,
        table: table.table,
        bucket: storage.bucket,
        keyPrefix: storage.keyPrefix,
      },
      parent,
    );
    const bouncer = new Bouncer(
      `${name}-bouncer`,
      {
        stack,
        ...(handlers.bouncer ? { code: handlers.bouncer } : {}),
        table: table.table,
        bucket: storage.bucket,
        keyPrefix: storage.keyPrefix,
        domains: config.domains,
      },
      parent,
    );
    const events = new EventRouting(
      `${name}-event-routing`,
      {
        stack,
        routes: [
          {
            key: "gmail",
            ruleName: names.gmailRule,
            description: "Decisions with a Gmail forward → the forwarder queue",
            pattern: GMAIL_FORWARDER_PATTERN,
            queue: gmail.queues.queue,
          },
          {
            key: "bouncer",
            ruleName: names.bouncerRule,
            description: "Decisions with a bounce → the bouncer queue",
            pattern: BOUNCER_PATTERN,
            queue: bouncer.queues.queue,
          },
        ],
      },
      parent,
    );
    const router = new RouterStage(
      `${name}-router`,
      {
        stack,
        code: handlers.router,
        table: table.table,
        inputQueue: notification.input.queue,
        bus: events.bus,
        bucketName: storage.bucket.bucket,
        keyPrefix: storage.keyPrefix,
        defaultAction: config.defaultAction,
        verdictPolicy: config.verdictPolicy,
      },
      parent,
    );

    const credentials = handlers.credentialManager
      ? new CredentialManager(
          `${name}-credential-manager`,
          {
            stack,
            code: handlers.credentialManager,
            table: table.table,
            deletionProtection: config.deletionProtection,
            ...(args.credentialStreamFilter ? { streamFilter: args.credentialStreamFilter } : {}),
          },
          parent,
        )
      : undefined;
    const retryProcessor = gmail.function
      ? new RetryProcessor(
          `${name}-retry-processor`,
          {
            stack,
            retryQueue: gmail.retry.queue,
            retryDeadLetterQueue: gmail.retry.deadLetterQueue,
            forwarder: gmail.function.function,
            forwarderTimeoutSeconds: GMAIL_FORWARDER_TIMEOUT_SECONDS,
          },
          parent,
        )
      : undefined;
    const tokenMonitor = new TokenMonitor(`${name}-token-monitor`, { stack }, parent);
    new Tracing(`${name}-tracing`, { stack }, parent);

    const functions = [
      { key: "router", fn: router.router },
      ...(gmail.function ? [{ key: "gmail-forwarder", fn: gmail.function }] : []),
      ...(bouncer.function ? [{ key: "bouncer", fn: bouncer.function }] : []),
      ...(credentials ? [{ key: "credential-manager", fn: credentials.function }] : []),
    ];
    const targets: MonitoringArgs["targets"] = {
      functions: functions.map(({ key, fn }) => ({ key, functionName: fn.name })),
      queues: [
        { key: "input", queueName: notification.input.queue.name, maxAgeSeconds: QUEUE_AGE_THRESHOLDS.input },
        { key: "gmail-forwarder", queueName: gmail.queues.queue.name, maxAgeSeconds: QUEUE_AGE_THRESHOLDS.gmail },
        { key: "gmail-forwarder-retry", queueName: gmail.retry.queue.name },
        { key: "bouncer", queueName: bouncer.queues.queue.name, maxAgeSeconds: QUEUE_AGE_THRESHOLDS.bouncer },
      ],
      deadLetterQueues: [
        { key: "input", queueName: notification.input.deadLetterQueue.name },
        { key: "event-routing", queueName: events.deadLetterQueue.name },
        { key: "gmail-forwarder", queueName: gmail.queues.deadLetterQueue.name },
        { key: "gmail-forwarder-retry", queueName: gmail.retry.deadLetterQueue.name },
        { key: "bouncer", queueName: bouncer.queues.deadLetterQueue.name },
        ...(credentials ? [{ key: "credential-manager", queueName: credentials.deadLetterQueue.name }] : []),
      ],
      stateMachines: [
        { key: "token-monitor", arn: tokenMonitor.workflow.stateMachine.arn },
        ...(retryProcessor ? [{ key: "retry-processor", arn: retryProcessor.workflow.stateMachine.arn }] : []),
      ],
      pipeName: router.pipe.name,
      tokenMonitor: true,
      parkedDeliveries: gmail.function !== undefined,
      handlerMetrics: Object.fromEntries(
        functions.flatMap(({ key }) => (HANDLER_DASHBOARD_METRICS[key] ? [[key, HANDLER_DASHBOARD_METRICS[key]]] : [])),
      ),
    };
    const monitoring = new Monitoring(
      `${name}-monitoring`,
      { stack, ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}), targets },
      parent,
    );

    this.outputs = {
      bucketName: storage.bucket.bucket,
      routingTableName: table.table.name,
      eventBusName: events.bus.name,
      inputQueueUrl: notification.input.queue.url,
      retryQueueUrl: gmail.retry.queue.url,
      receiptRuleSetName: inbound.ruleSetName,
      dnsRecords: mtaSts
        ? pulumi
            .all([inbound.dnsRecords, mtaSts.dnsRecords])
            .apply(([receiving, policy]) =>
              Object.fromEntries(Object.entries(receiving).map(([domain, records]) => [domain, [...records, ...(policy[domain] ?? [])]])),
            )
        : inbound.dnsRecords,
      alarmTopicArn: monitoring.alarmTopic.arn,
      dashboardUrl: pulumi.interpolate`https://console.aws.amazon.com/cloudwatch/home?region=${awsContext.region}#dashboards:name=${monitoring.dashboard.dashboardName}`,
      myApplicationsUrl: pulumi.interpolate`https://console.aws.amazon.com/systems-manager/appmanager/application/AWS_AppRegistry_Application-${application.application.name}?region=${awsContext.region}`,
      ...(retryProcessor ? { retryProcessorArn: retryProcessor.workflow.stateMachine.arn } : {}),
      ...(credentials ? { smtpCredentialsKeyArn: credentials.key.arn } : {}),
      functions: pulumi.all(Object.fromEntries(functions.map(({ key, fn }) => [key, fn.name]))),
    };
    this.registerOutputs({ ...this.outputs });
  }
}
