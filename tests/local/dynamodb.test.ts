import { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DynamoDbRuleStore } from "../../adapters/aws/dynamodb-rules";
import { MANAGED_BY_ATTRIBUTE, RuleManager } from "../../core/table";
import type { DeclaredRoute } from "../../config/schema";
import { createRuleCodec } from "../../core/rules";
import { TTL_ATTRIBUTE } from "../../core/table";
import { loadDeclaredRoutes, startLocalDynamoDb, sweepExpiredItems, type DynamoDbStatus, type LocalDynamoDb } from "../../local/dynamodb";
import { mountSmallFilesystem, type SmallFilesystem } from "./small-filesystem";

let dir: string;
let dynamo: LocalDynamoDb;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "ses-mail-dynamo-"));
  dynamo = await startLocalDynamoDb({ dir: path.join(dir, "dynamodb"), host: "127.0.0.1", port: 0 });
});
afterEach(async () => {
  await dynamo.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
});

const route = (recipient: string, target: string): DeclaredRoute => ({
  recipient,
  enabled: true,
  actions: [{ type: "forward-to-gmail", target }],
});

describe("local DynamoDB", () => {
  it("keeps the routing table on disk across restarts", async () => {
    // Prepare
    await loadDeclaredRoutes(dynamo.rules, [route("*@test.example.com", "me@gmail.com")]);

    // Act
    await dynamo.close();
    dynamo = await startLocalDynamoDb({ dir: path.join(dir, "dynamodb"), host: "127.0.0.1", port: 0 });

    // Assess
    expect((await dynamo.rules.listRuleItems()).map((item) => item.PK)).toEqual(["ROUTE#*@test.example.com"]);
    expect(dynamo.tableName).toBe("ses-mail-email-routing-local");
  });

  it("loads declared routes as managed rules, removes ones no longer declared and keeps CLI rules", async () => {
    // Prepare
    const codec = createRuleCodec();
    await loadDeclaredRoutes(dynamo.rules, [route("a@test.example.com", "a@gmail.com"), route("b@test.example.com", "b@gmail.com")]);
    await dynamo.rules.putRuleItem(codec.toItem({ pattern: "cli@test.example.com", enabled: true, actions: [{ type: "drop" }] }));

    // Act
    const result = await loadDeclaredRoutes(dynamo.rules, [route("a@test.example.com", "new@gmail.com")]);

    // Assess
    expect(result).toEqual({ loaded: 1, removed: 1 });
    const items = await dynamo.rules.listRuleItems();
    expect(items.map((item) => [item.PK, item[MANAGED_BY_ATTRIBUTE]])).toEqual([
      ["ROUTE#a@test.example.com", RuleManager.LocalConfig],
      ["ROUTE#cli@test.example.com", undefined],
    ]);
    expect(codec.fromItem(items[0]!).actions).toEqual([{ type: "forward-to-gmail", target: "new@gmail.com" }]);
  });

  it("sweeps items whose TTL has passed, as DynamoDB's TTL would (dynalite has none)", async () => {
    // Prepare
    const now = new Date("2026-11-28T10:00:00Z");
    const epoch = Math.floor(now.getTime() / 1000);
    const put = (pk: string, expiresAt: number) =>
      dynamo.client.send(
        new PutItemCommand({ TableName: dynamo.tableName, Item: marshall({ PK: pk, SK: "X", [TTL_ATTRIBUTE]: expiresAt }) }),
      );
    await put("IDEMPOTENCY#old", epoch - 1);
    await put("IDEMPOTENCY#fresh", epoch + 3600);
    await loadDeclaredRoutes(dynamo.rules, [route("a@test.example.com", "a@gmail.com")]);

    // Act
    const deleted = await sweepExpiredItems(dynamo.client, dynamo.tableName, now);

    // Assess
    const exists = async (pk: string) =>
      (await dynamo.client.send(new GetItemCommand({ TableName: dynamo.tableName, Key: marshall({ PK: pk, SK: "X" }) }))).Item !==
      undefined;
    expect(deleted).toBe(1);
    expect(await exists("IDEMPOTENCY#old")).toBe(false);
    expect(await exists("IDEMPOTENCY#fresh")).toBe(true);
    expect(await dynamo.rules.listRuleItems()).toHaveLength(1);
  });

  it("changes its write generation around every write a client makes over TCP (the CLI's way), never for a read", async () => {
    // Prepare: a client of its own on the TCP endpoint, as `ses-mail rules … --local` is.
    const cli = new DynamoDbRuleStore({
      tableName: dynamo.tableName,
      client: new DynamoDBClient({ endpoint: dynamo.endpoint, region: "local", credentials: { accessKeyId: "x", secretAccessKey: "x" } }),
    });
    const codec = createRuleCodec();
    const before = dynamo.writeGeneration();

    // Act
    await cli.listRuleItems();
    await cli.getRuleItems(["a@test.example.com"]);
    const afterReads = dynamo.writeGeneration();
    await cli.putRuleItem(codec.toItem({ pattern: "a@test.example.com", enabled: true, actions: [{ type: "drop" }] }));
    const afterWrite = dynamo.writeGeneration();
    await cli.setRuleEnabled("a@test.example.com", false, "2026-12-01T10:00:00.000Z");
    const afterUpdate = dynamo.writeGeneration();
    cli.client.destroy();

    // Assess
    expect(afterReads).toBe(before);
    expect(afterWrite).toBe(before + 2);
    expect(afterUpdate).toBe(before + 4);
  });

  it("reads every rule with one scan for the router's cache, a rule stored without entity_type too", async () => {
    // Prepare
    const codec = createRuleCodec();
    await dynamo.rules.putRuleItem(codec.toItem({ pattern: "a@test.example.com", enabled: true, actions: [{ type: "drop" }] }));
    await dynamo.client.send(
      new PutItemCommand({
        TableName: dynamo.tableName,
        Item: marshall({ PK: "ROUTE#old@test.example.com", SK: "RULE#v1", enabled: true, actions: [{ type: "drop" }] }),
      }),
    );
    await dynamo.client.send(new PutItemCommand({ TableName: dynamo.tableName, Item: marshall({ PK: "BOUNCE#x", SK: "THROTTLE#v1" }) }));

    // Act
    const rules = await dynamo.scanRuleItems();

    // Assess
    expect(rules.map((item) => item.PK).sort()).toEqual(["ROUTE#a@test.example.com", "ROUTE#old@test.example.com"]);
  });

  it("says clearly when the port is taken", async () => {
    // Prepare
    const port = Number(new URL(dynamo.endpoint).port);

    // Act / Assess
    await expect(startLocalDynamoDb({ dir: path.join(dir, "other"), host: "127.0.0.1", port })).rejects.toThrow(/port \d+ is in use/);
  });
});

describe("local DynamoDB on a full disk", () => {
  let disk: SmallFilesystem;
  let full: LocalDynamoDb | undefined;
  beforeEach(() => {
    disk = mountSmallFilesystem(8 * 1024 * 1024);
  });
  afterEach(async () => {
    await full?.close();
    full = undefined;
    disk.remove();
  });

  /** Resolves with the next status that matches `available`. */
  function nextStatus(store: LocalDynamoDb, available: boolean): Promise<DynamoDbStatus> {
    return new Promise((resolve) => store.onStatusChange((status) => status.available === available && resolve(status)));
  }

  it("keeps running when LevelDB cannot write, refuses meanwhile, and is back with every acknowledged write once space returns", async () => {
    // Prepare
    const lines: string[] = [];
    const store = (full = await startLocalDynamoDb({
      dir: path.join(disk.dir, "dynamodb"),
      host: "127.0.0.1",
      port: 0,
      note: (line) => lines.push(line),
    }));
    const put = (pk: string) =>
      store.client.send(new PutItemCommand({ TableName: store.tableName, Item: marshall({ PK: pk, SK: "X", data: "x".repeat(2000) }) }));
    const exists = async (pk: string) =>
      (await store.client.send(new GetItemCommand({ TableName: store.tableName, Key: marshall({ PK: pk, SK: "X" }) }))).Item !== undefined;
    await put("BEFORE");
    const failed = nextStatus(store, false);
    disk.fill();

    // Act: LevelDB's log takes writes until its last page is full, then a write fails for real.
    const acknowledged: string[] = [];
    let refusal: unknown;
    for (let i = 0; i < 200 && refusal === undefined; i++) {
      await put(`FULL#${i}`).then(
        () => acknowledged.push(`FULL#${i}`),
        (error: unknown) => (refusal = error),
      );
    }
    const outage = await failed;
    const during = await put("DURING").then(
      () => "acknowledged",
      () => "refused",
    );
    const back = nextStatus(store, true);
    disk.free();
    await back;
    await put("AFTER");

    // Assess
    expect(refusal).toBeInstanceOf(Error);
    expect(outage).toEqual({ available: false, reason: expect.stringMatching(/No space left on device/) });
    expect(during).toBe("refused");
    for (const pk of ["BEFORE", ...acknowledged, "AFTER"]) expect({ pk, stored: await exists(pk) }).toEqual({ pk, stored: true });
    expect(lines).toEqual([
      expect.stringMatching(
        /^DynamoDB store failed \(IO error: .*No space left on device\); restarting it until it can open its database$/,
      ),
      `DynamoDB store is back (${path.join(disk.dir, "dynamodb")})`,
    ]);
  });
});
