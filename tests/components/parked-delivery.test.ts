/**
 * A mailbox whose token stops working, over days of virtual time: the real Gmail forwarder (against a
 * Gmail-compatible server, dynalite and an in-memory S3), driven by the retry processor's own state
 * machine definition (components/workflows.ts) on its hourly schedule, with the retry queue's real
 * settings, and the alarms (components/monitoring.ts) evaluated over the metrics the forwarder published.
 *
 * - Revoked token, 48 hours: the parked-delivery alarm fires within the hour of the first park and stays
 *   raised; the over-a-day alarm fires after 24 hours. The token monitor cannot see a revocation, and the
 *   retry queue's oldest message never ages past the hour between runs.
 * - Parked on day 0, re-authorized on day 13, with each shipped stack's real retention: imported exactly once.
 */
import type { SQSEvent } from "aws-lambda";
import { DynamoDbMessageProgress } from "../../adapters/aws/delivery-state";
import { lifecycleExpiry } from "../../adapters/aws/fate-reader";
import { DynamoDbIdempotencyStore } from "../../adapters/aws/idempotency";
import { S3MessageStore } from "../../adapters/aws/s3-message-store";
import { GmailImporter } from "../../adapters/gmail/importer";
import { GoogleAccounts } from "../../adapters/gmail/oauth";
import { GMAIL_FORWARDER_TIMEOUT_SECONDS, RETRY_QUEUE_MAX_RECEIVES } from "../../components/gmail-forwarder";
import { alarmSpecs, TOKEN_WARNING_SECONDS, type AlarmSpec } from "../../components/monitoring";
import { MAX_RETENTION_SECONDS } from "../../components/queue";
import { RETRY_PROCESSOR_SCHEDULE } from "../../components/retry-processor";
import { storageLifecycleRules } from "../../components/storage";
import { retryProcessorDefinition, tokenMetricDataExpression } from "../../components/workflows";
import { loadStackConfig } from "../../config/load";
import type { DecisionDetail } from "../../core/decision";
import { oauthClientParameter, refreshTokenParameter, tokenMetadataPrefix } from "../../core/parameters";
import { DAY_SECONDS, DEAD_LETTER_RETENTION_SECONDS, HOUR_SECONDS, RETRY_RUN_INTERVAL_SECONDS } from "../../core/retention";
import { createGmailForwarder } from "../../handlers/gmail-forwarder";
import { createObservability } from "../../handlers/observability";
import { decisionEvent, fixture, memoryS3, MemorySecrets, type MemoryS3 } from "../helpers/delivery";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";
import { decisionDetail, sqsRecord } from "../helpers/factories";
import { FAKE_CLIENT, startFakeGoogle, type FakeGoogle } from "../helpers/fake-google";
import { RecordedOutcomes } from "../helpers/outcomes";
import { runExecution, VirtualClock, type TaskResource } from "../helpers/state-machine";
import { alarmHistory, VirtualQueue, type Datapoint } from "../helpers/virtual-aws";

// eslint-disable-next-line @typescript-eslint/no-require-imports -- jsonata's default export is the factory itself
const jsonata = require("jsonata") as (expression: string) => {
  evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown>;
};

const ENV = "test";
const BUCKET = "ses-mail-storage-123456789012-test";
const MAILBOX = "family@gmail.com";
const T0 = Date.parse("2026-11-28T10:00:00.000Z");
/** The schedule's phase: EventBridge Scheduler runs a rate from when the schedule was created. */
const FIRST_RUN = T0 + 37 * 60 * 1000;

let dynamo: LocalDynamo;
let google: FakeGoogle;

beforeAll(async () => {
  dynamo = await startDynalite();
  google = await startFakeGoogle();
});
afterAll(async () => {
  await google.close();
  await dynamo.close();
});

/** One stack's forwarder, retry queue, retry processor and bucket, in virtual time. */
class Simulation {
  readonly clock = new VirtualClock(T0);
  readonly retryDeadLetters: VirtualQueue;
  readonly retryQueue: VirtualQueue;
  readonly s3: MemoryS3 = memoryS3();
  readonly secrets = new MemorySecrets();
  readonly outcomes = new RecordedOutcomes();
  readonly datapoints: Datapoint[] = [];
  /** The retry queue's ApproximateAgeOfOldestMessage, sampled around every run. */
  readonly queueAges: number[] = [];
  readonly progress: DynamoDbMessageProgress;
  private readonly created = new Map<string, number>();
  private readonly forward: (event: SQSEvent) => Promise<{ batchItemFailures: Array<{ itemIdentifier: string }> }>;
  private readonly definition: Record<string, unknown>;
  private nextRun = FIRST_RUN;

  constructor(
    tableName: string,
    private readonly retentionDays: number,
  ) {
    this.retryDeadLetters = new VirtualQueue("ses-mail-gmail-forwarder-retry-dlq-test", this.clock, {
      retentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
    });
    this.retryQueue = new VirtualQueue("ses-mail-gmail-forwarder-retry-test", this.clock, {
      retentionSeconds: MAX_RETENTION_SECONDS,
      maxReceiveCount: RETRY_QUEUE_MAX_RECEIVES,
      deadLetter: this.retryDeadLetters,
    });
    this.secrets.values.set(oauthClientParameter(ENV), JSON.stringify({ installed: FAKE_CLIENT }));
    const observability = createObservability("gmail-forwarder", { quiet: true });
    jest.spyOn(observability.metrics, "addMetric").mockImplementation((metricName, _unit, value) => {
      this.datapoints.push({ metricName, value, at: this.clock.now() });
      return observability.metrics;
    });
    this.progress = new DynamoDbMessageProgress({ tableName, client: dynamo.client });
    this.forward = createGmailForwarder({
      messages: new S3MessageStore({ client: this.s3.client }),
      mailbox: new GmailImporter({
        accounts: new GoogleAccounts({ secrets: this.secrets, environment: ENV, tokenUrl: google.tokenUrl }),
        apiBaseUrl: google.baseUrl,
      }),
      deliveries: new DynamoDbIdempotencyStore({ tableName, client: dynamo.client }),
      progress: this.progress,
      retryQueue: { enqueue: async (body, options) => this.retryQueue.send(body, options) },
      observability,
      outcomes: this.outcomes,
      now: () => this.clock.date(),
    });
    this.definition = retryProcessorDefinition({
      retryQueueUrl: this.retryQueue.url,
      retryQueueArn: "arn:aws:sqs:eu-west-2:123456789012:ses-mail-gmail-forwarder-retry-test",
      retryDeadLetterQueueUrl: this.retryDeadLetters.url,
      forwarderArn: "arn:aws:lambda:eu-west-2:123456789012:function:ses-mail-gmail-forwarder-test",
      region: "eu-west-2",
      forwarderTimeoutSeconds: GMAIL_FORWARDER_TIMEOUT_SECONDS,
    });
  }

  /** The Step Functions integrations the retry processor calls, on the virtual queues and the real forwarder. */
  private resources(): Record<string, TaskResource> {
    const queueOf = (url: unknown) => [this.retryQueue, this.retryDeadLetters].find((queue) => queue.url === url)!;
    return {
      "arn:aws:states:::aws-sdk:sqs:receiveMessage": async (args) => {
        const messages = queueOf(args.QueueUrl).receive(Number(args.MaxNumberOfMessages), Number(args.VisibilityTimeout));
        if (messages.length === 0) {
          this.clock.advance(Number(args.WaitTimeSeconds));
          return {};
        }
        return {
          Messages: messages.map((message) => ({
            MessageId: message.id,
            ReceiptHandle: message.receipt,
            Body: message.body,
            MD5OfBody: "md5",
            Attributes: { ApproximateReceiveCount: String(message.receiveCount), SentTimestamp: String(message.sentAt) },
          })),
        };
      },
      "arn:aws:states:::aws-sdk:sqs:deleteMessage": async (args) => {
        queueOf(args.QueueUrl).delete(String(args.ReceiptHandle));
        return {};
      },
      "arn:aws:states:::sqs:sendMessage": async (args) => {
        queueOf(args.QueueUrl).send(String(args.MessageBody), {
          attributes: args.MessageAttributes as Record<string, { DataType: string; StringValue: string }>,
        });
        return { MessageId: "sent" };
      },
      "arn:aws:states:::lambda:invoke": async (args) => ({ StatusCode: 200, Payload: await this.forward(args.Payload as SQSEvent) }),
    };
  }

  /** The bucket's lifecycle rule at the current time: raw messages past their expiry are gone. */
  private applyLifecycle(): void {
    for (const [id, created] of this.created) {
      if (lifecycleExpiry(new Date(created), this.retentionDays).getTime() <= this.clock.now()) {
        this.s3.objects.delete(id);
        this.created.delete(id);
      }
    }
  }

  /** SES stores a message and the bus delivers its decision to the forwarder's queue, now. */
  async receive(detail: DecisionDetail): Promise<void> {
    this.s3.put(detail.s3.bucket, detail.s3.key, fixture("plain-text.eml"));
    this.created.set(`${detail.s3.bucket}/${detail.s3.key}`, this.clock.now());
    const response = await this.forward({ Records: [sqsRecord(decisionEvent(detail))] });
    expect(response.batchItemFailures).toEqual([]);
  }

  /** Runs every scheduled retry processor execution up to `until`; `at` callbacks happen at their times. */
  async runUntil(until: number, events: Array<{ at: number; run: () => Promise<void> | void }> = []): Promise<void> {
    const pending = [...events].sort((a, b) => a.at - b.at);
    for (;;) {
      const event = pending[0];
      const next = Math.min(this.nextRun, event?.at ?? Infinity);
      if (next > until) return;
      this.clock.set(Math.max(this.clock.now(), next));
      this.applyLifecycle();
      if (event && event.at === next) {
        pending.shift();
        await event.run();
        continue;
      }
      this.nextRun += RETRY_RUN_INTERVAL_SECONDS * 1000;
      this.queueAges.push(this.retryQueue.oldestAgeSeconds());
      await runExecution(this.definition, {}, this.resources(), this.clock);
      this.queueAges.push(this.retryQueue.oldestAgeSeconds());
    }
  }

  restore(): void {
    this.s3.restore();
  }
}

function detailFor(messageId: string): DecisionDetail {
  return decisionDetail(
    { "forward-to-gmail": [{ recipient: "home@example.com", target: MAILBOX, match: "domain", rule: "*@example.com" }] },
    { originalMessageId: messageId, s3: { bucket: BUCKET, key: `emails/${messageId}` }, timestamp: new Date(T0).toISOString() },
  );
}

/** The Gmail account's token: one the owner revoked (password change, access removed). */
function revoke(simulation: Simulation, refreshToken: string): void {
  google.addAccount(MAILBOX, refreshToken);
  google.revokeRefreshToken(refreshToken);
  simulation.secrets.values.set(
    refreshTokenParameter(ENV, MAILBOX),
    JSON.stringify({ refresh_token: refreshToken, created_at: "2026-11-01T00:00:00Z" }),
  );
}

function parkedAlarms(): AlarmSpec[] {
  const specs = alarmSpecs<string>({
    env: ENV,
    region: "eu-west-2",
    namespace: "SESMail/test",
    functions: [],
    queues: [],
    deadLetterQueues: [],
    stateMachines: [],
    tokenMonitor: false,
    parkedDeliveries: true,
    handlerMetrics: {},
  });
  return specs.filter((spec) => spec.metricName === "GmailParkedAgeSeconds");
}

it("runs the retry processor on its real schedule", () => {
  expect(RETRY_PROCESSOR_SCHEDULE).toBe(`rate(${RETRY_RUN_INTERVAL_SECONDS / HOUR_SECONDS} hour)`);
});

describe("a revoked Gmail token, for 48 hours", () => {
  let simulation: Simulation;
  afterEach(() => simulation.restore());

  it("raises the parked-delivery alarm within the hour and keeps it raised, and the over-a-day alarm after 24 hours", async () => {
    // Prepare: the token monitor sees a token that expires in 170 days; the owner has revoked it
    simulation = new Simulation(await dynamo.createRoutingTable(), loadStackConfig("test").emailRetentionDays);
    revoke(simulation, "1//revoked-48h");

    // Act: the message arrives, then 48 hours of hourly retry runs
    await simulation.receive(detailFor("m-revoked"));
    const firstPark = simulation.outcomes.ofKind("parked")[0]!;
    await simulation.runUntil(T0 + 48 * HOUR_SECONDS * 1000);

    // Assess: the alarms, from the metrics the forwarder published
    const [parked, parkedOverADay] = parkedAlarms();
    expect(parked!.dimensions).toEqual({ service: "gmail-forwarder" });
    const parkedAt = Date.parse(firstPark.parkedSince);
    const end = T0 + 48 * HOUR_SECONDS * 1000;
    const parkedHistory = alarmHistory(parked!, simulation.datapoints, T0, end);
    expect(parkedHistory).toEqual([{ at: expect.any(Number), state: "ALARM" }]);
    expect(parkedHistory[0]!.at - parkedAt).toBeLessThanOrEqual(HOUR_SECONDS * 1000);
    const dayHistory = alarmHistory(parkedOverADay!, simulation.datapoints, T0, end);
    expect(dayHistory).toEqual([{ at: expect.any(Number), state: "ALARM" }]);
    expect(dayHistory[0]!.at - parkedAt).toBeGreaterThan(DAY_SECONDS * 1000);
    expect(dayHistory[0]!.at - parkedAt).toBeLessThanOrEqual((DAY_SECONDS + 2 * HOUR_SECONDS) * 1000);

    // The mail waits, parked, hourly: nothing delivered, nothing lost, nothing dead-lettered
    expect(google.imports.filter((entry) => entry.account === MAILBOX)).toEqual([]);
    expect(simulation.outcomes.ofKind("parked").length).toBeGreaterThanOrEqual(48);
    expect(simulation.retryQueue.messages).toHaveLength(1);
    expect(simulation.retryDeadLetters.messages).toEqual([]);
    expect(simulation.retryQueue.expired).toBe(0);
    expect([...simulation.s3.objects.keys()]).toContain(`${BUCKET}/emails/m-revoked`);

    // Why the old alarms could not tell: the retry queue's oldest message is never much older than an hour…
    expect(Math.max(...simulation.queueAges)).toBeLessThan(2 * HOUR_SECONDS);
    // …and the token monitor reads only the stored expiry, which says 170 days
    const prefix = tokenMetadataPrefix(ENV);
    const metrics = (await jsonata(tokenMetricDataExpression(prefix)).evaluate(
      {},
      {
        parameters: [
          { Name: `${prefix}${MAILBOX}`, Value: JSON.stringify({ expires_at_epoch: Math.floor(end / 1000) + 170 * DAY_SECONDS }) },
        ],
        millis: () => end,
        parse: (text: string) => JSON.parse(text) as unknown, // Step Functions' own JSONata function
      },
    )) as Array<{ Value: number }>;
    expect(metrics[0]!.Value).toBeGreaterThan(TOKEN_WARNING_SECONDS);
  }, 120_000);
});

describe("a delivery parked on day 0 whose mailbox is re-authorized on day 13", () => {
  let simulation: Simulation | undefined;
  afterEach(() => {
    simulation?.restore();
    simulation = undefined;
  });

  /**
   * One simulation per distinct retention: the outcome depends on the stack only through its
   * `emailRetentionDays`, so stacks that share a value share a run (the shipped stacks both keep 38 days).
   */
  const reauthorizedRuns = new Map<number, Promise<ReauthorizedRun>>();
  interface ReauthorizedRun {
    readonly messageId: string;
    readonly reauthorized: number;
    readonly imports: FakeGoogle["imports"];
    readonly outcomes: RecordedOutcomes;
    readonly retryMessages: unknown[];
    readonly retryDeadLetters: unknown[];
    readonly expired: number;
    readonly deletes: string[];
    readonly recordedKinds: string[] | undefined;
  }

  async function reauthorizedOnDay13(days: number): Promise<ReauthorizedRun> {
    // Prepare: the bucket expires raw messages after `days`
    const run = new Simulation(await dynamo.createRoutingTable(), days);
    try {
      revoke(run, `1//revoked-${days}d`);
      const messageId = `m-day13-${days}d`;
      await run.receive(detailFor(messageId));
      const importsBefore = google.imports.length;

      // Act: hourly runs for 13 days, the owner re-authorizes (ses-mail oauth refresh), then two more days
      const reauthorized = T0 + 13 * DAY_SECONDS * 1000 + 5 * HOUR_SECONDS * 1000;
      await run.runUntil(T0 + 15 * DAY_SECONDS * 1000, [
        {
          at: reauthorized,
          run: () => {
            google.addAccount(MAILBOX, `1//fresh-${days}d`);
            run.secrets.values.set(refreshTokenParameter(ENV, MAILBOX), JSON.stringify({ refresh_token: `1//fresh-${days}d` }));
          },
        },
      ]);
      const record = await run.progress.read(messageId);
      return {
        messageId,
        reauthorized,
        imports: google.imports.slice(importsBefore),
        outcomes: run.outcomes,
        retryMessages: [...run.retryQueue.messages],
        retryDeadLetters: [...run.retryDeadLetters.messages],
        expired: run.retryQueue.expired,
        deletes: [...run.s3.deletes],
        recordedKinds: record?.outcomes.map((outcome) => outcome.kind),
      };
    } finally {
      run.restore();
    }
  }

  it.each(["test", "prod"])(
    "is imported exactly once with the %s stack's retention",
    async (stack) => {
      // Prepare and act: the stack's own lifecycle rule, in a simulation of its retention
      const expiration = storageLifecycleRules("emails/", loadStackConfig(stack).emailRetentionDays)[0]!.expiration as { days: number };
      const days = expiration.days;
      if (!reauthorizedRuns.has(days)) reauthorizedRuns.set(days, reauthorizedOnDay13(days));
      const run = await reauthorizedRuns.get(days)!;

      // Assess: one import, at the first run after the re-authorization, and nothing left anywhere
      expect(run.imports).toHaveLength(1);
      expect(run.imports[0]!.body).toEqual(fixture("plain-text.eml"));
      const [imported] = run.outcomes.ofKind("imported");
      expect(Date.parse(imported!.at) - run.reauthorized).toBeLessThanOrEqual(RETRY_RUN_INTERVAL_SECONDS * 1000);
      expect(run.outcomes.ofKind("given-up")).toEqual([]);
      expect(run.retryMessages).toEqual([]);
      expect(run.retryDeadLetters).toEqual([]);
      expect(run.expired).toBe(0);
      expect(run.deletes).toEqual([`${BUCKET}/emails/${run.messageId}`]);
      expect(run.recordedKinds).toEqual(["parked", "parked", "imported", "raw-message-deleted"]);
    },
    180_000,
  );

  it("would have been lost with the old 7-day retention: the raw message is gone when the mailbox comes back", async () => {
    // Prepare: the lifecycle as it was (config validation now refuses 7 days)
    const old = new Simulation(await dynamo.createRoutingTable(), 7);
    simulation = old;
    revoke(old, "1//revoked-old");
    await old.receive(detailFor("m-old-retention"));

    // Act: re-authorized on day 8, after the raw message expired
    const reauthorized = T0 + 8 * DAY_SECONDS * 1000;
    await old.runUntil(reauthorized + 2 * HOUR_SECONDS * 1000, [
      {
        at: reauthorized,
        run: () => {
          google.addAccount(MAILBOX, "1//fresh-old");
          old.secrets.values.set(refreshTokenParameter(ENV, MAILBOX), JSON.stringify({ refresh_token: "1//fresh-old" }));
        },
      },
    ]);

    // Assess: not delivered; it fails to the retry dead-letter queue, where no redrive can deliver it
    expect(old.outcomes.ofKind("imported")).toEqual([]);
    expect(old.outcomes.ofKind("import-failed")[0]).toMatchObject({ error: { code: "MESSAGE_NOT_FOUND" } });
    expect(old.retryDeadLetters.messages).toHaveLength(1);
  }, 120_000);
});
