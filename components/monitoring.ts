/**
 * Monitoring: the alarm topic (with an optional email subscription), the alarms and the dashboard.
 * Alarms and widgets are plain data built by pure functions from plain names, so tests check them
 * without Pulumi and the component only turns them into resources.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { OUTCOME_METRICS, outcomeMetricName } from "../core/outcomes";
import type { StackContext } from "./context";
import { TOKEN_METRIC_NAME, UNKNOWN_EXPIRY_SECONDS } from "./workflows";

export const HOUR_SECONDS = 60 * 60;
/** The seed's two-tier token alerting: a warning a day ahead, a critical alarm six hours ahead. */
export const TOKEN_WARNING_SECONDS = 24 * HOUR_SECONDS;
export const TOKEN_CRITICAL_SECONDS = 6 * HOUR_SECONDS;
/**
 * Token alarms look at 10-minute windows: the monitor publishes every 5 minutes, so each window holds
 * at least one value; an empty window means the monitor stopped, and is treated as breaching.
 */
export const TOKEN_ALARM_PERIOD_SECONDS = 600;

export type Statistic = "Sum" | "Maximum" | "Minimum" | "Average" | "SampleCount";
export type Comparison = "GreaterThanThreshold" | "LessThanThreshold";
export type MissingData = "breaching" | "notBreaching";

/** `N` is how names are held: `string` in tests and the dashboard, `pulumi.Input<string>` in the component. */
export interface AlarmSpec<N = string> {
  /** Short key, unique in the stack; the child resource name. */
  readonly key: string;
  readonly name: string;
  readonly description: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, N>>;
  readonly statistic: Statistic;
  readonly periodSeconds: number;
  readonly evaluationPeriods: number;
  /** "M out of N": this many breaching periods among the last `evaluationPeriods` raise the alarm. Default: all of them. */
  readonly datapointsToAlarm?: number;
  readonly threshold: number;
  readonly comparison: Comparison;
  readonly treatMissingData: MissingData;
}

export interface WatchedFunction<N = string> {
  readonly key: string;
  readonly functionName: N;
}
export interface WatchedQueue<N = string> {
  readonly key: string;
  readonly queueName: N;
  /** Alarm when the oldest message is older than this; no age alarm when absent. */
  readonly maxAgeSeconds?: number;
}
export interface WatchedStateMachine<N = string> {
  readonly key: string;
  readonly arn: N;
}

/** Everything the alarms and the dashboard watch: keys are plain, names and ARNs are `N`. */
export interface MonitoringTargets<N = string> {
  readonly env: string;
  readonly region: string;
  readonly namespace: string;
  readonly functions: readonly WatchedFunction<N>[];
  /** Queues handlers consume (depth and age). */
  readonly queues: readonly WatchedQueue<N>[];
  /** Dead-letter queues: any message is an alarm. */
  readonly deadLetterQueues: readonly WatchedQueue<N>[];
  readonly stateMachines: readonly WatchedStateMachine<N>[];
  readonly pipeName?: N;
  /** Whether the token monitor runs (a stack with a Gmail forwarder). */
  readonly tokenMonitor: boolean;
  /** Whether a Gmail forwarder parks deliveries for mailboxes that need an operator (the parked-delivery alarms). */
  readonly parkedDeliveries?: boolean;
  /** Custom metrics a handler publishes, by its Powertools service name (for the dashboard). */
  readonly handlerMetrics: Readonly<Record<string, readonly string[]>>;
}

const alarmName = (env: string, what: string) => `ses-mail-${what}-${env}`;

/** An alarm on anything at all happening in a 5-minute window (errors, failures, dead letters); silence is fine. */
const ANY_OCCURRENCE = {
  periodSeconds: 300,
  evaluationPeriods: 1,
  threshold: 0,
  comparison: "GreaterThanThreshold",
  treatMissingData: "notBreaching",
} as const;

/** The Powertools service (the `service` dimension) whose metric says a delivery was parked, and the metric. */
export const PARKED_DELIVERY_SERVICE = "gmail-forwarder" satisfies (typeof OUTCOME_METRICS)["parked"]["stages"][number];
export const PARKED_AGE_METRIC = outcomeMetricName("parked", "GmailParkedAgeSeconds");

/**
 * The parked-delivery alarms read GmailParkedAgeSeconds, which the forwarder publishes on every park (now
 * minus when the delivery was first parked) and which the hourly retry run re-publishes for every delivery
 * still waiting. The window is 10-minute periods, and the alarm holds while any period of the last 80
 * minutes has a value: longer than the hour between retry runs, so a delivery still parked keeps the alarm
 * raised instead of flapping, and it clears 80 minutes after the last park. The queue's own age cannot do
 * this: a re-parked delivery is a new message every hour.
 */
export const PARKED_ALARM_PERIOD_SECONDS = 600;
export const PARKED_ALARM_EVALUATION_PERIODS = 8;
/** "Parked longer than a day" (the retry queue-age alarm's threshold before, which could never fire). */
export const PARKED_TOO_LONG_SECONDS = 24 * HOUR_SECONDS;

export function alarmSpecs<N>(t: MonitoringTargets<N>): AlarmSpec<N>[] {
  const specs: AlarmSpec<N>[] = [];
  if (t.parkedDeliveries) {
    const parked = {
      namespace: t.namespace,
      metricName: PARKED_AGE_METRIC,
      dimensions: { service: PARKED_DELIVERY_SERVICE as N },
      periodSeconds: PARKED_ALARM_PERIOD_SECONDS,
      evaluationPeriods: PARKED_ALARM_EVALUATION_PERIODS,
      datapointsToAlarm: 1,
      comparison: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
    } as const;
    specs.push({
      ...parked,
      key: "gmail-delivery-parked",
      name: alarmName(t.env, "gmail-delivery-parked"),
      description: `A Gmail delivery was parked: a mailbox's token is expired or revoked, and its mail waits in the retry queue. See: ses-mail oauth status --stack ${t.env}; then ses-mail oauth refresh --account ADDRESS --stack ${t.env}.`,
      statistic: "SampleCount",
      threshold: 0,
    });
    specs.push({
      ...parked,
      key: "gmail-delivery-parked-over-a-day",
      name: alarmName(t.env, "gmail-delivery-parked-over-a-day"),
      description: `A Gmail delivery has been parked for over ${PARKED_TOO_LONG_SECONDS / HOUR_SECONDS} h and nobody re-authorized its mailbox. See: ses-mail oauth status --stack ${t.env}; then ses-mail oauth refresh --account ADDRESS --stack ${t.env}.`,
      statistic: "Maximum",
      threshold: PARKED_TOO_LONG_SECONDS,
    });
  }
  if (t.tokenMonitor) {
    for (const [level, seconds] of [
      ["warning", TOKEN_WARNING_SECONDS],
      ["critical", TOKEN_CRITICAL_SECONDS],
    ] as const) {
      specs.push({
        key: `gmail-token-${level}`,
        name: alarmName(t.env, `gmail-token-expiring-${level}`),
        description: `A Gmail refresh token expires within ${seconds / HOUR_SECONDS} h, or its expiry is unknown (${UNKNOWN_EXPIRY_SECONDS}), or the token monitor stopped publishing. See: ses-mail oauth status --stack ${t.env}; then ses-mail oauth refresh --account ADDRESS --stack ${t.env}.`,
        namespace: t.namespace,
        metricName: TOKEN_METRIC_NAME,
        dimensions: {},
        statistic: "Minimum",
        periodSeconds: TOKEN_ALARM_PERIOD_SECONDS,
        evaluationPeriods: 1,
        threshold: seconds,
        comparison: "LessThanThreshold",
        treatMissingData: "breaching",
      });
    }
  }
  for (const queue of t.deadLetterQueues) {
    specs.push({
      key: `${queue.key}-dlq`,
      name: alarmName(t.env, `${queue.key}-dlq-messages`),
      description: `The ${queue.key} dead-letter queue holds messages that failed every attempt.`,
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: queue.queueName },
      statistic: "Maximum",
      ...ANY_OCCURRENCE,
    });
  }
  for (const fn of t.functions) {
    specs.push({
      key: `${fn.key}-errors`,
      name: alarmName(t.env, `${fn.key}-errors`),
      description: `The ${fn.key} function failed an invocation.`,
      namespace: "AWS/Lambda",
      metricName: "Errors",
      dimensions: { FunctionName: fn.functionName },
      statistic: "Sum",
      ...ANY_OCCURRENCE,
    });
  }
  for (const queue of t.queues) {
    if (queue.maxAgeSeconds === undefined) continue;
    specs.push({
      key: `${queue.key}-age`,
      name: alarmName(t.env, `${queue.key}-queue-age`),
      description: `The oldest message in the ${queue.key} queue waited over ${queue.maxAgeSeconds} s.`,
      namespace: "AWS/SQS",
      metricName: "ApproximateAgeOfOldestMessage",
      dimensions: { QueueName: queue.queueName },
      statistic: "Maximum",
      ...ANY_OCCURRENCE,
      threshold: queue.maxAgeSeconds,
    });
  }
  for (const machine of t.stateMachines) {
    specs.push({
      key: `${machine.key}-failed`,
      name: alarmName(t.env, `${machine.key}-failed`),
      description: `An execution of the ${machine.key} state machine failed.`,
      namespace: "AWS/States",
      metricName: "ExecutionsFailed",
      dimensions: { StateMachineArn: machine.arn },
      statistic: "Sum",
      ...ANY_OCCURRENCE,
    });
  }
  if (t.pipeName !== undefined) {
    specs.push({
      key: "pipe-failed",
      name: alarmName(t.env, "pipe-failures"),
      description: "The router pipe failed to route a message (it retries; the input DLQ keeps what keeps failing).",
      namespace: "AWS/EventBridge/Pipes",
      metricName: "ExecutionFailed",
      dimensions: { PipeName: t.pipeName },
      statistic: "Sum",
      ...ANY_OCCURRENCE,
    });
  }
  const names = specs.map((spec) => spec.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate) throw new Error(`alarm ${duplicate} is defined twice`);
  return specs;
}

type MetricRow = ReadonlyArray<string | Readonly<Record<string, unknown>>>;

function metricWidget(
  title: string,
  region: string,
  metrics: readonly MetricRow[],
  x: number,
  y: number,
  extra: Record<string, unknown> = {},
) {
  return {
    type: "metric",
    x,
    y,
    width: 12,
    height: 6,
    properties: { title, region, view: "timeSeries", stacked: false, period: 300, metrics, ...extra },
  };
}

/** The dashboard body (CloudWatch dashboard JSON): mail, functions, queues, token, credentials. */
export function dashboardBody(t: MonitoringTargets): Record<string, unknown> {
  const widgets: Record<string, unknown>[] = [];
  const place = (title: string, metrics: readonly MetricRow[], extra?: Record<string, unknown>) => {
    if (metrics.length === 0) return;
    const index = widgets.length;
    widgets.push(metricWidget(title, t.region, metrics, (index % 2) * 12, Math.floor(index / 2) * 6, extra));
  };
  const router = (metric: string, label: string): MetricRow => [t.namespace, metric, "service", "router", { stat: "Sum", label }];
  const m = outcomeMetricName;

  place("Mail: accepted, forwarded, bounced, dropped", [
    router(m("routed", "MessagesRouted"), "accepted"),
    router(m("routed", "Forwarded"), "forwarded (targets)"),
    router(m("routed", "Bounced"), "bounced (targets)"),
    router(m("dropped", "Dropped"), "dropped (targets)"),
    router(m("stored", "Stored"), "stored (targets)"),
    router(m("routed", "Quarantined"), "quarantined"),
    router(m("dropped", "PolicyDropped"), "dropped by verdict policy"),
    router(m("setup-notification", "SetupNotificationAcknowledged"), "SES setup notifications"),
  ]);
  const perFunction = (metric: string, stat: string) =>
    t.functions.map((fn): MetricRow => ["AWS/Lambda", metric, "FunctionName", fn.functionName, { stat, label: fn.key }]);
  const perQueue = (queues: typeof t.queues, metric: string) =>
    queues.map((q): MetricRow => ["AWS/SQS", metric, "QueueName", q.queueName, { stat: "Maximum", label: q.key }]);
  place("Lambda errors", perFunction("Errors", "Sum"));
  place("Lambda duration (p99)", perFunction("Duration", "p99"));
  place("Queue depth", perQueue(t.queues, "ApproximateNumberOfMessagesVisible"));
  place("Age of oldest message (s)", perQueue(t.queues, "ApproximateAgeOfOldestMessage"));
  place("Dead-letter queue depth", perQueue(t.deadLetterQueues, "ApproximateNumberOfMessagesVisible"));
  if (t.tokenMonitor) {
    place(
      "Gmail token: seconds until expiry (min over accounts)",
      [[t.namespace, TOKEN_METRIC_NAME, { stat: "Minimum", label: "seconds left" }]],
      {
        annotations: {
          horizontal: [
            { label: "warning (24 h)", value: TOKEN_WARNING_SECONDS },
            { label: "critical (6 h)", value: TOKEN_CRITICAL_SECONDS, color: "#d62728" },
          ],
        },
      },
    );
  }
  if (t.parkedDeliveries) {
    place(
      "Parked Gmail deliveries: longest wait (s)",
      [[t.namespace, PARKED_AGE_METRIC, "service", PARKED_DELIVERY_SERVICE, { stat: "Maximum", label: "parked for" }]],
      {
        annotations: { horizontal: [{ label: "alarm (24 h)", value: PARKED_TOO_LONG_SECONDS, color: "#d62728" }] },
      },
    );
  }
  for (const [service, metrics] of Object.entries(t.handlerMetrics)) {
    place(
      `${service} operations`,
      metrics.map((metric): MetricRow => [t.namespace, metric, "service", service, { stat: "Sum" }]),
    );
  }
  return { widgets };
}

export interface MonitoringArgs {
  readonly stack: StackContext;
  /** Where alarm notifications are emailed. Default: no subscription (subscribe to the topic yourself). */
  readonly alarmEmail?: string;
  /** What to watch: plain keys and lists, names and ARNs as Inputs. */
  readonly targets: Omit<MonitoringTargets<pulumi.Input<string>>, "region" | "env" | "namespace">;
}

export class Monitoring extends pulumi.ComponentResource {
  public readonly alarmTopic: aws.sns.Topic;
  public readonly dashboard: aws.cloudwatch.Dashboard;
  public readonly alarms: aws.cloudwatch.MetricAlarm[];

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:monitoring:Monitoring", name, {}, opts);
    const { stack } = args;
    const parent = { parent: this };

    this.alarmTopic = new aws.sns.Topic(`${name}-alarm-topic`, { name: stack.names.alarmTopic, tracingConfig: "Active" }, parent);
    if (args.alarmEmail) {
      new aws.sns.TopicSubscription(
        `${name}-alarm-email`,
        { topic: this.alarmTopic.arn, protocol: "email", endpoint: args.alarmEmail },
        parent,
      );
    }

    const specs = alarmSpecs<pulumi.Input<string>>({ ...args.targets, env: stack.env, region: "", namespace: stack.metricsNamespace });
    this.alarms = specs.map(
      (spec) =>
        new aws.cloudwatch.MetricAlarm(
          `${name}-${spec.key}`,
          {
            name: spec.name,
            alarmDescription: spec.description,
            namespace: spec.namespace,
            metricName: spec.metricName,
            dimensions: spec.dimensions,
            statistic: spec.statistic,
            period: spec.periodSeconds,
            evaluationPeriods: spec.evaluationPeriods,
            ...(spec.datapointsToAlarm !== undefined ? { datapointsToAlarm: spec.datapointsToAlarm } : {}),
            threshold: spec.threshold,
            comparisonOperator: spec.comparison,
            treatMissingData: spec.treatMissingData,
            alarmActions: [this.alarmTopic.arn],
            okActions: [this.alarmTopic.arn],
          },
          parent,
        ),
    );

    const resolved = pulumi.all([pulumi.output(args.targets), stack.aws]).apply(([watched, ctx]): MonitoringTargets => ({
      ...watched,
      env: stack.env,
      region: ctx.region,
      namespace: stack.metricsNamespace,
    }));
    this.dashboard = new aws.cloudwatch.Dashboard(
      `${name}-dashboard`,
      { dashboardName: stack.names.dashboard, dashboardBody: resolved.apply((t) => JSON.stringify(dashboardBody(t))) },
      parent,
    );

    this.registerOutputs({ alarmTopicArn: this.alarmTopic.arn, dashboardName: this.dashboard.dashboardName });
  }
}
