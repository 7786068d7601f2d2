/**
 * SQS queues and CloudWatch alarms in virtual time, for simulations that span days in a second:
 * - VirtualQueue: delays, visibility timeouts, receive counts, a redrive to a dead-letter queue that keeps
 *   the original send time (as SQS does), and retention (a message older than it is gone, and counted).
 * - alarmHistory: evaluates an alarm spec (components/monitoring.ts) over recorded datapoints the way
 *   CloudWatch does, conservatively: only at the end of each period, over the last `evaluationPeriods`
 *   whole periods, with `datapointsToAlarm` and `treatMissingData`. Real CloudWatch also evaluates periods
 *   still in progress, so it is never later than this.
 */
import type { AlarmSpec } from "../../components/monitoring";
import type { VirtualClock } from "./state-machine";

export interface VirtualMessage {
  readonly id: string;
  readonly body: string;
  readonly sentAt: number;
  readonly attributes: Readonly<Record<string, { DataType: string; StringValue: string }>>;
  visibleAt: number;
  receiveCount: number;
  receipt?: string;
}

let counter = 0;

export class VirtualQueue {
  readonly messages: VirtualMessage[] = [];
  /** Messages SQS dropped because they outlived the retention: each one is mail lost. */
  expired = 0;

  constructor(
    readonly name: string,
    private readonly clock: VirtualClock,
    private readonly settings: { readonly retentionSeconds: number; readonly maxReceiveCount?: number; readonly deadLetter?: VirtualQueue },
  ) {}

  get url(): string {
    return `https://sqs.eu-west-2.amazonaws.com/123456789012/${this.name}`;
  }

  send(
    body: string,
    options: { delaySeconds?: number; attributes?: Record<string, { DataType: string; StringValue: string }>; sentAt?: number } = {},
  ): void {
    const now = this.clock.now();
    this.messages.push({
      id: `vm-${++counter}`,
      body,
      sentAt: options.sentAt ?? now,
      attributes: options.attributes ?? {},
      visibleAt: now + (options.delaySeconds ?? 0) * 1000,
      receiveCount: 0,
    });
  }

  private expire(): void {
    const now = this.clock.now();
    for (const message of [...this.messages]) {
      if (message.sentAt + this.settings.retentionSeconds * 1000 <= now) {
        this.messages.splice(this.messages.indexOf(message), 1);
        this.expired++;
      }
    }
  }

  receive(max: number, visibilityTimeoutSeconds: number): VirtualMessage[] {
    this.expire();
    const now = this.clock.now();
    const received: VirtualMessage[] = [];
    for (const message of [...this.messages]) {
      if (received.length >= max || message.visibleAt > now) continue;
      const { maxReceiveCount, deadLetter } = this.settings;
      if (maxReceiveCount !== undefined && deadLetter && message.receiveCount >= maxReceiveCount) {
        // The redrive policy: moved on the next receive, keeping its send time.
        this.messages.splice(this.messages.indexOf(message), 1);
        deadLetter.send(message.body, { attributes: { ...message.attributes }, sentAt: message.sentAt });
        continue;
      }
      message.receiveCount++;
      message.visibleAt = now + visibilityTimeoutSeconds * 1000;
      message.receipt = `${message.id}-${message.receiveCount}`;
      received.push(message);
    }
    return received;
  }

  delete(receipt: string): void {
    const index = this.messages.findIndex((message) => message.receipt === receipt);
    if (index < 0) throw Object.assign(new Error(`receipt handle ${receipt} is not valid`), { name: "ReceiptHandleIsInvalid" });
    this.messages.splice(index, 1);
  }

  /** ApproximateAgeOfOldestMessage, seconds (0 when empty). */
  oldestAgeSeconds(): number {
    this.expire();
    if (this.messages.length === 0) return 0;
    return (this.clock.now() - Math.min(...this.messages.map((message) => message.sentAt))) / 1000;
  }
}

/** One value a handler published for a metric, at a virtual time. */
export interface Datapoint {
  readonly metricName: string;
  readonly value: number;
  readonly at: number;
}

export type AlarmState = "OK" | "ALARM";

function statistic(name: AlarmSpec["statistic"], values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  switch (name) {
    case "SampleCount":
      return values.length;
    case "Sum":
      return values.reduce((sum, value) => sum + value, 0);
    case "Maximum":
      return Math.max(...values);
    case "Minimum":
      return Math.min(...values);
    case "Average":
      return values.reduce((sum, value) => sum + value, 0) / values.length;
  }
}

/** The alarm's state changes between two times (epoch ms), evaluated at every period end; it starts OK. */
export function alarmHistory(
  spec: AlarmSpec,
  datapoints: readonly Datapoint[],
  from: number,
  to: number,
): Array<{ at: number; state: AlarmState }> {
  const period = spec.periodSeconds * 1000;
  const points = datapoints.filter((point) => point.metricName === spec.metricName);
  const transitions: Array<{ at: number; state: AlarmState }> = [];
  let state: AlarmState = "OK";
  for (let end = Math.ceil(from / period) * period; end <= to; end += period) {
    let breaching = 0;
    for (let i = 0; i < spec.evaluationPeriods; i++) {
      const start = end - (i + 1) * period;
      const value = statistic(
        spec.statistic,
        points.filter((point) => point.at >= start && point.at < start + period).map((point) => point.value),
      );
      if (value === undefined) {
        if (spec.treatMissingData === "breaching") breaching++;
      } else if (spec.comparison === "GreaterThanThreshold" ? value > spec.threshold : value < spec.threshold) {
        breaching++;
      }
    }
    const next: AlarmState = breaching >= (spec.datapointsToAlarm ?? spec.evaluationPeriods) ? "ALARM" : "OK";
    if (next !== state) transitions.push({ at: end, state: next });
    state = next;
  }
  return transitions;
}
