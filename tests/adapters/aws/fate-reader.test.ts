/**
 * `ses-mail trace` against a deployed stack: the reader puts together the message record (dynalite, written
 * as the handlers write it), the decision and router log groups, the dead-letter queues and the bucket
 * (aws-sdk-client-mock: no local stand-in speaks CloudWatch Logs, and the peek must be checked call by call).
 */
import { CloudWatchLogsClient, FilterLogEventsCommand, type FilteredLogEvent } from "@aws-sdk/client-cloudwatch-logs";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { DynamoDbMessageProgress } from "../../../adapters/aws/delivery-state";
import { createStackFateReader, lifecycleExpiry, type FateStack } from "../../../adapters/aws/fate-reader";
import { stackNames } from "../../../components/naming";
import type { DecisionDetail, DecisionTarget } from "../../../core/decision";
import { buildRetryMessage } from "../../../core/delivery";
import type { Outcome } from "../../../core/outcomes";
import { decisionEvent } from "../../helpers/delivery";
import { startDynalite, type LocalDynamo } from "../../helpers/dynalite";
import { decisionDetail, importedOutcome, sesNotification } from "../../helpers/factories";

const BUCKET = "ses-mail-storage-123456789012-prod";
const NOW = new Date("2026-11-30T12:00:00.000Z");
const names = stackNames("prod");

function detailFor(messageId: string, targets: Partial<Record<keyof DecisionDetail["actions"], DecisionTarget[]>>): DecisionDetail {
  return decisionDetail(targets, {
    originalMessageId: messageId,
    s3: { bucket: BUCKET, key: `emails/${messageId}` },
    timestamp: "2026-11-28T10:00:00.000Z",
  });
}

const forward = (account: string, recipient = "user@example.com"): DecisionTarget => ({
  recipient,
  target: account,
  match: "exact",
  rule: recipient,
  labels: ["INBOX", "UNREAD"],
});

function notFound(): Error {
  return Object.assign(new Error("NotFound"), { name: "NotFound" });
}

/** A log event as the bus writes it to the decision log group: the whole EventBridge event. */
function loggedDecision(detail: DecisionDetail, time: string): FilteredLogEvent {
  return { timestamp: Date.parse(time), message: JSON.stringify({ ...decisionEvent(detail), time }) };
}

describe("the deployed stack's fate reader", () => {
  let dynamo: LocalDynamo;
  let stack: FateStack;
  let progress: DynamoDbMessageProgress;
  const sqsClient = new SQSClient({ region: "eu-west-2" });
  const s3Client = new S3Client({ region: "eu-west-2" });
  const logsClient = new CloudWatchLogsClient({ region: "eu-west-2" });
  const sqs = mockClient(sqsClient);
  const s3 = mockClient(s3Client);
  const logs = mockClient(logsClient);

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo.close();
  });
  beforeEach(async () => {
    const table = await dynamo.createRoutingTable();
    stack = { env: "prod", config: { emailRetentionDays: 38 }, names: { ...names, table, functionLogGroup: names.functionLogGroup } };
    progress = new DynamoDbMessageProgress({ tableName: table, client: dynamo.client, now: () => NOW });
    sqs.reset();
    s3.reset();
    logs.reset();
    deadLetters({});
    s3.on(HeadObjectCommand).rejects(notFound());
    logs.on(FilterLogEventsCommand).resolves({ events: [] });
  });

  /** Every DLQ of the stack, holding these messages (by queue name); the rest empty. */
  function deadLetters(contents: Record<string, Message[]>): void {
    for (const name of [
      names.inputDeadLetterQueue,
      names.eventRoutingDeadLetterQueue,
      names.gmailDeadLetterQueue,
      names.bouncerDeadLetterQueue,
      names.retryDeadLetterQueue,
    ]) {
      const url = `https://sqs.eu-west-2.amazonaws.com/123456789012/${name}`;
      const messages = contents[name] ?? [];
      sqs.on(GetQueueUrlCommand, { QueueName: name }).resolves({ QueueUrl: url });
      sqs
        .on(GetQueueAttributesCommand, { QueueUrl: url })
        .resolves({ Attributes: { ApproximateNumberOfMessages: String(messages.length) } });
      sqs.on(ReceiveMessageCommand, { QueueUrl: url }).resolvesOnce({ Messages: messages }).resolves({});
    }
    sqs.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [], Failed: [] });
  }

  function reader() {
    return createStackFateReader(stack, { dynamodb: dynamo.client, s3: s3Client, sqs: sqsClient, logs: logsClient }, { now: () => NOW });
  }

  it("a forwarded message: the decision and outcomes from its record, in Gmail with its id and labels, the raw message deleted", async () => {
    // Prepare: what the forwarder records for an import
    const detail = detailFor("m-gmail", { "forward-to-gmail": [forward("me@gmail.com")] });
    const imported = importedOutcome("m-gmail");
    const deleted: Outcome = { kind: "raw-message-deleted", messageId: "m-gmail", at: "2026-11-28T10:00:03.500Z", location: detail.s3 };
    await progress.record("m-gmail", { decision: detail, outcomes: [imported], partsDone: ["forward:me@gmail.com"] });
    await progress.record("m-gmail", { outcomes: [deleted] });

    // Act
    const fate = await reader().byMessageId("m-gmail");

    // Assess
    expect(fate).toEqual({
      messageId: "m-gmail",
      decision: detail,
      outcomes: [{ kind: "routed", messageId: "m-gmail", at: detail.timestamp, decision: detail }, imported, deleted],
      places: [
        { kind: "mailbox", account: "me@gmail.com", mailboxId: "18c1f0a", labels: ["INBOX", "UNREAD"] },
        { kind: "raw-message", location: detail.s3, state: "deleted" },
      ],
      gaps: [],
    });
    // The record had the decision: the logs were not searched.
    expect(logs.commandCalls(FilterLogEventsCommand)).toHaveLength(0);
  });

  it("a stored message no handler saw: the decision from the decision log (searched page by page), kept until S3's expiry", async () => {
    const detail = detailFor("m-stored", { store: [{ recipient: "archive@example.com", match: "exact", rule: "archive@example.com" }] });
    // Each request as it was sent: the SDK's paginator reuses one input object, so recorded calls show its last state.
    const sent: Array<[string | undefined, string | undefined]> = [];
    logs
      .on(FilterLogEventsCommand, { logGroupName: names.busLogGroup })
      .callsFake((input: { filterPattern?: string; nextToken?: string }) => {
        sent.push([input.filterPattern, input.nextToken]);
        return sent.length === 1 ? { events: [], nextToken: "page-2" } : { events: [loggedDecision(detail, "2026-11-28T10:00:01.000Z")] };
      });
    s3.on(HeadObjectCommand, { Bucket: BUCKET, Key: "emails/m-stored" }).resolves({
      LastModified: new Date("2026-11-28T10:00:00.000Z"),
      Expiration: 'expiry-date="Tue, 05 Jan 2027 00:00:00 GMT", rule-id="expire-raw-messages"',
    });

    const fate = await reader().byMessageId("m-stored");

    expect(fate?.decision).toEqual(detail);
    expect(fate?.outcomes).toEqual([
      { kind: "routed", messageId: "m-stored", at: "2026-11-28T10:00:01.000Z", decision: detail },
      { kind: "stored", messageId: "m-stored", at: "2026-11-28T10:00:01.000Z", recipients: ["archive@example.com"] },
    ]);
    expect(fate?.places).toEqual([{ kind: "raw-message", location: detail.s3, state: "kept", keptUntil: "2027-01-05T00:00:00.000Z" }]);
    expect(sent).toEqual([
      ['"m-stored"', undefined],
      ['"m-stored"', "page-2"],
    ]);
  });

  it("a parked delivery: parked since the first park, the latest attempt, the raw message kept by the lifecycle", async () => {
    const detail = detailFor("m-parked", { "forward-to-gmail": [forward("revoked@gmail.com")] });
    const parked = (attempt: number, at: string): Outcome => ({
      kind: "parked",
      messageId: "m-parked",
      at,
      account: "revoked@gmail.com",
      reason: { code: "MAILBOX_AUTHORIZATION", message: "invalid_grant: Token has been expired or revoked." },
      attempt,
      parkedSince: "2026-11-28T10:00:02.000Z",
    });
    await progress.record("m-parked", { decision: detail, outcomes: [parked(1, "2026-11-28T10:00:02.000Z")] });
    await progress.record("m-parked", { decision: detail, outcomes: [parked(50, "2026-11-30T11:00:04.000Z")] });
    s3.on(HeadObjectCommand, { Bucket: BUCKET, Key: "emails/m-parked" }).resolves({ LastModified: new Date("2026-11-28T10:00:00.000Z") });

    const fate = await reader().byMessageId("m-parked");

    expect(fate?.outcomes.map((outcome) => outcome.kind)).toEqual(["routed", "parked", "parked"]);
    expect(fate?.places).toEqual([
      {
        kind: "parked",
        account: "revoked@gmail.com",
        since: "2026-11-28T10:00:02.000Z",
        attempt: 50,
        reason: { code: "MAILBOX_AUTHORIZATION", message: "invalid_grant: Token has been expired or revoked." },
      },
      // 38 days after 2026-11-28T10:00Z, at the next midnight UTC
      { kind: "raw-message", location: detail.s3, state: "kept", keptUntil: "2027-01-06T00:00:00.000Z" },
    ]);
  });

  it("a dead letter: which queue and why (the last recorded failure), the redrive command, and the peek consumes nothing", async () => {
    const detail = detailFor("m-dead", { "forward-to-gmail": [forward("me@gmail.com")] });
    const failed: Outcome = {
      kind: "import-failed",
      messageId: "m-dead",
      at: "2026-11-28T10:31:00.000Z",
      account: "me@gmail.com",
      error: { code: "MAILBOX_REJECTED", message: "Gmail refused the message: 400 Invalid message" },
    };
    await progress.record("m-dead", { decision: detail, outcomes: [failed] });
    const message: Message = {
      MessageId: "sqs-9",
      ReceiptHandle: "rh-9",
      Body: JSON.stringify(decisionEvent(detail)),
      Attributes: { SentTimestamp: String(Date.parse("2026-11-28T10:00:02.000Z")) },
    };
    deadLetters({ [names.gmailDeadLetterQueue]: [message] });
    s3.on(HeadObjectCommand).resolves({ LastModified: new Date("2026-11-28T10:00:00.000Z") });

    const fate = await reader().byMessageId("m-dead");

    expect(fate?.places).toContainEqual({
      kind: "dead-letter",
      queue: "forwarder",
      name: "ses-gmail-forwarder-dlq-prod",
      error: failed.error,
      redrive: "ses-mail dlq redrive --queue forwarder --stack prod",
      since: "2026-11-28T10:00:02.000Z",
    });
    expect(sqs.commandCalls(ChangeMessageVisibilityBatchCommand).map((call) => call.args[0].input.Entries)).toEqual([
      [{ Id: "0", ReceiptHandle: "rh-9", VisibilityTimeout: 0 }],
    ]);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  });

  it("a delivery the retry processor gave up on: the retry dead-letter queue's own reason, redriven with --replay", async () => {
    const detail = detailFor("m-retry-dead", { "forward-to-gmail": [forward("me@gmail.com")] });
    const body = JSON.stringify(
      buildRetryMessage(
        { event: decisionEvent(detail) },
        "me@gmail.com",
        { code: "MAILBOX_AUTHORIZATION", message: "invalid_grant" },
        new Date("2026-11-28T10:00:02.000Z"),
      ),
    );
    deadLetters({
      [names.retryDeadLetterQueue]: [
        {
          MessageId: "r-1",
          ReceiptHandle: "rh-r",
          Body: body,
          MessageAttributes: {
            "ses-mail-error": { DataType: "String", StringValue: "ForwarderReportedFailure" },
            "ses-mail-cause": { DataType: "String", StringValue: "batchItemFailures was not an empty list" },
          },
        },
      ],
    });

    const fate = await reader().byMessageId("m-retry-dead");

    expect(fate?.places).toContainEqual(
      expect.objectContaining({
        kind: "dead-letter",
        queue: "retry",
        error: { code: "ForwarderReportedFailure", message: "batchItemFailures was not an empty list" },
        redrive: "ses-mail dlq redrive --queue retry --replay --stack prod",
      }),
    );
  });

  it("a message that was never routed: the input dead-letter queue, the router's error from its log, the raw message from the notification", async () => {
    const notification = sesNotification({ messageId: "m-unrouted", recipients: ["user@example.com"], bucket: BUCKET });
    deadLetters({ [names.inputDeadLetterQueue]: [{ MessageId: "in-1", ReceiptHandle: "rh-in", Body: JSON.stringify(notification) }] });
    const routerLine = {
      level: "ERROR",
      message: "routing failed",
      timestamp: "2026-11-28T10:00:01.000Z",
      service: "router",
      kind: "routing-failed",
      messageId: "m-unrouted",
      code: "INVALID_RULE",
      error: "invalid routing rule ROUTE#user@example.com",
    };
    logs
      .on(FilterLogEventsCommand, { logGroupName: names.functionLogGroup("router") })
      .resolves({ events: [{ timestamp: Date.parse(routerLine.timestamp), message: JSON.stringify(routerLine) }] });
    s3.on(HeadObjectCommand, { Bucket: BUCKET, Key: "emails/m-unrouted" }).resolves({ LastModified: new Date("2026-11-28T10:00:00.000Z") });

    const fate = await reader().byMessageId("m-unrouted");

    const error = { code: "INVALID_RULE", message: "invalid routing rule ROUTE#user@example.com" };
    expect(fate?.decision).toBeUndefined();
    expect(fate?.outcomes).toEqual([{ kind: "routing-failed", messageId: "m-unrouted", at: "2026-11-28T10:00:01.000Z", error }]);
    expect(fate?.places).toEqual([
      {
        kind: "dead-letter",
        queue: "input",
        name: "ses-email-input-dlq-prod",
        error,
        redrive: "ses-mail dlq redrive --queue input --stack prod",
      },
      { kind: "raw-message", location: { bucket: BUCKET, key: "emails/m-unrouted" }, state: "kept", keptUntil: "2027-01-06T00:00:00.000Z" },
    ]);
  });

  it("with the bucket named, finds a raw message whose decision is no longer logged", async () => {
    s3.on(HeadObjectCommand, { Bucket: BUCKET, Key: "emails/m-old" }).resolves({ LastModified: new Date("2026-11-28T10:00:00.000Z") });
    const withBucket = createStackFateReader(
      stack,
      { dynamodb: dynamo.client, s3: s3Client, sqs: sqsClient, logs: logsClient },
      { now: () => NOW, rawMessages: { bucket: BUCKET, keyPrefix: "emails/" } },
    );

    const fate = await withBucket.byMessageId("m-old");

    expect(fate).toEqual({
      messageId: "m-old",
      outcomes: [],
      places: [
        { kind: "raw-message", location: { bucket: BUCKET, key: "emails/m-old" }, state: "kept", keptUntil: "2027-01-06T00:00:00.000Z" },
      ],
      gaps: [],
    });
  });

  it("knows nothing of a message nobody saw", async () => {
    await expect(reader().byMessageId("m-nobody")).resolves.toBeUndefined();
  });

  it("turns what it cannot read into gaps, never into an exception", async () => {
    const detail = detailFor("m-gaps", { store: [{ recipient: "a@example.com", match: "exact" }] });
    await progress.record("m-gaps", { decision: detail, outcomes: [] });
    sqs
      .on(GetQueueUrlCommand, { QueueName: names.bouncerDeadLetterQueue })
      .rejects(Object.assign(new Error("not authorized"), { name: "AccessDenied" }));
    s3.on(HeadObjectCommand).rejects(Object.assign(new Error("Forbidden"), { name: "AccessDenied" }));

    const fate = await reader().byMessageId("m-gaps");

    expect(fate?.gaps).toEqual([
      "cannot read the dead-letter queue ses-bouncer-dlq-prod: AccessDenied: not authorized",
      "cannot look for the raw message s3://ses-mail-storage-123456789012-prod/emails/m-gaps: AccessDenied: Forbidden",
    ]);
    expect(fate?.outcomes.map((outcome) => outcome.kind)).toEqual(["routed", "stored"]);
  });

  it("by recipient: every message to the address since the time, newest first, with the never-routed ones", async () => {
    // Prepare: the log search returns what contains the address anywhere; only real recipients count
    const older = detailFor("m-older", { "forward-to-gmail": [forward("me@gmail.com", "shop@example.com")] });
    const newer = detailFor("m-newer", { bounce: [{ recipient: "shop@example.com", match: "default" }] });
    const elsewhere = detailFor("m-mentions", { "forward-to-gmail": [forward("shop@example.com", "other@example.com")] });
    logs.on(FilterLogEventsCommand, { logGroupName: names.busLogGroup }).resolves({
      events: [
        loggedDecision(older, "2026-11-29T08:00:00.000Z"),
        loggedDecision(elsewhere, "2026-11-29T09:00:00.000Z"),
        loggedDecision(newer, "2026-11-30T09:00:00.000Z"),
      ],
    });
    deadLetters({
      [names.inputDeadLetterQueue]: [
        {
          MessageId: "in-2",
          ReceiptHandle: "rh-2",
          Body: JSON.stringify(sesNotification({ messageId: "m-stuck", recipients: ["Shop@Example.com"], bucket: BUCKET })),
          Attributes: { SentTimestamp: String(Date.parse("2026-11-30T10:00:00.000Z")) },
        },
      ],
    });

    // Act
    const fates = await reader().byRecipient("Shop@example.com", new Date("2026-11-29T00:00:00.000Z"));

    // Assess
    expect(fates.map((fate) => fate.messageId)).toEqual(["m-newer", "m-older", "m-stuck"]);
    expect(logs.commandCalls(FilterLogEventsCommand)[0]!.args[0].input).toMatchObject({
      logGroupName: "/aws/events/ses-mail-email-routing-prod",
      filterPattern: '"shop@example.com"',
      startTime: Date.parse("2026-11-29T00:00:00.000Z"),
      endTime: NOW.getTime(),
    });
    expect(fates[2]!.places).toContainEqual(expect.objectContaining({ kind: "dead-letter", queue: "input" }));
  });

  it("finds the lifecycle's expiry at the next midnight UTC", () => {
    expect(lifecycleExpiry(new Date("2026-11-28T10:00:00.000Z"), 38).toISOString()).toBe("2027-01-06T00:00:00.000Z");
    expect(lifecycleExpiry(new Date("2026-11-28T00:00:00.000Z"), 1).toISOString()).toBe("2026-11-29T00:00:00.000Z");
  });
});
