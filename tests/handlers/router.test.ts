import { BatchGetItemCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDbRuleStore } from "../../adapters/aws/dynamodb-rules";
import { createRuleCodec, type Rule } from "../../core/rules";
import { DEFAULT_VERDICT_POLICY } from "../../core/verdicts";
import { createObservability } from "../../handlers/observability";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  createRouter,
  decisionsForPipe,
  routerEnvironmentVariables,
  readRouterEnvironment,
  type RoutedRecord,
} from "../../handlers/router";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";
import { sesNotification, snsEnvelope, sqsRecord } from "../helpers/factories";
import { RecordedOutcomes } from "../helpers/outcomes";

describe("router enrichment handler against dynalite", () => {
  let dynamo: LocalDynamo;
  let tableName: string;
  let store: DynamoDbRuleStore;
  const codec = createRuleCodec();

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo.close();
  });
  beforeEach(async () => {
    tableName = await dynamo.createRoutingTable();
    store = new DynamoDbRuleStore({ tableName, client: dynamo.client });
  });

  async function putRule(rule: Partial<Rule> & Pick<Rule, "pattern" | "actions">): Promise<void> {
    await store.putRuleItem(codec.toItem({ enabled: true, ...rule }));
  }

  function router(defaultAction: "bounce" | "drop" | "store" = "bounce") {
    const observability = createObservability("router-test");
    const outcomes = new RecordedOutcomes();
    return {
      route: createRouter({ rules: store, settings: { defaultAction, verdictPolicy: DEFAULT_VERDICT_POLICY }, observability, outcomes }),
      observability,
      outcomes,
    };
  }

  it("routes every recipient by its most specific enabled rule, in one BatchGetItem", async () => {
    // Prepare
    await putRule({ pattern: "alice@example.com", actions: [{ type: "forward-to-gmail", target: "alice@gmail.com" }] });
    await putRule({ pattern: "*@example.com", actions: [{ type: "forward-to-gmail", target: "family@gmail.com" }] });
    await putRule({ pattern: "bob@example.com", enabled: false, actions: [{ type: "drop" }] });
    const sent: string[] = [];
    dynamo.client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(String(context.commandName));
        return next(args);
      },
      { step: "initialize", name: "countCommands" },
    );
    const { route, observability } = router();
    const addMetric = jest.spyOn(observability.metrics, "addMetric");

    // Act
    const [{ decision }] = (await route([
      sqsRecord(sesNotification({ recipients: ["Alice+news@Example.com", "bob@example.com", "carol@elsewhere.org"] })),
    ])) as [RoutedRecord];
    dynamo.client.middlewareStack.remove("countCommands");

    // Assess
    expect(sent).toEqual([BatchGetItemCommand.name]);
    expect(decision!.actions["forward-to-gmail"].targets).toEqual([
      expect.objectContaining({
        recipient: "alice+news@example.com",
        target: "alice@gmail.com",
        match: "normalized",
        rule: "alice@example.com",
      }),
      expect.objectContaining({ recipient: "bob@example.com", target: "family@gmail.com", match: "domain", rule: "*@example.com" }),
    ]);
    expect(decision!.actions.bounce.targets).toEqual([expect.objectContaining({ recipient: "carol@elsewhere.org", match: "default" })]);
    expect(decision!.actions.drop.count).toBe(0);
    expect(addMetric).toHaveBeenCalledWith("Forwarded", "Count", 2);
    expect(addMetric).toHaveBeenCalledWith("Bounced", "Count", 1);
  });

  it("reports each decision as outcomes: routed, then the recipients kept and those dropped, by rule or by policy", async () => {
    // Prepare
    await putRule({ pattern: "keep@example.com", actions: [{ type: "store" }] });
    await putRule({ pattern: "gone@example.com", actions: [{ type: "drop" }] });
    const { route, outcomes } = router();

    // Act
    await route([
      sqsRecord(sesNotification({ messageId: "m-rules", recipients: ["keep@example.com", "gone@example.com"] })),
      sqsRecord(sesNotification({ messageId: "m-virus", recipients: ["keep@example.com"], virus: "FAIL" })),
    ]);

    // Assess
    expect(outcomes.kinds()).toEqual(["routed", "stored", "dropped", "routed", "dropped"]);
    expect(outcomes.ofKind("stored")).toEqual([expect.objectContaining({ messageId: "m-rules", recipients: ["keep@example.com"] })]);
    expect(outcomes.ofKind("dropped")).toEqual([
      expect.objectContaining({ messageId: "m-rules", recipients: ["gone@example.com"], by: "rule" }),
      expect.objectContaining({
        messageId: "m-virus",
        recipients: ["keep@example.com"],
        by: "policy",
        reason: expect.stringMatching(/virus/),
      }),
    ]);
    expect(outcomes.ofKind("routed")[0]!.decision.originalMessageId).toBe("m-rules");
  });

  it("accepts the seed's single action + target rule form and an SNS envelope around the notification", async () => {
    await store.putRuleItem({
      PK: "ROUTE#*",
      SK: "RULE#v1",
      entity_type: "ROUTE",
      recipient: "*",
      action: "forward-to-gmail",
      target: "Catch@Gmail.com",
      enabled: true,
    });
    const [{ decision }] = (await router().route([sqsRecord(snsEnvelope(sesNotification({ recipients: ["x@example.com"] })))])) as [
      RoutedRecord,
    ];
    expect(decision!.actions["forward-to-gmail"].targets).toEqual([
      expect.objectContaining({ target: "catch@gmail.com", match: "global", labels: ["INBOX", "UNREAD"] }),
    ]);
  });

  it("fails the message, naming the rule, when the matching stored rule is invalid", async () => {
    await store.putRuleItem({
      PK: "ROUTE#user@example.com",
      SK: "RULE#v1",
      entity_type: "ROUTE",
      action: "forward-to-gmail",
      enabled: true,
    });
    await expect(router().route([sqsRecord(sesNotification({ recipients: ["user@example.com"] }))])).rejects.toThrow(
      /invalid routing rule ROUTE#user@example.com/,
    );
  });

  it("names the SQS message id when a record is not an SES notification", async () => {
    const record = sqsRecord("{not json", { messageId: "bad-record-1" });
    const { route, outcomes } = router();
    await expect(route([record])).rejects.toThrow(/SQS message bad-record-1: the record body is not JSON/);
    expect(outcomes.all).toEqual([
      expect.objectContaining({
        kind: "invalid-record",
        stage: "router",
        sqsMessageId: "bad-record-1",
        error: expect.objectContaining({ code: "INVALID_NOTIFICATION" }),
      }),
    ]);
  });

  it("drops virus mail by policy whatever the rules say", async () => {
    await putRule({ pattern: "*", actions: [{ type: "forward-to-gmail", target: "me@gmail.com" }] });
    const [{ decision }] = (await router().route([sqsRecord(sesNotification({ recipients: ["a@example.com"], virus: "FAIL" }))])) as [
      RoutedRecord,
    ];
    expect(decision!.actions["forward-to-gmail"].count).toBe(0);
    expect(decision!.actions.drop.targets).toEqual([{ recipient: "a@example.com", match: "policy", reason: "virus FAIL" }]);
    expect(decision!.verdicts).toMatchObject({ disposition: "drop", reasons: ["virus FAIL"] });
  });

  it("returns one decision per record, in order", async () => {
    const records = ["one@example.com", "two@example.com", "three@example.com"].map((recipient, index) =>
      sqsRecord(sesNotification({ recipients: [recipient], messageId: `m${index}` }), { messageId: `sqs-${index}` }),
    );
    const routed = await router().route(records);
    expect(routed.map((entry) => [entry.sqsMessageId, entry.messageId, entry.decision?.originalMessageId])).toEqual([
      ["sqs-0", "m0", "m0"],
      ["sqs-1", "m1", "m1"],
      ["sqs-2", "m2", "m2"],
    ]);
  });

  describe("SES's setup notification", () => {
    const setup = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "fixtures", "ses-setup-notification.json"), "utf8")) as Record<
      string,
      unknown
    >;

    it.each([
      ["as SES sends it (no recipients, empty source)", setup],
      ["inside an SNS envelope", snsEnvelope(setup)],
      ["even if it named a recipient", { ...setup, receipt: { ...(setup.receipt as object), recipients: ["user@example.com"] } }],
    ])("is acknowledged and counted, never routed: %s", async (_case, body) => {
      // Prepare
      await putRule({ pattern: "*", actions: [{ type: "forward-to-gmail", target: "me@gmail.com" }] });
      const { route, outcomes, observability } = router();
      const addMetric = jest.spyOn(observability.metrics, "addMetric");

      // Act
      const routed = await route([sqsRecord(body, { messageId: "sqs-setup" })]);

      // Assess
      expect(routed).toEqual([{ sqsMessageId: "sqs-setup", messageId: "AMAZON_SES_SETUP_NOTIFICATION" }]);
      expect(decisionsForPipe(routed)).toEqual([]);
      expect(outcomes.all).toEqual([{ kind: "setup-notification", messageId: "AMAZON_SES_SETUP_NOTIFICATION", at: expect.any(String) }]);
      expect(addMetric).toHaveBeenCalledWith("SetupNotificationAcknowledged", "Count", 1);
      expect(addMetric).not.toHaveBeenCalledWith("MessagesRouted", "Count", 1);
    });

    it("leaves the mail in the same batch routed, in order, and the Pipe gets decisions for the mail only", async () => {
      await putRule({ pattern: "*", actions: [{ type: "forward-to-gmail", target: "me@gmail.com" }] });
      const routed = await router().route([
        sqsRecord(sesNotification({ messageId: "m-before" }), { messageId: "sqs-1" }),
        sqsRecord(setup, { messageId: "sqs-2" }),
        sqsRecord(sesNotification({ messageId: "m-after" }), { messageId: "sqs-3" }),
      ]);
      expect(routed.map((entry) => [entry.sqsMessageId, entry.decision?.originalMessageId ?? null])).toEqual([
        ["sqs-1", "m-before"],
        ["sqs-2", null],
        ["sqs-3", "m-after"],
      ]);
      expect(decisionsForPipe(routed).map((decision) => decision.originalMessageId)).toEqual(["m-before", "m-after"]);
    });
  });

  it("reads the environment the component writes", () => {
    const env = routerEnvironmentVariables({
      routingTable: "ses-mail-email-routing-test",
      defaultAction: "drop",
      verdictPolicy: { ...DEFAULT_VERDICT_POLICY, spam: "drop" },
    });
    expect(readRouterEnvironment(env)).toEqual({
      routingTable: "ses-mail-email-routing-test",
      defaultAction: "drop",
      verdictPolicy: { ...DEFAULT_VERDICT_POLICY, spam: "drop" },
    });
    expect(() => readRouterEnvironment({ ...env, DEFAULT_ACTION: "explode" })).toThrow(/DEFAULT_ACTION/);
  });
});
