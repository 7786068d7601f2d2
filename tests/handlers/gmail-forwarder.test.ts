import type { SQSEvent } from "aws-lambda";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { DynamoDbMessageProgress } from "../../adapters/aws/delivery-state";
import { DynamoDbIdempotencyStore } from "../../adapters/aws/idempotency";
import { S3MessageStore } from "../../adapters/aws/s3-message-store";
import { GmailImporter } from "../../adapters/gmail/importer";
import { GmailLabels } from "../../adapters/gmail/labels";
import { GoogleAccounts } from "../../adapters/gmail/oauth";
import type { DecisionDetail, DecisionTarget } from "../../core/decision";
import { RETRY_MESSAGE_KIND, type RetryMessage } from "../../core/delivery";
import { oauthClientParameter, PARAMETER_PLACEHOLDER, refreshTokenParameter } from "../../core/parameters";
import type { MailboxImporter, StoredMessage } from "../../core/ports";
import { createGmailForwarder, gmailForwarderEnvironmentVariables, readGmailForwarderEnvironment } from "../../handlers/gmail-forwarder";
import { createObservability } from "../../handlers/observability";
import { fixture, decisionEvent, memoryS3, MemoryRetryQueue, MemorySecrets, type MemoryS3 } from "../helpers/delivery";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";
import { decisionDetail, QUARANTINED_VERDICTS, sqsRecord } from "../helpers/factories";
import { FAKE_CLIENT, GMAIL_INSERT_SCOPE, startFakeGoogle, type FakeGoogle } from "../helpers/fake-google";
import { RecordedOutcomes } from "../helpers/outcomes";

const ENV = "test";
const BUCKET = "ses-mail-storage-123456789012-test";

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function forwardTo(account: string, recipient = "user@example.com", labels?: string[]): DecisionTarget {
  return { recipient, target: account, match: "exact", rule: recipient, ...(labels ? { labels } : {}) };
}

function detailFor(
  messageId: string,
  targets: { forward?: DecisionTarget[]; bounce?: DecisionTarget[]; store?: DecisionTarget[] },
  overrides: Partial<DecisionDetail> = {},
): DecisionDetail {
  return decisionDetail(
    { "forward-to-gmail": targets.forward ?? [], bounce: targets.bounce ?? [], store: targets.store ?? [] },
    { originalMessageId: messageId, s3: { bucket: BUCKET, key: `emails/${messageId}` }, ...overrides },
  );
}

function batch(...bodies: unknown[]): SQSEvent {
  return { Records: bodies.map((body) => sqsRecord(body)) };
}

describe("Gmail forwarder against a Gmail-compatible server, dynalite and an in-memory S3", () => {
  let dynamo: LocalDynamo;
  let google: FakeGoogle;
  let tableName: string;
  let s3: MemoryS3;
  let secrets: MemorySecrets;
  let retryQueue: MemoryRetryQueue;

  beforeAll(async () => {
    dynamo = await startDynalite();
    google = await startFakeGoogle();
    google.addAccount("alice@gmail.com", "1//alice-refresh", { userLabels: ["Label_7"] });
    google.addAccount("bob@gmail.com", "1//bob-refresh");
    // Carol consented before ses-mail asked for label access.
    google.addAccount("carol@gmail.com", "1//carol-refresh", { scopes: [GMAIL_INSERT_SCOPE] });
  });
  afterAll(async () => {
    await google.close();
    await dynamo.close();
  });
  beforeEach(async () => {
    tableName = await dynamo.createRoutingTable();
    s3 = memoryS3();
    secrets = new MemorySecrets();
    secrets.values.set(oauthClientParameter(ENV), JSON.stringify({ installed: FAKE_CLIENT }));
    secrets.values.set(
      refreshTokenParameter(ENV, "alice@gmail.com"),
      JSON.stringify({ refresh_token: "1//alice-refresh", created_at: "2026-11-27T00:00:00Z" }),
    );
    secrets.values.set(refreshTokenParameter(ENV, "bob@gmail.com"), JSON.stringify({ refresh_token: "1//bob-refresh" }));
    secrets.values.set(refreshTokenParameter(ENV, "carol@gmail.com"), JSON.stringify({ refresh_token: "1//carol-refresh" }));
    retryQueue = new MemoryRetryQueue();
    google.imports.length = 0;
  });
  afterEach(() => s3.restore());

  function forwarder(options: { now?: () => Date } = {}) {
    const observability = createObservability("gmail-forwarder-test");
    const outcomes = new RecordedOutcomes();
    const accounts = new GoogleAccounts({ secrets, environment: ENV, tokenUrl: google.tokenUrl });
    const forward = createGmailForwarder({
      messages: new S3MessageStore({ client: s3.client }),
      mailbox: new GmailImporter({ accounts, apiBaseUrl: google.baseUrl }),
      labels: new GmailLabels({ accounts, environment: ENV, apiBaseUrl: google.baseUrl }),
      deliveries: new DynamoDbIdempotencyStore({ tableName, client: dynamo.client }),
      progress: new DynamoDbMessageProgress({ tableName, client: dynamo.client }),
      retryQueue,
      observability,
      outcomes,
      ...(options.now ? { now: options.now } : {}),
    });
    return { forward, observability, outcomes };
  }

  it("imports the stored bytes unchanged with the decision's labels, then deletes the raw message", async () => {
    // Prepare
    const raw = fixture("latin1-bare-lf.eml");
    s3.put(BUCKET, "emails/m-unchanged", raw);
    const detail = detailFor("m-unchanged", {
      forward: [forwardTo("alice@gmail.com", "user@example.com", ["INBOX", "UNREAD", "Label_7"])],
    });
    const tokenRequestsBefore = google.requests.token;

    // Act
    const response = await forwarder().forward(batch(decisionEvent(detail)));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(google.imports).toHaveLength(1);
    const [imported] = google.imports;
    expect(imported!.body).toEqual(raw);
    expect(imported!.sha256).toBe(sha256(raw));
    expect(imported).toMatchObject({ account: "alice@gmail.com", labels: ["INBOX", "UNREAD", "Label_7"] });
    expect(imported!.query).toMatchObject({ uploadType: "resumable", internalDateSource: "receivedTime" });
    expect(google.requests.token - tokenRequestsBefore).toBe(1);
    expect([...s3.objects.keys()]).not.toContain(`${BUCKET}/emails/m-unchanged`);
  });

  it("labels quarantined mail SPAM when the decision carries no labels, and reuses the cached access token", async () => {
    s3.put(BUCKET, "emails/m-spam-1", fixture("plain-text.eml"));
    s3.put(BUCKET, "emails/m-spam-2", fixture("plain-text.eml"));
    const verdicts = QUARANTINED_VERDICTS;
    const { forward } = forwarder();
    const tokenRequestsBefore = google.requests.token;

    await forward(batch(decisionEvent(detailFor("m-spam-1", { forward: [forwardTo("alice@gmail.com")] }, { verdicts }))));
    await forward(batch(decisionEvent(detailFor("m-spam-2", { forward: [forwardTo("alice@gmail.com")] }, { verdicts }))));

    expect(google.imports.map((entry) => entry.labels)).toEqual([["SPAM"], ["SPAM"]]);
    expect(google.requests.token - tokenRequestsBefore).toBe(1);
  });

  it("imports a redelivered record once, and the redelivery succeeds without reading S3 again", async () => {
    // Prepare: a decision that also bounces, so the raw message outlives the first delivery
    s3.put(BUCKET, "emails/m-redelivered", fixture("plain-text.eml"));
    const detail = detailFor("m-redelivered", {
      forward: [forwardTo("alice@gmail.com")],
      bounce: [{ recipient: "nobody@example.com", match: "default", reason: "no rule matches this address" }],
    });
    const { forward } = forwarder();
    const body = decisionEvent(detail);

    // Act
    const first = await forward(batch(body));
    const second = await forward(batch(body));

    // Assess
    expect(first.batchItemFailures).toEqual([]);
    expect(second.batchItemFailures).toEqual([]);
    expect(google.imports).toHaveLength(1);
    expect(s3.gets).toEqual([`${BUCKET}/emails/m-redelivered`]);
    expect([...s3.objects.keys()]).toContain(`${BUCKET}/emails/m-redelivered`); // the bouncer has not finished with it
  });

  it("parks a target whose refresh token expired in the retry queue, reports it handled, and keeps the raw message", async () => {
    // Prepare
    google.addAccount("carol@gmail.com", "1//carol-expired");
    google.revokeRefreshToken("1//carol-expired");
    secrets.values.set(refreshTokenParameter(ENV, "carol@gmail.com"), JSON.stringify({ refresh_token: "1//carol-expired" }));
    s3.put(BUCKET, "emails/m-expired", fixture("plain-text.eml"));
    const event = decisionEvent(detailFor("m-expired", { forward: [forwardTo("carol@gmail.com")] }));
    const at = new Date("2026-11-28T10:05:00.000Z");

    // Act
    const response = await forwarder({ now: () => at }).forward(batch(event));

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(google.imports).toHaveLength(0);
    expect(retryQueue.messages).toHaveLength(1);
    const parked = JSON.parse(retryQueue.messages[0]!.body) as RetryMessage;
    expect(parked).toMatchObject({
      kind: RETRY_MESSAGE_KIND,
      version: 1,
      target: "carol@gmail.com",
      attempt: 1,
      firstQueuedAt: at.toISOString(),
      lastError: { code: "MAILBOX_AUTHORIZATION" },
    });
    expect(parked.lastError.message).toMatch(/invalid_grant/);
    expect(parked.event).toEqual(event);
    expect(retryQueue.messages[0]!.delaySeconds).toBeUndefined();
    expect([...s3.objects.keys()]).toContain(`${BUCKET}/emails/m-expired`);
  });

  it("delivers a parked message when the retry processor hands its body back after the token was refreshed", async () => {
    // Prepare: park it, then store a new refresh token as the CLI would
    google.addAccount("dave@gmail.com", "1//dave-old");
    google.revokeRefreshToken("1//dave-old");
    secrets.values.set(refreshTokenParameter(ENV, "dave@gmail.com"), JSON.stringify({ refresh_token: "1//dave-old" }));
    s3.put(BUCKET, "emails/m-retried", fixture("plain-text.eml"));
    const { forward } = forwarder();
    await forward(batch(decisionEvent(detailFor("m-retried", { forward: [forwardTo("dave@gmail.com")] }))));
    const parkedBody = retryQueue.messages[0]!.body;
    google.addAccount("dave@gmail.com", "1//dave-new");
    secrets.values.set(refreshTokenParameter(ENV, "dave@gmail.com"), JSON.stringify({ refresh_token: "1//dave-new" }));

    // Act: the retry processor's synthetic SQS event, the body unchanged
    const response = await forward({ Records: [sqsRecord(parkedBody, { messageId: "retry-1" })] });

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(google.imports.map((entry) => entry.account)).toEqual(["dave@gmail.com"]);
    expect(retryQueue.messages).toHaveLength(1);
    expect([...s3.objects.keys()]).not.toContain(`${BUCKET}/emails/m-retried`);
  });

  it("parks again, with a delay and the next attempt count, when a retry meets a still-expired token; gives up after 14 days", async () => {
    google.addAccount("erin@gmail.com", "1//erin-expired");
    google.revokeRefreshToken("1//erin-expired");
    secrets.values.set(refreshTokenParameter(ENV, "erin@gmail.com"), JSON.stringify({ refresh_token: "1//erin-expired" }));
    s3.put(BUCKET, "emails/m-still-expired", fixture("plain-text.eml"));
    let clock = new Date("2026-11-28T10:00:00.000Z");
    const { forward, outcomes } = forwarder({ now: () => clock });
    await forward(batch(decisionEvent(detailFor("m-still-expired", { forward: [forwardTo("erin@gmail.com")] }))));

    clock = new Date("2026-11-28T11:00:00.000Z");
    const second = await forward({ Records: [sqsRecord(retryQueue.messages[0]!.body)] });
    expect(second.batchItemFailures).toEqual([]);
    const reparked = JSON.parse(retryQueue.messages[1]!.body) as RetryMessage;
    expect(reparked).toMatchObject({ attempt: 2, firstQueuedAt: "2026-11-28T10:00:00.000Z", lastQueuedAt: "2026-11-28T11:00:00.000Z" });
    expect(retryQueue.messages[1]!.delaySeconds).toBe(900);

    clock = new Date("2026-12-12T10:00:00.000Z");
    const record = sqsRecord(retryQueue.messages[1]!.body, { messageId: "too-late" });
    const third = await forward({ Records: [record] });
    expect(third.batchItemFailures).toEqual([{ itemIdentifier: "too-late" }]);
    expect(retryQueue.messages).toHaveLength(2);
    expect(outcomes.kinds()).toEqual(["parked", "parked", "given-up"]);
    expect(outcomes.ofKind("parked")[1]).toMatchObject({
      account: "erin@gmail.com",
      attempt: 2,
      parkedSince: "2026-11-28T10:00:00.000Z",
      reason: { code: "MAILBOX_AUTHORIZATION" },
    });
    expect(outcomes.ofKind("given-up")[0]).toMatchObject({
      account: "erin@gmail.com",
      attempt: 2,
      parkedSince: "2026-11-28T10:00:00.000Z",
    });
  });

  it("records the message's fate: the decision, the park, the import from the retry, and the deletion", async () => {
    // Prepare
    google.addAccount("fay@gmail.com", "1//fay-old");
    google.revokeRefreshToken("1//fay-old");
    secrets.values.set(refreshTokenParameter(ENV, "fay@gmail.com"), JSON.stringify({ refresh_token: "1//fay-old" }));
    s3.put(BUCKET, "emails/m-fate", fixture("plain-text.eml"));
    const detail = detailFor("m-fate", { forward: [forwardTo("fay@gmail.com")] });
    let clock = new Date("2026-11-28T10:00:00.000Z");
    const { forward } = forwarder({ now: () => clock });
    await forward(batch(decisionEvent(detail)));
    google.addAccount("fay@gmail.com", "1//fay-new");
    secrets.values.set(refreshTokenParameter(ENV, "fay@gmail.com"), JSON.stringify({ refresh_token: "1//fay-new" }));
    clock = new Date("2026-11-28T11:00:00.000Z");

    // Act
    await forward({ Records: [sqsRecord(retryQueue.messages[0]!.body)] });
    const record = await new DynamoDbMessageProgress({ tableName, client: dynamo.client }).read("m-fate");

    // Assess
    expect(record?.decision).toEqual(detail);
    expect(record?.outcomes.map((outcome) => [outcome.kind, outcome.at])).toEqual([
      ["parked", "2026-11-28T10:00:00.000Z"],
      ["imported", "2026-11-28T11:00:00.000Z"],
      ["raw-message-deleted", "2026-11-28T11:00:00.000Z"],
    ]);
    expect(record?.outcomes[1]).toMatchObject({
      account: "fay@gmail.com",
      mailboxId: google.imports[0]!.id,
      labels: ["INBOX", "UNREAD"],
      origin: "retry",
    });
    expect(record?.partsDone).toEqual(["forward:fay@gmail.com"]);
  });

  describe("an import interrupted after Gmail accepted it, before its record was completed", () => {
    /** A mailbox whose process dies right after Gmail answers: the import lands, nothing after it runs. */
    class DiesAfterImport implements MailboxImporter {
      landed = 0;
      constructor(private readonly real: MailboxImporter) {}
      async importMessage(account: string, message: StoredMessage, labels: readonly string[]): Promise<{ id: string }> {
        await this.real.importMessage(account, message, labels);
        this.landed++;
        return new Promise<never>(() => undefined); // the crash point: never returns, as a killed process
      }
    }

    it("imports again once the lock expires, and reports (and records) the possible duplicate", async () => {
      // Prepare: the first invocation dies between Gmail's answer and the idempotency record
      s3.put(BUCKET, "emails/m-interrupted", fixture("plain-text.eml"));
      const body = decisionEvent(detailFor("m-interrupted", { forward: [forwardTo("alice@gmail.com")] }));
      const accounts = new GoogleAccounts({ secrets, environment: ENV, tokenUrl: google.tokenUrl });
      const dying = new DiesAfterImport(new GmailImporter({ accounts, apiBaseUrl: google.baseUrl }));
      const crashedDeliveries = new DynamoDbIdempotencyStore({ tableName, client: dynamo.client });
      crashedDeliveries.useRemainingTime(() => 50); // the Lambda's remaining time: the lock lasts that long
      void createGmailForwarder({
        messages: new S3MessageStore({ client: s3.client }),
        mailbox: dying,
        deliveries: crashedDeliveries,
        progress: new DynamoDbMessageProgress({ tableName, client: dynamo.client }),
        retryQueue,
        observability: createObservability("gmail-forwarder-test"),
      })(batch(body));
      while (dying.landed === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, 100)); // past the lock

      // Act: SQS redelivers the record to a new container
      const { forward, outcomes } = forwarder();
      const response = await forward(batch(body));

      // Assess
      expect(response.batchItemFailures).toEqual([]);
      expect(google.imports).toHaveLength(2);
      expect(outcomes.kinds()).toEqual(["possible-duplicate", "imported", "raw-message-deleted"]);
      expect(outcomes.ofKind("possible-duplicate")[0]).toMatchObject({
        account: "alice@gmail.com",
        mailboxId: google.imports[1]!.id,
        reason: expect.stringMatching(/interrupted.*gmail\.insert/),
      });
      const record = await new DynamoDbMessageProgress({ tableName, client: dynamo.client }).read("m-interrupted");
      expect(record?.outcomes.map((outcome) => outcome.kind)).toEqual(["possible-duplicate", "imported", "raw-message-deleted"]);
    });

    it("reports no possible duplicate for an ordinary redelivery or a retry after a failed import", async () => {
      s3.put(BUCKET, "emails/m-ordinary", fixture("plain-text.eml"));
      s3.put(BUCKET, "emails/m-failed-once", fixture("plain-text.eml"));
      google.failNext("upload", { status: 503, body: { error: { code: 503, message: "backend error" } } });
      const { forward, outcomes } = forwarder();
      const failing = decisionEvent(detailFor("m-failed-once", { forward: [forwardTo("bob@gmail.com")] }));
      const ordinary = decisionEvent(
        detailFor("m-ordinary", { forward: [forwardTo("bob@gmail.com")], bounce: [{ recipient: "x@example.com", match: "default" }] }),
      );

      await forward(batch(failing));
      await forward(batch(failing));
      await forward(batch(ordinary));
      await forward(batch(ordinary));

      expect(outcomes.kinds()).toEqual(["import-failed", "imported", "raw-message-deleted", "imported", "already-imported"]);
    });
  });

  it("fails only the record whose raw message is gone, with a clear error, and keeps going", async () => {
    // Prepare
    s3.put(BUCKET, "emails/m-present", fixture("plain-text.eml"));
    const missing = sqsRecord(decisionEvent(detailFor("m-missing", { forward: [forwardTo("alice@gmail.com")] })), {
      messageId: "sqs-missing",
    });
    const present = sqsRecord(decisionEvent(detailFor("m-present", { forward: [forwardTo("alice@gmail.com")] })), {
      messageId: "sqs-present",
    });
    const { forward, observability, outcomes } = forwarder();
    const metrics = jest.spyOn(observability.metrics, "addMetric");

    // Act
    const response = await forward({ Records: [missing, present] });

    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "sqs-missing" }]);
    expect(google.imports.map((entry) => entry.account)).toEqual(["alice@gmail.com"]);
    expect(outcomes.ofKind("import-failed")).toEqual([
      expect.objectContaining({
        messageId: "m-missing",
        account: "alice@gmail.com",
        error: expect.objectContaining({ code: "MESSAGE_NOT_FOUND" }),
      }),
    ]);
    expect(outcomes.ofKind("imported")).toEqual([expect.objectContaining({ messageId: "m-present", account: "alice@gmail.com" })]);
    expect(metrics).toHaveBeenCalledWith("GmailImportFailed_MESSAGE_NOT_FOUND", "Count", 1);
    expect(retryQueue.messages).toHaveLength(0);
  });

  it("with several targets and one failing, fails the record; the redelivery imports only the failed one and then deletes the message", async () => {
    // Prepare
    s3.put(BUCKET, "emails/m-two-targets", fixture("plain-text.eml"));
    const body = decisionEvent(
      detailFor("m-two-targets", { forward: [forwardTo("alice@gmail.com", "a@example.com"), forwardTo("bob@gmail.com", "b@example.com")] }),
    );
    google.failNext("session", { status: 503, account: "bob@gmail.com" });
    const { forward } = forwarder();

    // Act
    const first = await forward({ Records: [sqsRecord(body, { messageId: "two-1" })] });
    const afterFirst = google.imports.map((entry) => entry.account);
    const keptAfterFirst = [...s3.objects.keys()];
    const second = await forward({ Records: [sqsRecord(body, { messageId: "two-2" })] });

    // Assess
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: "two-1" }]);
    expect(afterFirst).toEqual(["alice@gmail.com"]);
    expect(keptAfterFirst).toContain(`${BUCKET}/emails/m-two-targets`);
    expect(second.batchItemFailures).toEqual([]);
    expect(google.imports.map((entry) => entry.account)).toEqual(["alice@gmail.com", "bob@gmail.com"]);
    expect([...s3.objects.keys()]).not.toContain(`${BUCKET}/emails/m-two-targets`);
  });

  // How often each failure is scripted: google-auth-library asks the token endpoint again three times on
  // 429 and 5xx, and answers a 401 or 403 from Gmail with a fresh token and a second request.
  it.each([
    ["429 on the upload session", "session", { status: 429, headers: { "retry-after": "30" } }, 1],
    ["500 on the upload", "upload", { status: 500 }, 1],
    [
      "403 userRateLimitExceeded, twice",
      "session",
      { status: 403, body: { error: { code: 403, message: "User-rate limit exceeded", errors: [{ reason: "userRateLimitExceeded" }] } } },
      2,
    ],
    ["503 from the token endpoint, four times", "token", { status: 503, body: { error: "temporarily_unavailable" } }, 4],
  ] as const)("fails the record for a retry through SQS on %s, without parking it", async (_name, endpoint, failure, times) => {
    google.revokeAccessTokens(); // make the token endpoint be asked again
    s3.put(BUCKET, "emails/m-transient", fixture("plain-text.eml"));
    google.failNext(endpoint, failure, times);
    const { forward, observability } = forwarder();
    const metrics = jest.spyOn(observability.metrics, "addMetric");

    const response = await forward({
      Records: [
        sqsRecord(decisionEvent(detailFor("m-transient", { forward: [forwardTo("alice@gmail.com")] })), { messageId: "transient" }),
      ],
    });

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "transient" }]);
    expect(retryQueue.messages).toHaveLength(0);
    expect(metrics).toHaveBeenCalledWith("GmailImportFailed_MAILBOX_UNAVAILABLE", "Count", 1);
    expect([...s3.objects.keys()]).toContain(`${BUCKET}/emails/m-transient`);
    // and the next delivery of the record succeeds
    const retry = await forward({
      Records: [sqsRecord(decisionEvent(detailFor("m-transient", { forward: [forwardTo("alice@gmail.com")] })))],
    });
    expect(retry.batchItemFailures).toEqual([]);
    expect(google.imports).toHaveLength(1);
  });

  it("refreshes the access token once when Gmail answers 401 to a cached one", async () => {
    s3.put(BUCKET, "emails/m-401", fixture("plain-text.eml"));
    const { forward } = forwarder();
    s3.put(BUCKET, "emails/m-401-warmup", fixture("plain-text.eml"));
    await forward(batch(decisionEvent(detailFor("m-401-warmup", { forward: [forwardTo("alice@gmail.com")] }))));
    google.revokeAccessTokens();
    const tokenRequestsBefore = google.requests.token;

    const response = await forward(batch(decisionEvent(detailFor("m-401", { forward: [forwardTo("alice@gmail.com")] }))));

    expect(response.batchItemFailures).toEqual([]);
    expect(google.requests.token - tokenRequestsBefore).toBe(1);
    expect(google.imports).toHaveLength(2);
  });

  it("fails a permanent 4xx for the DLQ with Gmail's error in the log, and does not park it", async () => {
    s3.put(BUCKET, "emails/m-refused", fixture("plain-text.eml"));
    google.failNext("session", {
      status: 400,
      body: { error: { code: 400, message: "Invalid argument", status: "INVALID_ARGUMENT", errors: [{ reason: "invalidArgument" }] } },
      account: "bob@gmail.com",
    });
    const { forward, outcomes } = forwarder();

    const response = await forward({
      Records: [
        sqsRecord(decisionEvent(detailFor("m-refused", { forward: [forwardTo("bob@gmail.com", "user@example.com", ["INBOX"])] })), {
          messageId: "refused",
        }),
      ],
    });

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "refused" }]);
    expect(retryQueue.messages).toHaveLength(0);
    expect(outcomes.kinds()).toEqual(["import-failed"]);
    expect(outcomes.ofKind("import-failed")[0]!.error).toEqual({
      code: "MAILBOX_REJECTED",
      message: expect.stringMatching(/400.*Invalid argument/),
    });
  });

  describe("labels by name", () => {
    function labelled(messageId: string, account: string, labels: string[]) {
      s3.put(BUCKET, `emails/${messageId}`, fixture("plain-text.eml"));
      return batch(
        decisionEvent(detailFor(messageId, { forward: [forwardTo(account, "user@example.com", ["INBOX", "UNREAD", ...labels])] })),
      );
    }

    it("creates a missing nested label, parent first, imports with its id, and reuses the listed labels for the next message", async () => {
      // Prepare
      const { forward, outcomes } = forwarder();
      const listsBefore = google.requests["labels-list"];

      // Act
      const first = await forward(labelled("m-label-1", "alice@gmail.com", ["Shops/Receipts"]));
      const second = await forward(labelled("m-label-2", "alice@gmail.com", ["shops/receipts", "Label_7"]));

      // Assess
      expect([first, second]).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
      const created = google.labelsOf("alice@gmail.com").filter((label) => label.name.startsWith("Shops"));
      expect(created.map((label) => label.name)).toEqual(["Shops", "Shops/Receipts"]);
      const receipts = created[1]!.id;
      expect(google.imports.map((entry) => entry.labels)).toEqual([
        ["INBOX", "UNREAD", receipts],
        ["INBOX", "UNREAD", receipts, "Label_7"],
      ]);
      // One list for both messages (the second found the label in the cache, whatever its case), no second create.
      expect(google.requests["labels-list"] - listsBefore).toBe(1);
      expect(outcomes.ofKind("imported").map((outcome) => outcome.labels)).toEqual([
        ["INBOX", "UNREAD", receipts],
        ["INBOX", "UNREAD", receipts, "Label_7"],
      ]);
    });

    it("imports without a label it cannot have, says which and why, and never sends the message to the DLQ", async () => {
      const { forward, outcomes } = forwarder();

      const response = await forward(labelled("m-label-missing", "bob@gmail.com", ["Label_404", "Muted", "Newsletters"]));

      expect(response.batchItemFailures).toEqual([]);
      expect(google.imports).toHaveLength(1);
      const newsletters = google.labelsOf("bob@gmail.com").find((label) => label.name === "Newsletters")!.id;
      expect(google.imports[0]!.labels).toEqual(["INBOX", "UNREAD", newsletters]);
      const [imported] = outcomes.ofKind("imported");
      expect(imported!.unappliedLabels).toEqual([
        {
          label: "Label_404",
          reason: expect.stringMatching(/bob@gmail.com's mailbox has no label with id Label_404 .*name the label instead/),
        },
        { label: "Muted", reason: expect.stringMatching(/Gmail refused to create the label "Muted" \(400 .*Invalid label name\)/) },
      ]);
    });

    it("for a token granted without label access: leaves names out with the command that fixes it, keeps ids, lists nothing", async () => {
      const { forward, outcomes } = forwarder();
      const listsBefore = google.requests["labels-list"];

      const response = await forward(labelled("m-label-scope", "carol@gmail.com", ["Receipts", "STARRED"]));

      expect(response.batchItemFailures).toEqual([]);
      expect(google.imports[0]!.labels).toEqual(["INBOX", "UNREAD", "STARRED"]);
      expect(google.requests["labels-list"]).toBe(listsBefore);
      expect(outcomes.ofKind("imported")[0]!.unappliedLabels).toEqual([
        {
          label: "Receipts",
          reason: expect.stringMatching(
            /granted without access to labels .*run `ses-mail oauth refresh --account carol@gmail.com --stack test`/,
          ),
        },
      ]);
    });

    it("retries the record, without importing or parking, when Gmail cannot list labels right now", async () => {
      google.failNext("labels-list", { status: 503, account: "alice@gmail.com" });
      s3.put(BUCKET, "emails/m-label-503", fixture("plain-text.eml"));
      const { forward, outcomes } = forwarder();

      const response = await forward({
        Records: [
          sqsRecord(
            decisionEvent(detailFor("m-label-503", { forward: [forwardTo("alice@gmail.com", "user@example.com", ["Receipts"])] })),
            { messageId: "label-503" },
          ),
        ],
      });

      expect(response.batchItemFailures).toEqual([{ itemIdentifier: "label-503" }]);
      expect(google.imports).toHaveLength(0);
      expect(retryQueue.messages).toHaveLength(0);
      expect(outcomes.ofKind("import-failed")[0]!.error).toMatchObject({
        code: "MAILBOX_UNAVAILABLE",
        message: expect.stringMatching(/503 listing labels/),
      });
    });
  });

  it("parks when the account has never been authorized (the Pulumi placeholder is still there)", async () => {
    secrets.values.set(refreshTokenParameter(ENV, "frank@gmail.com"), PARAMETER_PLACEHOLDER);
    s3.put(BUCKET, "emails/m-placeholder", fixture("plain-text.eml"));
    const response = await forwarder().forward(
      batch(decisionEvent(detailFor("m-placeholder", { forward: [forwardTo("frank@gmail.com")] }))),
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(JSON.parse(retryQueue.messages[0]!.body)).toMatchObject({
      target: "frank@gmail.com",
      lastError: { message: expect.stringMatching(/no refresh token/) },
    });
  });

  it.each([
    ["not JSON", "{"],
    [
      "the wrong detail-type",
      JSON.stringify({ ...decisionEvent(detailFor("m-x", { forward: [forwardTo("alice@gmail.com")] })), "detail-type": "Something Else" }),
    ],
    [
      "a decision without its s3 pointer",
      JSON.stringify(
        decisionEvent({ ...detailFor("m-x", { forward: [forwardTo("alice@gmail.com")] }), s3: undefined } as unknown as DecisionDetail),
      ),
    ],
    [
      "a retry message for a target the decision does not have",
      JSON.stringify({
        kind: RETRY_MESSAGE_KIND,
        version: 1,
        target: "eve@gmail.com",
        attempt: 1,
        firstQueuedAt: "2026-11-28T10:00:00.000Z",
        lastQueuedAt: "2026-11-28T10:00:00.000Z",
        lastError: { code: "X", message: "x" },
        event: decisionEvent(detailFor("m-x", { forward: [forwardTo("alice@gmail.com")] })),
      }),
    ],
  ])("fails a record that is %s alone, and delivers the others", async (_name, body) => {
    s3.put(BUCKET, "emails/m-good", fixture("plain-text.eml"));
    const { forward, outcomes } = forwarder();
    const bad = sqsRecord(body, { messageId: "bad" });
    const good = sqsRecord(decisionEvent(detailFor("m-good", { forward: [forwardTo("alice@gmail.com")] })), { messageId: "good" });

    const response = await forward({ Records: [bad, good] });

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "bad" }]);
    expect(google.imports).toHaveLength(1);
    expect(outcomes.ofKind("invalid-record")).toEqual([
      expect.objectContaining({
        stage: "gmail-forwarder",
        sqsMessageId: "bad",
        error: expect.objectContaining({ code: "INVALID_DELIVERY_EVENT" }),
      }),
    ]);
  });

  it("keeps the raw message when the decision also stores it", async () => {
    s3.put(BUCKET, "emails/m-stored", fixture("plain-text.eml"));
    const detail = detailFor("m-stored", {
      forward: [forwardTo("alice@gmail.com")],
      store: [{ recipient: "user@example.com", match: "exact", rule: "user@example.com" }],
    });
    await forwarder().forward(batch(decisionEvent(detail)));
    expect(google.imports).toHaveLength(1);
    expect([...s3.objects.keys()]).toContain(`${BUCKET}/emails/m-stored`);
  });

  it("streams a 40 MB message: Gmail receives its first bytes long before S3 has produced them all", async () => {
    // Prepare: a 40 MB message generated on the fly, hashed as it is produced, never held whole
    const size = 40 * 1024 * 1024;
    const header = fixture("plain-text.eml").subarray(0, fixture("plain-text.eml").indexOf("\r\n\r\n") + 4);
    const line = Buffer.from(`${"A".repeat(74)}\r\n`);
    let produced = 0;
    const hash = createHash("sha256");
    function* generate() {
      produced = 0;
      yield header;
      produced += header.length;
      hash.update(header);
      const chunk = Buffer.concat(Array.from({ length: 1024 }, () => line));
      while (produced < size) {
        const part = chunk.subarray(0, Math.min(chunk.length, size - produced));
        hash.update(part);
        produced += part.length;
        yield part;
      }
    }
    s3.put(BUCKET, "emails/m-40mb", { size, stream: () => Readable.from(generate()) });
    let producedAtFirstChunk = -1;
    google.onFirstUploadChunk = () => {
      producedAtFirstChunk = produced;
    };
    const baseline = process.memoryUsage();
    let peak = 0;
    const sampler = setInterval(() => {
      const usage = process.memoryUsage();
      peak = Math.max(peak, usage.rss - baseline.rss);
    }, 5);

    // Act
    const started = Date.now();
    const response = await forwarder().forward(batch(decisionEvent(detailFor("m-40mb", { forward: [forwardTo("alice@gmail.com")] }))));
    clearInterval(sampler);
    google.onFirstUploadChunk = undefined;

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(google.imports[0]).toMatchObject({ bytes: size, sha256: hash.digest("hex") });
    expect(producedAtFirstChunk).toBeGreaterThan(0);
    expect(producedAtFirstChunk).toBeLessThan(size / 4);
    process.stdout.write(
      `40 MB import: ${Date.now() - started} ms, peak RSS growth ${(peak / 1048576).toFixed(1)} MiB in this process (client and test server together)\n`,
    );
  });

  it("reads the environment the component writes, and refuses a misconfigured one", () => {
    const env = gmailForwarderEnvironmentVariables({
      environment: "test",
      routingTable: "ses-mail-email-routing-test",
      retryQueueUrl: "https://sqs.eu-west-2.amazonaws.com/123456789012/ses-mail-gmail-forwarder-retry-test",
    });
    expect(readGmailForwarderEnvironment(env)).toEqual({
      environment: "test",
      routingTable: "ses-mail-email-routing-test",
      retryQueueUrl: "https://sqs.eu-west-2.amazonaws.com/123456789012/ses-mail-gmail-forwarder-retry-test",
    });
    expect(() => readGmailForwarderEnvironment({ ...env, RETRY_QUEUE_URL: "" })).toThrow(/RETRY_QUEUE_URL/);
    expect(() => readGmailForwarderEnvironment({ ...env, SES_MAIL_ENVIRONMENT: "../prod" })).toThrow(/SES_MAIL_ENVIRONMENT/);
  });
});
