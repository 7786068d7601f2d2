import { PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDbMessageProgress, DynamoDbThrottleStore } from "../../../adapters/aws/delivery-state";
import { DynamoDbRuleStore } from "../../../adapters/aws/dynamodb-rules";
import { DynamoDbIdempotencyStore } from "../../../adapters/aws/idempotency";
import { DeliveryInProgressError, DeliveryStateError } from "../../../core/errors";
import type { Outcome } from "../../../core/outcomes";
import { MESSAGE_RECORD_TTL_SECONDS } from "../../../core/retention";
import { startDynalite, type LocalDynamo } from "../../helpers/dynalite";
import { decisionDetail, importedOutcome } from "../../helpers/factories";

describe("delivery state on the routing table (dynalite)", () => {
  let dynamo: LocalDynamo;
  let tableName: string;

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo.close();
  });
  beforeEach(async () => {
    tableName = await dynamo.createRoutingTable();
  });

  describe("idempotency (Powertools persistence layer)", () => {
    it("runs the work once per key, replays the recorded result, and keeps keys apart", async () => {
      const store = new DynamoDbIdempotencyStore({ tableName, client: dynamo.client });
      let runs = 0;
      const work = async () => ({ gmailId: `g${++runs}` });

      const first = await store.once("m1|a@gmail.com", work);
      const again = await store.once("m1|a@gmail.com", work);
      const other = await store.once("m1|b@gmail.com", work);

      expect(first).toEqual({ value: { gmailId: "g1" }, replayed: false });
      expect(again).toEqual({ value: { gmailId: "g1" }, replayed: true });
      expect(other).toEqual({ value: { gmailId: "g2" }, replayed: false });
    });

    it("leaves no record when the work fails, so a retry runs it again", async () => {
      const store = new DynamoDbIdempotencyStore({ tableName, client: dynamo.client });
      await expect(store.once("m2|a@gmail.com", async () => Promise.reject(new Error("Gmail 503")))).rejects.toThrow("Gmail 503");
      await expect(store.once("m2|a@gmail.com", async () => ({ gmailId: "later" }))).resolves.toEqual({
        value: { gmailId: "later" },
        replayed: false,
      });
    });

    it("refuses a second concurrent run of the same key with DeliveryInProgressError", async () => {
      const store = new DynamoDbIdempotencyStore({ tableName, client: dynamo.client });
      let release!: () => void;
      const slow = store.once(
        "m3|a@gmail.com",
        () => new Promise<{ gmailId: string }>((resolve) => (release = () => resolve({ gmailId: "slow" }))),
      );
      await new Promise((resolve) => setTimeout(resolve, 50));

      await expect(store.once("m3|a@gmail.com", async () => ({ gmailId: "duplicate" }))).rejects.toThrow(DeliveryInProgressError);
      release();
      await expect(slow).resolves.toEqual({ value: { gmailId: "slow" }, replayed: false });
      await expect(store.once("m3|a@gmail.com", async () => ({ gmailId: "x" }))).resolves.toMatchObject({ replayed: true });
    });

    it("lets a redelivery run again once a crashed run's lock has expired", async () => {
      // Prepare: a crashed run left INPROGRESS with a lock that expires almost at once
      const crashed = new DynamoDbIdempotencyStore({ tableName, client: dynamo.client });
      crashed.useRemainingTime(() => 20);
      const never = new Promise<never>(() => undefined);
      void crashed.once("m4|a@gmail.com", () => never);
      await new Promise((resolve) => setTimeout(resolve, 60));

      // Act
      const runs: boolean[] = [];
      const retried = await new DynamoDbIdempotencyStore({ tableName, client: dynamo.client }).once(
        "m4|a@gmail.com",
        async ({ interruptedEarlier }) => {
          runs.push(interruptedEarlier);
          return { gmailId: "second" };
        },
      );

      // Assess: the run that took over knows the earlier one was interrupted
      expect(retried).toEqual({ value: { gmailId: "second" }, replayed: false });
      expect(runs).toEqual([true]);
    });

    it("tells a run that nothing was interrupted: a first run, a retry after a failure, another key", async () => {
      const store = new DynamoDbIdempotencyStore({ tableName, client: dynamo.client });
      const seen: Array<[string, boolean]> = [];
      const note =
        (label: string) =>
        async ({ interruptedEarlier }: { interruptedEarlier: boolean }) => {
          seen.push([label, interruptedEarlier]);
          return { gmailId: label };
        };
      await store.once("m6|a@gmail.com", note("first"));
      await store.once("m6|a@gmail.com", note("replayed")); // completed: the work does not run
      await expect(store.once("m7|a@gmail.com", async () => Promise.reject(new Error("Gmail 503")))).rejects.toThrow("Gmail 503");
      await store.once("m7|a@gmail.com", note("after a failure"));
      expect(seen).toEqual([
        ["first", false],
        ["after a failure", false],
      ]);
    });

    it("reports a table it cannot write as DeliveryStateError", async () => {
      const store = new DynamoDbIdempotencyStore({ tableName: "no-such-table", client: dynamo.client });
      await expect(store.once("m5|a@gmail.com", async () => ({ gmailId: "x" }))).rejects.toThrow(DeliveryStateError);
    });
  });

  describe("message record (progress and fate)", () => {
    it("grows a set of done parts, atomically and idempotently", async () => {
      const progress = new DynamoDbMessageProgress({ tableName, client: dynamo.client, now: () => new Date("2026-11-28T10:00:00Z") });
      expect([...(await progress.complete("m1", ["forward:a@gmail.com"]))].sort()).toEqual(["forward:a@gmail.com"]);
      expect([...(await progress.complete("m1", ["bounce", "forward:a@gmail.com"]))].sort()).toEqual(["bounce", "forward:a@gmail.com"]);
      expect([...(await progress.complete("m2", ["bounce"]))]).toEqual(["bounce"]);
    });

    it("keeps the decision once, appends outcomes in order, replaces re-parks per account, and outlives every reference", async () => {
      // Prepare
      const now = Date.parse("2026-11-28T10:00:00Z");
      const progress = new DynamoDbMessageProgress({ tableName, client: dynamo.client, now: () => new Date(now) });
      const detail = decisionDetail(
        { "forward-to-gmail": [{ recipient: "u@example.com", target: "a@gmail.com", match: "exact" }] },
        { originalMessageId: "m-fate" },
      );
      const parked = (attempt: number, at: string): Outcome => ({
        kind: "parked",
        messageId: "m-fate",
        at,
        account: "a@gmail.com",
        reason: { code: "MAILBOX_AUTHORIZATION", message: "invalid_grant" },
        attempt,
        parkedSince: "2026-11-28T10:00:01.000Z",
      });
      const imported = importedOutcome("m-fate", {
        at: "2026-11-28T13:00:05.000Z",
        account: "a@gmail.com",
        mailboxId: "g-1",
        origin: "retry",
      });

      // Act: parked, re-parked twice by hourly runs, then imported
      await progress.record("m-fate", { decision: detail, outcomes: [parked(1, "2026-11-28T10:00:01.000Z")] });
      await progress.record("m-fate", { decision: { ...detail, subject: "changed" }, outcomes: [parked(2, "2026-11-28T11:00:03.000Z")] });
      await progress.record("m-fate", { decision: detail, outcomes: [parked(3, "2026-11-28T12:00:02.000Z")] });
      const done = await progress.record("m-fate", { decision: detail, outcomes: [imported], partsDone: ["forward:a@gmail.com"] });
      const record = await progress.read("m-fate");

      // Assess
      expect(done).toEqual(["forward:a@gmail.com"]);
      expect(record).toEqual({
        messageId: "m-fate",
        decision: detail,
        outcomes: [parked(1, "2026-11-28T10:00:01.000Z"), parked(3, "2026-11-28T12:00:02.000Z"), imported],
        partsDone: ["forward:a@gmail.com"],
        expiresAt: new Date(now + MESSAGE_RECORD_TTL_SECONDS * 1000).toISOString(),
        unreadable: 0,
      });
      expect(await progress.read("m-never-recorded")).toBeUndefined();
    });

    it("counts an entry it cannot read back instead of guessing", async () => {
      const progress = new DynamoDbMessageProgress({ tableName, client: dynamo.client });
      await progress.record("m-odd", {
        outcomes: [{ kind: "stored", messageId: "m-odd", at: "2026-11-28T10:00:00.000Z", recipients: ["x@example.com"] }],
      });
      await dynamo.client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: { PK: { S: "MESSAGE#m-odd" }, SK: { S: "PROGRESS#v1" } },
          UpdateExpression: "SET outcomes = list_append(outcomes, :junk)",
          ExpressionAttributeValues: { ":junk": { L: [{ S: "{not json" }] } },
        }),
      );
      expect(await progress.read("m-odd")).toMatchObject({ outcomes: [expect.objectContaining({ kind: "stored" })], unreadable: 1 });
    });
  });

  describe("bounce throttle", () => {
    it("holds a key for its window, frees it on release, and takes over an expired claim that TTL has not deleted yet", async () => {
      let now = Date.parse("2026-11-28T10:00:00Z");
      const throttle = new DynamoDbThrottleStore({ tableName, client: dynamo.client, now: () => new Date(now) });
      const other = new DynamoDbThrottleStore({ tableName, client: dynamo.client, now: () => new Date(now) });

      expect(await throttle.acquire("s@x.example|r@example.com", 3600)).toBe(true);
      expect(await other.acquire("s@x.example|r@example.com", 3600)).toBe(false);
      await other.release("s@x.example|r@example.com"); // not its claim: nothing happens
      expect(await other.acquire("s@x.example|r@example.com", 3600)).toBe(false);
      await throttle.release("s@x.example|r@example.com");
      expect(await other.acquire("s@x.example|r@example.com", 3600)).toBe(true);

      now += 3600 * 1000;
      expect(await throttle.acquire("s@x.example|r@example.com", 3600)).toBe(true);
    });

    it("reports a table it cannot write as DeliveryStateError", async () => {
      const throttle = new DynamoDbThrottleStore({ tableName: "no-such-table", client: dynamo.client });
      await expect(throttle.acquire("k", 60)).rejects.toThrow(DeliveryStateError);
    });
  });

  it("keeps all of this out of the entity_type index that lists rules", async () => {
    await new DynamoDbMessageProgress({ tableName, client: dynamo.client }).complete("m1", ["bounce"]);
    await new DynamoDbThrottleStore({ tableName, client: dynamo.client }).acquire("k", 60);
    await dynamo.client.send(
      new PutItemCommand({ TableName: tableName, Item: { PK: { S: "ROUTE#*" }, SK: { S: "RULE#v1" }, entity_type: { S: "ROUTE" } } }),
    );
    const rules = await new DynamoDbRuleStore({ tableName, client: dynamo.client }).listRuleItems();
    expect(rules.map((item) => item.PK)).toEqual(["ROUTE#*"]);
  });
});
