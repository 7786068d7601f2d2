import { SESClient, SendRawEmailCommand } from "@aws-sdk/client-ses";
import type { SQSEvent } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { DynamoDbIdempotencyStore } from "../../adapters/aws/idempotency";
import { DynamoDbMessageProgress, DynamoDbThrottleStore } from "../../adapters/aws/delivery-state";
import { S3MessageStore } from "../../adapters/aws/s3-message-store";
import { SesRawMailSender } from "../../adapters/aws/ses-sender";
import type { DecisionDetail, DecisionTarget } from "../../core/decision";
import type { MailboxImporter, StoredMessage } from "../../core/ports";
import type { Verdicts } from "../../core/verdicts";
import { bouncerEnvironmentVariables, createBouncer, readBouncerEnvironment } from "../../handlers/bouncer";
import { createGmailForwarder } from "../../handlers/gmail-forwarder";
import { createObservability } from "../../handlers/observability";
import { decisionEvent, fixture, memoryS3, MemoryRetryQueue, readDsn, type MemoryS3 } from "../helpers/delivery";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";
import { decisionDetail, sqsRecord } from "../helpers/factories";
import { RecordedOutcomes } from "../helpers/outcomes";

const BUCKET = "ses-mail-storage-123456789012-test";

function bounceTo(recipient: string, match: DecisionTarget["match"] = "default"): DecisionTarget {
  return { recipient, match, ...(match === "default" ? { reason: "no rule matches this address" } : { rule: recipient }) };
}

function detailFor(
  messageId: string,
  bounce: DecisionTarget[],
  options: { source?: string; verdicts?: Partial<Verdicts>; subject?: string; forward?: DecisionTarget[] } = {},
): DecisionDetail {
  const base = decisionDetail({ bounce, "forward-to-gmail": options.forward ?? [] });
  return {
    ...base,
    originalMessageId: messageId,
    source: options.source ?? "alice@sender.example",
    subject: options.subject ?? "Lunch on Thursday?",
    s3: { bucket: BUCKET, key: `emails/${messageId}` },
    verdicts: { ...base.verdicts, ...options.verdicts },
  };
}

describe("bouncer against dynalite, an in-memory S3 and a mocked SES", () => {
  let dynamo: LocalDynamo;
  let tableName: string;
  let s3: MemoryS3;
  let ses: ReturnType<typeof mockClient>;
  let sesClient: SESClient;
  let clock: number;

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo.close();
  });
  beforeEach(async () => {
    tableName = await dynamo.createRoutingTable();
    s3 = memoryS3();
    sesClient = new SESClient({ region: "eu-west-2" });
    ses = mockClient(sesClient);
    ses.on(SendRawEmailCommand).resolves({ MessageId: "0102-ses-dsn" });
    clock = Date.parse("2026-11-28T10:00:05.000Z");
  });
  afterEach(() => {
    s3.restore();
    ses.restore();
  });

  function bouncer() {
    const observability = createObservability("bouncer-test");
    const outcomes = new RecordedOutcomes();
    const bounce = createBouncer({
      messages: new S3MessageStore({ client: s3.client }),
      sender: new SesRawMailSender({ client: sesClient }),
      throttle: new DynamoDbThrottleStore({ tableName, client: dynamo.client, now: () => new Date(clock) }),
      progress: new DynamoDbMessageProgress({ tableName, client: dynamo.client }),
      observability,
      outcomes,
      now: () => new Date(clock),
    });
    return { bounce, observability, outcomes };
  }

  function sent(): Array<{ Source?: string; Destinations?: string[]; RawMessage?: { Data?: Uint8Array } }> {
    return ses.commandCalls(SendRawEmailCommand).map((call) => call.args[0].input as never);
  }

  it("sends an RFC 3464 report to the envelope sender, never the From header, from MAILER-DAEMON at the recipient's domain", async () => {
    // Prepare: the envelope sender differs from the message's From
    s3.put(BUCKET, "emails/m-bounce", fixture("plain-text.eml"));
    const detail = detailFor("m-bounce", [bounceTo("nobody@example.com"), bounceTo("closed@example.com", "exact")], {
      source: "bounces+123@mailer.sender.example",
    });

    // Act
    const response = await bouncer().bounce({ Records: [sqsRecord(decisionEvent(detail))] });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(sent()).toHaveLength(1);
    const [call] = sent();
    expect(call).toMatchObject({ Source: "MAILER-DAEMON@example.com", Destinations: ["bounces+123@mailer.sender.example"] });
    const { email, groups, quoted } = await readDsn(call!.RawMessage!.Data!);
    expect(email.to).toEqual([{ name: "", address: "bounces+123@mailer.sender.example" }]);
    expect(email.from).toEqual({ name: "Mail Delivery System", address: "MAILER-DAEMON@example.com" });
    expect(email.headers.find((header) => header.key === "auto-submitted")?.value).toBe("auto-replied");
    expect(email.headers.find((header) => header.key === "content-type")?.value).toMatch(
      /^multipart\/report; report-type=delivery-status;/,
    );
    expect(email.inReplyTo).toBe("<CAFexample.lunch@mail.sender.example>");
    expect(groups).toEqual([
      { "Reporting-MTA": "dns; example.com", "X-SES-Message-ID": "m-bounce", "Arrival-Date": "Sat, 28 Nov 2026 10:00:00 +0000" },
      expect.objectContaining({
        "Final-Recipient": "rfc822; nobody@example.com",
        Action: "failed",
        Status: "5.1.1",
        "Diagnostic-Code": expect.stringContaining("550 5.1.1"),
      }),
      expect.objectContaining({
        "Final-Recipient": "rfc822; closed@example.com",
        Action: "failed",
        Status: "5.7.1",
        "Diagnostic-Code": expect.stringContaining("550 5.7.1"),
      }),
    ]);
    expect(quoted).toContain("Message-ID: <CAFexample.lunch@mail.sender.example>");
    expect(quoted).not.toContain("Are you free for lunch"); // headers only, never the body
    expect([...s3.objects.keys()]).not.toContain(`${BUCKET}/emails/m-bounce`); // the bouncer was the only consumer
  });

  it("sends one report per recipient domain, each from its own MAILER-DAEMON", async () => {
    s3.put(BUCKET, "emails/m-two-domains", fixture("plain-text.eml"));
    await bouncer().bounce({
      Records: [
        sqsRecord(
          decisionEvent(detailFor("m-two-domains", [bounceTo("a@example.com"), bounceTo("b@example.org"), bounceTo("c@example.com")])),
        ),
      ],
    });
    const calls = sent();
    expect(calls.map((call) => call.Source)).toEqual(["MAILER-DAEMON@example.com", "MAILER-DAEMON@example.org"]);
    const first = await readDsn(calls[0]!.RawMessage!.Data!);
    expect(first.groups.slice(1).map((group) => group["Final-Recipient"])).toEqual(["rfc822; a@example.com", "rfc822; c@example.com"]);
  });

  it.each([
    ["a null sender", { source: "" }, "null-sender"],
    ["MAILER-DAEMON", { source: "MAILER-DAEMON@sender.example" }, "daemon-sender"],
    ["postmaster", { source: "postmaster@sender.example" }, "daemon-sender"],
    ["an envelope sender with CR/LF in it", { source: "a@b.example\r\nBcc: victim@evil.example" }, "invalid-sender"],
    ["spam", { verdicts: { spam: "FAIL" } }, "spam"],
    ["a virus", { verdicts: { virus: "FAIL" } }, "virus"],
    ["a DMARC failure", { verdicts: { dmarc: "FAIL", dmarcPolicy: "none" } }, "dmarc-fail"],
    ["neither SPF nor DKIM passing", { verdicts: { spf: "FAIL", dkim: "GRAY" } }, "unauthenticated"],
    ["Auto-Submitted mail", { fixture: "auto-reply.eml" }, "auto-submitted"],
    ["Precedence: list mail", { fixture: "list-mail.eml" }, "bulk-precedence"],
    ["a raw message that is gone", { fixture: null }, "original-unavailable"],
  ] as const)("suppresses the bounce for %s, logging and counting the reason", async (_name, setup, reason) => {
    // Prepare
    const options = setup as { source?: string; verdicts?: Partial<Verdicts>; fixture?: string | null };
    if (options.fixture !== null) s3.put(BUCKET, "emails/m-suppressed", fixture(options.fixture ?? "plain-text.eml"));
    const detail = detailFor("m-suppressed", [bounceTo("nobody@example.com")], options);
    const { bounce, observability, outcomes } = bouncer();
    const metrics = jest.spyOn(observability.metrics, "addMetric");

    // Act
    const response = await bounce({ Records: [sqsRecord(decisionEvent(detail))] });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(sent()).toHaveLength(0);
    expect(outcomes.ofKind("bounce-suppressed")).toEqual([
      expect.objectContaining({ messageId: "m-suppressed", recipient: "nobody@example.com", reason }),
    ]);
    expect(metrics).toHaveBeenCalledWith("BounceSuppressed", "Count", 1);
    expect(metrics).toHaveBeenCalledWith(`BounceSuppressed_${reason}`, "Count", 1);
  });

  it("does not read the raw message at all when the sender or verdicts already suppress the bounce", async () => {
    await bouncer().bounce({ Records: [sqsRecord(decisionEvent(detailFor("m-early", [bounceTo("nobody@example.com")], { source: "" })))] });
    expect(s3.gets).toEqual([]);
  });

  it("bounces at most once per sender and recipient per hour", async () => {
    // Prepare
    s3.put(BUCKET, "emails/m-1", fixture("plain-text.eml"));
    s3.put(BUCKET, "emails/m-2", fixture("plain-text.eml"));
    s3.put(BUCKET, "emails/m-3", fixture("plain-text.eml"));
    const { bounce, outcomes } = bouncer();

    // Act
    await bounce({ Records: [sqsRecord(decisionEvent(detailFor("m-1", [bounceTo("nobody@example.com")])))] });
    clock += 30 * 60 * 1000;
    await bounce({
      Records: [sqsRecord(decisionEvent(detailFor("m-2", [bounceTo("nobody@example.com"), bounceTo("other@example.com")])))],
    });
    clock += 31 * 60 * 1000;
    await bounce({ Records: [sqsRecord(decisionEvent(detailFor("m-3", [bounceTo("nobody@example.com")])))] });

    // Assess: m-2 bounced only `other`; after the hour, nobody@ bounces again
    const recipients = await Promise.all(
      sent().map(async (call) => (await readDsn(call.RawMessage!.Data!)).groups.slice(1).map((group) => group["Final-Recipient"])),
    );
    expect(recipients).toEqual([["rfc822; nobody@example.com"], ["rfc822; other@example.com"], ["rfc822; nobody@example.com"]]);
    expect(outcomes.ofKind("bounce-suppressed")).toEqual([
      expect.objectContaining({ messageId: "m-2", recipient: "nobody@example.com", reason: "throttled" }),
    ]);
    expect(
      outcomes
        .ofKind("bounce-sent")
        .map((sentBounce) => [sentBounce.messageId, sentBounce.recipients.map((recipient) => recipient.address)]),
    ).toEqual([
      ["m-1", ["nobody@example.com"]],
      ["m-2", ["other@example.com"]],
      ["m-3", ["nobody@example.com"]],
    ]);
  });

  it("fails the record when SES refuses, frees the throttle, and sends on redelivery", async () => {
    s3.put(BUCKET, "emails/m-ses-down", fixture("plain-text.eml"));
    ses
      .on(SendRawEmailCommand)
      .rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "Throttling" }))
      .resolves({ MessageId: "0102-later" });
    const { bounce } = bouncer();
    const body = decisionEvent(detailFor("m-ses-down", [bounceTo("nobody@example.com")]));

    const first = await bounce({ Records: [sqsRecord(body, { messageId: "ses-down" })] });
    const keptAfterFailure = [...s3.objects.keys()];
    const second = await bounce({ Records: [sqsRecord(body, { messageId: "ses-down-again" })] });

    expect(first.batchItemFailures).toEqual([{ itemIdentifier: "ses-down" }]);
    expect(keptAfterFailure).toContain(`${BUCKET}/emails/m-ses-down`);
    expect(second.batchItemFailures).toEqual([]);
    expect(sent()).toHaveLength(2);
    expect([...s3.objects.keys()]).not.toContain(`${BUCKET}/emails/m-ses-down`);
  });

  it("records the message's fate: the failed send while it waits for redelivery, then the bounce and the deletion", async () => {
    s3.put(BUCKET, "emails/m-bounce-fate", fixture("plain-text.eml"));
    ses
      .on(SendRawEmailCommand)
      .rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "Throttling" }))
      .resolves({ MessageId: "0102-later" });
    const { bounce } = bouncer();
    const detail = detailFor("m-bounce-fate", [bounceTo("nobody@example.com")]);
    const progress = new DynamoDbMessageProgress({ tableName, client: dynamo.client });

    await bounce({ Records: [sqsRecord(decisionEvent(detail))] });
    const afterFailure = await progress.read("m-bounce-fate");
    await bounce({ Records: [sqsRecord(decisionEvent(detail))] });
    const afterSend = await progress.read("m-bounce-fate");

    expect(afterFailure?.decision).toEqual(detail);
    expect(afterFailure?.outcomes).toEqual([
      expect.objectContaining({
        kind: "bounce-failed",
        recipients: ["nobody@example.com"],
        error: { code: "BOUNCE_SEND_THROTTLED", message: expect.stringMatching(/Rate exceeded$/) },
      }),
    ]);
    expect(afterSend?.outcomes.map((outcome) => outcome.kind)).toEqual(["bounce-failed", "bounce-sent", "raw-message-deleted"]);
    expect(afterSend?.outcomes[1]).toMatchObject({ to: detail.source, dsnMessageId: "0102-later" });
    expect(afterSend?.partsDone).toEqual(["bounce"]);
  });

  it("never sends a redelivered bounce twice", async () => {
    s3.put(BUCKET, "emails/m-redelivered", fixture("plain-text.eml"));
    const { bounce } = bouncer();
    const body = decisionEvent(
      detailFor("m-redelivered", [bounceTo("nobody@example.com")], {
        forward: [{ recipient: "user@example.com", target: "me@gmail.com", match: "exact" }],
      }),
    );
    await bounce({ Records: [sqsRecord(body)] });
    await bounce({ Records: [sqsRecord(body)] });
    expect(sent()).toHaveLength(1);
  });

  it("keeps header injection out of the report", async () => {
    s3.put(BUCKET, "emails/m-inject", fixture("header-injection.eml"));
    const detail = detailFor("m-inject", [bounceTo("nobody@example.com")], {
      subject: "Hi\r\nBcc: victim@evil.example",
      source: "mallory@sender.example",
    });
    await bouncer().bounce({ Records: [sqsRecord(decisionEvent(detail))] });
    const [call] = sent();
    expect(call!.Destinations).toEqual(["mallory@sender.example"]);
    const raw = Buffer.from(call!.RawMessage!.Data!).toString("latin1");
    const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
    expect(head).not.toMatch(/^Bcc:/im);
    const { email, quoted } = await readDsn(call!.RawMessage!.Data!);
    expect(email.headers.map((header) => header.key)).not.toContain("bcc");
    expect(quoted).not.toMatch(/^Bcc:/m);
  });

  it.each([
    ["forwarder first, then bouncer", ["forward", "bounce"]],
    ["bouncer first, then forwarder", ["bounce", "forward"]],
  ] as const)("with forward and bounce in one decision, deletes the raw message only after both (%s)", async (_name, order) => {
    // Prepare: a forwarder with an in-memory mailbox (as local mode passes a Maildir)
    s3.put(BUCKET, "emails/m-both", fixture("plain-text.eml"));
    const imported: string[] = [];
    const mailbox: MailboxImporter = {
      async importMessage(account: string, message: StoredMessage) {
        for await (const chunk of message.body) void chunk;
        imported.push(account);
        return { id: `local-${imported.length}` };
      },
    };
    const forward = createGmailForwarder({
      messages: new S3MessageStore({ client: s3.client }),
      mailbox,
      deliveries: new DynamoDbIdempotencyStore({ tableName, client: dynamo.client }),
      progress: new DynamoDbMessageProgress({ tableName, client: dynamo.client }),
      retryQueue: new MemoryRetryQueue(),
      observability: createObservability("forwarder-test"),
    });
    const { bounce } = bouncer();
    const event: SQSEvent = {
      Records: [
        sqsRecord(
          decisionEvent(
            detailFor("m-both", [bounceTo("nobody@example.com")], {
              forward: [{ recipient: "user@example.com", target: "me@gmail.com", match: "exact" }],
            }),
          ),
        ),
      ],
    };
    const run = { forward: () => forward(event), bounce: () => bounce(event) };

    // Act
    await run[order[0]]();
    const keptAfterFirst = [...s3.objects.keys()];
    await run[order[1]]();

    // Assess
    expect(keptAfterFirst).toContain(`${BUCKET}/emails/m-both`);
    expect(imported).toEqual(["me@gmail.com"]);
    expect(sent()).toHaveLength(1);
    expect([...s3.objects.keys()]).not.toContain(`${BUCKET}/emails/m-both`);
  });

  it("reads the environment the component writes", () => {
    const env = bouncerEnvironmentVariables({ routingTable: "ses-mail-email-routing-test", configurationSet: "ses-mail-test" });
    expect(readBouncerEnvironment(env)).toEqual({ routingTable: "ses-mail-email-routing-test", configurationSet: "ses-mail-test" });
    expect(() => readBouncerEnvironment({})).toThrow(/ROUTING_TABLE/);
  });
});
