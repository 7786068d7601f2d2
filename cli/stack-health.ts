/**
 * What the operator commands read about a running stack: queue depths and ages, the Gmail token
 * metadata and the token monitor's last values, and the alarms that are firing. One module, so
 * `ses-mail status`, `ses-mail oauth status` and `ses-mail dlq` read them the same way.
 */
import { CloudWatchClient, GetMetricDataCommand, paginateDescribeAlarms, type MetricDataQuery } from "@aws-sdk/client-cloudwatch";
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient, type QueueAttributeName } from "@aws-sdk/client-sqs";
import { paginateGetParametersByPath, SSMClient } from "@aws-sdk/client-ssm";
import { metricsNamespace } from "../components/naming";
import { TOKEN_ACCOUNT_DIMENSION, TOKEN_METRIC_NAME, UNKNOWN_EXPIRY_SECONDS } from "../components/workflows";
import { PARAMETER_PLACEHOLDER, tokenMetadataPrefix } from "../core/parameters";
import { aws, awsErrorName, awsPages, type StackTarget } from "./stack-target";

/** How far back to look for the monitor's last value: it publishes every 5 minutes, so 30 minutes spans six runs. */
export const MONITOR_LOOKBACK_SECONDS = 30 * 60;
/** SQS publishes its CloudWatch metrics every minute or five; 15 minutes always holds the latest. */
export const QUEUE_METRIC_LOOKBACK_SECONDS = 15 * 60;

/* ---------------------------------------------------------------------------------------------- */
/* Queues                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

/** The queues of a stack by the role an operator knows them by. */
export const QueueRole = {
  Input: "input",
  Forwarder: "forwarder",
  Bouncer: "bouncer",
  Retry: "retry",
} as const;
export type QueueRole = (typeof QueueRole)[keyof typeof QueueRole];
export const QUEUE_ROLES: readonly QueueRole[] = Object.values(QueueRole);

/** Each working queue and the dead-letter queue that keeps what it could not process. */
export function queuePairs(target: StackTarget): Record<QueueRole, { queue: string; deadLetterQueue: string }> {
  const n = target.names;
  return {
    input: { queue: n.inputQueue, deadLetterQueue: n.inputDeadLetterQueue },
    forwarder: { queue: n.gmailQueue, deadLetterQueue: n.gmailDeadLetterQueue },
    bouncer: { queue: n.bouncerQueue, deadLetterQueue: n.bouncerDeadLetterQueue },
    retry: { queue: n.retryQueue, deadLetterQueue: n.retryDeadLetterQueue },
  };
}

/** Dead-letter queues that are not the DLQ of a working queue: shown by `status`, emptied by hand (see docs/OPERATIONS.md). */
export function otherDeadLetterQueues(target: StackTarget): Record<string, string> {
  return { "event-routing": target.names.eventRoutingDeadLetterQueue, "credential-manager": target.names.credentialDeadLetterQueue };
}

export interface QueueDepth {
  readonly name: string;
  /** Undefined when the queue does not exist. */
  readonly url?: string;
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
}

function isMissingQueue(error: unknown): boolean {
  return /QueueDoesNotExist|NonExistentQueue/.test(awsErrorName(error) ?? "");
}

/** The queue's URL, or undefined when it does not exist. */
export async function queueUrl(sqs: SQSClient, target: StackTarget, name: string): Promise<string | undefined> {
  try {
    return (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch (error) {
    if (isMissingQueue(error)) return undefined;
    return aws(target, `the queue ${name}`, () => Promise.reject(error));
  }
}

export async function queueDepth(sqs: SQSClient, target: StackTarget, name: string): Promise<QueueDepth> {
  const url = await queueUrl(sqs, target, name);
  if (!url) return { name, visible: 0, inFlight: 0, delayed: 0 };
  const attributes = await aws(target, `the queue ${name}`, () =>
    sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
      }),
    ),
  );
  const number = (key: QueueAttributeName) => Number(attributes.Attributes?.[key] ?? 0);
  return {
    name,
    url,
    visible: number("ApproximateNumberOfMessages"),
    inFlight: number("ApproximateNumberOfMessagesNotVisible"),
    delayed: number("ApproximateNumberOfMessagesDelayed"),
  };
}

/** CloudWatch metric query ids: a lower-case letter, then letters, digits and `_`. */
function queryId(prefix: string, index: number): string {
  return `${prefix}${index}`;
}

/** The latest `ApproximateAgeOfOldestMessage` (seconds) per queue name; absent when SQS published none lately. */
export async function oldestMessageAges(
  cloudwatch: CloudWatchClient,
  target: StackTarget,
  names: readonly string[],
  now: Date,
): Promise<Map<string, number>> {
  const ages = new Map<string, number>();
  if (names.length === 0) return ages;
  const queries: MetricDataQuery[] = names.map((name, index) => ({
    Id: queryId("q", index),
    MetricStat: {
      Metric: { Namespace: "AWS/SQS", MetricName: "ApproximateAgeOfOldestMessage", Dimensions: [{ Name: "QueueName", Value: name }] },
      Period: 60,
      Stat: "Maximum",
    },
  }));
  const result = await aws(target, "CloudWatch metrics", () =>
    cloudwatch.send(
      new GetMetricDataCommand({
        MetricDataQueries: queries,
        StartTime: new Date(now.getTime() - QUEUE_METRIC_LOOKBACK_SECONDS * 1000),
        EndTime: now,
        ScanBy: "TimestampDescending",
      }),
    ),
  );
  for (const series of result.MetricDataResults ?? []) {
    const index = Number(series.Id?.slice(1));
    const value = series.Values?.[0];
    const name = names[index];
    if (name !== undefined && value !== undefined) ages.set(name, value);
  }
  return ages;
}

/* ---------------------------------------------------------------------------------------------- */
/* Gmail tokens                                                                                    */
/* ---------------------------------------------------------------------------------------------- */

/** Why a token's `expires_at` is what it is (`expiry_basis` in its metadata, written by `oauth refresh`). */
export const ExpiryBasis = { Testing: "testing-app-7-days", Unused: "unused-limit-6-months" } as const;

export interface TokenMetadata {
  /** The Gmail address, as `oauth refresh` recorded it (or the parameter key for older values). */
  readonly account: string;
  /** The SSM name segment (the token monitor's `Account` dimension). */
  readonly key: string;
  readonly parameter: string;
  readonly createdAt?: string;
  /** ISO time the token stops working, or null when it has no fixed expiry (a published Google app). */
  readonly expiresAt?: string | null;
  readonly expiresAtEpoch?: number | null;
  /** Why it expires then (`expiry_basis`): Google's 7-day Testing limit, or the 6-month unused limit. */
  readonly basis?: string;
  /** The scopes Google granted (`scopes`, recorded since labels by name); undefined for a token recorded before. */
  readonly scopes?: readonly string[];
  /** Why the value cannot be read, when it cannot (placeholder, not JSON). */
  readonly problem?: string;
}

/** Every account's token metadata (`/ses-mail/{env}/gmail/token-metadata/*`). */
export async function readTokenMetadata(ssm: SSMClient, target: StackTarget): Promise<TokenMetadata[]> {
  const prefix = tokenMetadataPrefix(target.env);
  const found: TokenMetadata[] = [];
  const pages = paginateGetParametersByPath({ client: ssm, pageSize: 10 }, { Path: prefix.replace(/\/$/, ""), Recursive: false });
  for await (const page of awsPages(target, `the SSM parameters under ${prefix}`, pages)) {
    for (const parameter of page.Parameters ?? []) {
      const name = parameter.Name ?? "";
      const key = name.slice(prefix.length);
      const value = parameter.Value ?? "";
      if (value === PARAMETER_PLACEHOLDER) {
        found.push({ account: key, key, parameter: name, problem: "not authorized yet (placeholder)" });
        continue;
      }
      try {
        const json = JSON.parse(value) as Record<string, unknown>;
        found.push({
          account: typeof json.account === "string" ? json.account : key,
          key,
          parameter: name,
          ...(typeof json.created_at === "string" ? { createdAt: json.created_at } : {}),
          expiresAt: typeof json.expires_at === "string" ? json.expires_at : null,
          expiresAtEpoch: typeof json.expires_at_epoch === "number" ? json.expires_at_epoch : null,
          ...(typeof json.expiry_basis === "string" ? { basis: json.expiry_basis } : {}),
          ...(Array.isArray(json.scopes) ? { scopes: json.scopes.filter((scope): scope is string => typeof scope === "string") } : {}),
        });
      } catch {
        found.push({ account: key, key, parameter: name, problem: "the metadata is not JSON" });
      }
    }
  }
  return found.sort((a, b) => a.account.localeCompare(b.account));
}

export interface MonitorValue {
  readonly seconds: number;
  readonly at: Date;
}

export interface MonitorValues {
  /** The minimum over accounts: what the token alarms watch. */
  readonly overall?: MonitorValue;
  /** By the `Account` dimension (the parameter key). */
  readonly byAccount: Map<string, MonitorValue>;
}

/** The token monitor's latest published values, overall and per account. */
export async function readMonitorValues(
  cloudwatch: CloudWatchClient,
  target: StackTarget,
  keys: readonly string[],
  now: Date,
): Promise<MonitorValues> {
  const namespace = metricsNamespace(target.env);
  const queries: MetricDataQuery[] = [
    { Id: "overall", MetricStat: { Metric: { Namespace: namespace, MetricName: TOKEN_METRIC_NAME }, Period: 300, Stat: "Minimum" } },
    ...keys.map((key, index) => ({
      Id: queryId("a", index),
      MetricStat: {
        Metric: { Namespace: namespace, MetricName: TOKEN_METRIC_NAME, Dimensions: [{ Name: TOKEN_ACCOUNT_DIMENSION, Value: key }] },
        Period: 300,
        Stat: "Minimum",
      },
    })),
  ];
  const result = await aws(target, "CloudWatch metrics", () =>
    cloudwatch.send(
      new GetMetricDataCommand({
        MetricDataQueries: queries,
        StartTime: new Date(now.getTime() - MONITOR_LOOKBACK_SECONDS * 1000),
        EndTime: now,
        ScanBy: "TimestampDescending",
      }),
    ),
  );
  let overall: MonitorValue | undefined;
  const byAccount = new Map<string, MonitorValue>();
  for (const series of result.MetricDataResults ?? []) {
    const seconds = series.Values?.[0];
    const at = series.Timestamps?.[0];
    if (seconds === undefined || at === undefined) continue;
    const value = { seconds, at: new Date(at) };
    if (series.Id === "overall") overall = value;
    else {
      const key = keys[Number(series.Id?.slice(1))];
      if (key !== undefined) byAccount.set(key, value);
    }
  }
  return overall ? { overall, byAccount } : { byAccount };
}

/* ---------------------------------------------------------------------------------------------- */
/* Alarms                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

export interface FiringAlarm {
  readonly name: string;
  readonly reason: string;
  readonly since?: Date;
  readonly description?: string;
}

/**
 * The stack's alarms in state ALARM. Every alarm of a stack is named `ses-mail-…-{env}` and notifies
 * the stack's topic `ses-mail-alarms-{env}`; both are checked, so `test` never shows `foo-test`'s.
 */
export async function firingAlarms(cloudwatch: CloudWatchClient, target: StackTarget): Promise<FiringAlarm[]> {
  const suffix = `-${target.env}`;
  const topicSuffix = `:${target.names.alarmTopic}`;
  const alarms: FiringAlarm[] = [];
  const pages = paginateDescribeAlarms({ client: cloudwatch, pageSize: 100 }, { AlarmNamePrefix: "ses-mail-", StateValue: "ALARM" });
  for await (const page of awsPages(target, "CloudWatch alarms", pages)) {
    for (const alarm of page.MetricAlarms ?? []) {
      const name = alarm.AlarmName ?? "";
      if (!name.endsWith(suffix)) continue;
      const actions = alarm.AlarmActions ?? [];
      if (actions.length > 0 && !actions.some((arn) => arn.endsWith(topicSuffix))) continue;
      alarms.push({
        name,
        reason: alarm.StateReason ?? "",
        ...(alarm.StateUpdatedTimestamp ? { since: new Date(alarm.StateUpdatedTimestamp) } : {}),
        ...(alarm.AlarmDescription ? { description: alarm.AlarmDescription } : {}),
      });
    }
  }
  return alarms.sort((a, b) => a.name.localeCompare(b.name));
}

/* ---------------------------------------------------------------------------------------------- */
/* Formatting                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/** `6 d 23 h`, `5 h 12 min`, `42 min`, `30 s`: two units at most, rounded down. */
export function formatDuration(totalSeconds: number): string {
  const seconds = Math.max(0, Math.floor(totalSeconds));
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  if (minutes > 0) return `${minutes} min`;
  return `${seconds} s`;
}

/** `expires in 6 d 23 h`, `re-authorize within 170 d`, `EXPIRED 2 h ago`, `expiry unknown`. */
export function describeExpiry(expiresAtEpoch: number | null | undefined, nowSeconds: number, basis?: string): string {
  if (expiresAtEpoch === null || expiresAtEpoch === undefined) return "expiry unknown (the token alarms fire: run oauth refresh)";
  const left = expiresAtEpoch - nowSeconds;
  const unusedLimit = basis === ExpiryBasis.Unused;
  if (left <= 0) return unusedLimit ? `re-authorize now (due ${formatDuration(-left)} ago)` : `EXPIRED ${formatDuration(-left)} ago`;
  return unusedLimit ? `re-authorize within ${formatDuration(left)}` : `expires in ${formatDuration(left)}`;
}

/** The monitor's value in words; UNKNOWN_EXPIRY_SECONDS is its "unknown expiry" marker. */
export function describeMonitorValue(value: MonitorValue | undefined, now: Date): string {
  if (!value) return `no value in the last ${MONITOR_LOOKBACK_SECONDS / 60} min (is the token monitor running?)`;
  const age = `published ${formatDuration((now.getTime() - value.at.getTime()) / 1000)} ago`;
  if (value.seconds === UNKNOWN_EXPIRY_SECONDS) return `expiry unknown (${age})`;
  if (value.seconds <= 0) return `expired (${age})`;
  return `${formatDuration(value.seconds)} left (${age})`;
}
