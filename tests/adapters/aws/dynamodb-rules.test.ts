import { DynamoDBClient, PutItemCommand, type BatchGetItemCommandOutput } from "@aws-sdk/client-dynamodb";
import { DynamoDbRuleStore } from "../../../adapters/aws/dynamodb-rules";
import { RuleExistsError, RuleNotFoundError, RuleStoreError } from "../../../core/errors";
import { DYNAMODB_UNPROCESSED_MAX_ATTEMPTS } from "../../../core/limits";
import { createRuleCodec } from "../../../core/rules";
import { startDynalite, type LocalDynamo } from "../../helpers/dynalite";

describe("DynamoDbRuleStore against dynalite", () => {
  let dynamo: LocalDynamo;
  let store: DynamoDbRuleStore;
  let tableName: string;
  const codec = createRuleCodec();
  const sent: string[] = [];

  beforeAll(async () => {
    dynamo = await startDynalite();
    dynamo.client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(String(context.commandName));
        return next(args);
      },
      { step: "initialize", name: "recordCommands" },
    );
  });
  afterAll(() => dynamo.close());
  beforeEach(async () => {
    tableName = await dynamo.createRoutingTable();
    sent.length = 0;
  });

  function storeWith(sleep: (ms: number) => Promise<void> = async () => undefined): DynamoDbRuleStore {
    store = new DynamoDbRuleStore({ tableName, client: dynamo.client, sleep });
    return store;
  }

  async function seed(patterns: string[]): Promise<void> {
    for (const pattern of patterns) await storeWith().putRuleItem(codec.toItem({ pattern, enabled: true, actions: [{ type: "drop" }] }));
    sent.length = 0;
  }

  it("fetches up to 100 keys in one BatchGetItem and more in parallel chunks", async () => {
    const patterns = Array.from({ length: 150 }, (_, i) => `user${i}@example.com`);
    await seed(patterns.filter((_, i) => i % 3 === 0));

    const found = await storeWith().getRuleItems(patterns);

    expect(sent).toEqual(["BatchGetItemCommand", "BatchGetItemCommand"]);
    expect([...found.keys()].sort()).toEqual(patterns.filter((_, i) => i % 3 === 0).sort());
  });

  it("retries UnprocessedKeys with growing backoff until all are read", async () => {
    await seed(["a@example.com", "b@example.com", "c@example.com"]);
    let throttled = 2;
    // Plays DynamoDB under throttling: the real response from dynalite, with items moved to UnprocessedKeys.
    dynamo.client.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        const output = result.output as BatchGetItemCommandOutput;
        const items = output.Responses?.[tableName];
        if (throttled > 0 && items && items.length > 1) {
          throttled--;
          const kept = items.slice(0, 1);
          const moved = items.slice(1).map((item) => ({ PK: item.PK!, SK: item.SK! }));
          output.Responses = { [tableName]: kept };
          output.UnprocessedKeys = { [tableName]: { Keys: moved } };
        }
        return result;
      },
      { step: "initialize", name: "throttle" },
    );
    const delays: number[] = [];
    try {
      const found = await storeWith(async (ms) => void delays.push(ms)).getRuleItems([
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "d@example.com",
      ]);
      expect([...found.keys()].sort()).toEqual(["a@example.com", "b@example.com", "c@example.com"]);
      expect(sent.filter((name) => name === "BatchGetItemCommand")).toHaveLength(3);
      expect(delays).toHaveLength(2);
      expect(delays.filter((ms) => ms < 0 || ms > 50 * 2 ** 2)).toEqual([]);
    } finally {
      dynamo.client.middlewareStack.remove("throttle");
    }
  });

  it("gives up with a RuleStoreError when keys stay unprocessed", async () => {
    await seed(["a@example.com"]);
    dynamo.client.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        const output = result.output as BatchGetItemCommandOutput;
        output.UnprocessedKeys = { [tableName]: { Keys: [{ PK: { S: "ROUTE#a@example.com" }, SK: { S: "RULE#v1" } }] } };
        output.Responses = { [tableName]: [] };
        return result;
      },
      { step: "initialize", name: "alwaysThrottle" },
    );
    try {
      await expect(storeWith().getRuleItems(["a@example.com"])).rejects.toThrow(RuleStoreError);
      expect(sent.filter((name) => name === "BatchGetItemCommand")).toHaveLength(DYNAMODB_UNPROCESSED_MAX_ATTEMPTS);
    } finally {
      dynamo.client.middlewareStack.remove("alwaysThrottle");
    }
  });

  it("lists only rules, in pattern order, through the entity_type index (never a Scan)", async () => {
    await seed(["b@example.com", "*", "a@example.com"]);
    await dynamo.client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { PK: { S: "SMTP_USER#app" }, SK: { S: "CREDENTIALS#v1" }, entity_type: { S: "SMTP_USER" } },
      }),
    );
    sent.length = 0;

    const items = await storeWith().listRuleItems();

    expect(items.map((item) => item.PK)).toEqual(["ROUTE#*", "ROUTE#a@example.com", "ROUTE#b@example.com"]);
    expect(sent).toEqual(["QueryCommand"]);
  });

  it("refuses to overwrite with ifAbsent, and reports missing rules", async () => {
    await seed(["a@example.com"]);
    const item = codec.toItem({ pattern: "a@example.com", enabled: true, actions: [{ type: "bounce" }] });
    await expect(storeWith().putRuleItem(item, { ifAbsent: true })).rejects.toThrow(RuleExistsError);
    await expect(store.setRuleEnabled("nobody@example.com", false, "2026-01-01T00:00:00Z")).rejects.toThrow(RuleNotFoundError);
    expect(await store.deleteRuleItem("nobody@example.com")).toBe(false);
    expect(await store.deleteRuleItem("a@example.com")).toBe(true);
    expect(await store.getRuleItem("a@example.com")).toBeUndefined();
  });

  it("wraps an unreachable store in a RuleStoreError naming the table", async () => {
    const unreachable = new DynamoDBClient({
      endpoint: "http://127.0.0.1:9",
      region: "eu-west-2",
      maxAttempts: 1,
      credentials: { accessKeyId: "x", secretAccessKey: "y" },
    });
    const broken = new DynamoDbRuleStore({ tableName: "missing-table", client: unreachable });
    await expect(broken.getRuleItems(["a@example.com"])).rejects.toThrow(/DynamoDB BatchGetItem on missing-table failed/);
    unreachable.destroy();
  });
});
