/**
 * Local mode's DynamoDB: dynalite (the DynamoDB wire protocol over LevelDB) on `--dynamodb-port`, stored
 * under `DATA_DIR/dynamodb`, holding the routing table `ses-mail-email-routing-local`. Because it speaks
 * the real protocol, the AWS adapters run against it unchanged and `ses-mail rules … --local` works
 * while local mode runs.
 *
 * dynalite lacks TTL, Streams and transactions. TTL: the sweeper below deletes items whose
 * `expires_at` has passed, once at start and every TTL_SWEEP_INTERVAL_MS. Streams only drive the SMTP
 * credential manager (IAM users), which has no local meaning, so nothing replaces them. Transactions are
 * not used by anything local mode runs.
 */
import { DeleteItemCommand, DynamoDBClient, ScanCommand, type AttributeValue } from "@aws-sdk/client-dynamodb";
import * as fs from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DynamoDbRuleStore } from "../adapters/aws/dynamodb-rules";
import { ensureRoutingTable } from "../adapters/aws/routing-table";
import { MANAGED_BY_ATTRIBUTE } from "../cli/rules";
import type { DeclaredRoute } from "../config/schema";
import { createRuleCodec } from "../core/rules";
import { LOCAL_ENVIRONMENT, PARTITION_KEY, ROUTE_KEY_PREFIX, routingTableName, SORT_KEY, TTL_ATTRIBUTE } from "../core/table";
import { TTL_SWEEP_INTERVAL_MS } from "./limits";

/** What `managed_by` says on the rules local mode loads from the stack config (Pulumi writes `pulumi`). */
export const LOCAL_CONFIG_MANAGER = "local-config";

export interface LocalDynamoDb {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly rules: DynamoDbRuleStore;
  close(): Promise<void>;
}

export class LocalStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LocalStartError";
  }
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Starts dynalite on `host:port` (0 picks a free port) over `dir`, and creates the routing table. */
export async function startLocalDynamoDb(options: { dir: string; host: string; port: number }): Promise<LocalDynamoDb> {
  await fs.promises.mkdir(options.dir, { recursive: true });
  // dynalite ships no type declarations; its factory returns a node http.Server.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require("dynalite") as (options: { path: string; createTableMs: number; deleteTableMs: number; updateTableMs: number }) => Server;
  const server = dynalite({ path: options.dir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  let port: number;
  try {
    port = await listen(server, options.host, options.port);
  } catch (error) {
    const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
    throw new LocalStartError(
      code === "EADDRINUSE"
        ? `port ${options.port} is in use: is local mode already running? (choose another with --dynamodb-port)`
        : `cannot start the DynamoDB endpoint: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const endpoint = `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_ENVIRONMENT,
    // dynalite ignores credentials, but the SDK insists on having some.
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 2,
  });
  const tableName = routingTableName(LOCAL_ENVIRONMENT);
  const close = async () => {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  try {
    await ensureRoutingTable(client, tableName);
  } catch (error) {
    await close();
    throw new LocalStartError(
      `cannot open the routing table under ${options.dir} (is another local mode using this data directory?): ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return { endpoint, client, tableName, rules: new DynamoDbRuleStore({ tableName, client }), close };
}

/**
 * Writes the stack config's declared routes as rules (marked `managed_by: local-config`) and deletes the
 * rules an earlier start loaded that the config no longer declares. Rules added with the CLI are kept.
 */
export async function loadDeclaredRoutes(
  store: DynamoDbRuleStore,
  routes: readonly DeclaredRoute[],
  now: Date = new Date(),
): Promise<{ loaded: number; removed: number }> {
  const codec = createRuleCodec();
  const declared = new Set(routes.map((route) => route.recipient));
  let removed = 0;
  for (const item of await store.listRuleItems()) {
    const pattern = String(item.PK).slice(ROUTE_KEY_PREFIX.length);
    if (item[MANAGED_BY_ATTRIBUTE] === LOCAL_CONFIG_MANAGER && !declared.has(pattern)) {
      await store.deleteRuleItem(pattern);
      removed++;
    }
  }
  const stamp = now.toISOString();
  for (const route of routes) {
    const existing = await store.getRuleItem(route.recipient);
    const item = codec.toItem({
      pattern: route.recipient,
      enabled: route.enabled,
      actions: route.actions,
      ...(route.description !== undefined ? { description: route.description } : {}),
      createdAt: typeof existing?.created_at === "string" ? existing.created_at : stamp,
      updatedAt: stamp,
    });
    await store.putRuleItem({ ...item, [MANAGED_BY_ATTRIBUTE]: LOCAL_CONFIG_MANAGER });
  }
  return { loaded: routes.length, removed };
}

/** Deletes every item whose TTL attribute is in the past; returns how many. */
export async function sweepExpiredItems(client: DynamoDBClient, tableName: string, now: Date = new Date()): Promise<number> {
  let deleted = 0;
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const exclusiveStartKey = startKey;
    const page = await client.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: "#ttl < :now",
        ProjectionExpression: "#pk, #sk",
        ExpressionAttributeNames: { "#ttl": TTL_ATTRIBUTE, "#pk": PARTITION_KEY, "#sk": SORT_KEY },
        ExpressionAttributeValues: { ":now": { N: String(Math.floor(now.getTime() / 1000)) } },
        ...(exclusiveStartKey ? { ExclusiveStartKey: exclusiveStartKey } : {}),
      }),
    );
    for (const key of page.Items ?? []) {
      await client.send(
        new DeleteItemCommand({
          TableName: tableName,
          Key: key,
          // Only if it is still expired: a writer may have renewed it since the scan.
          ConditionExpression: "#ttl < :now",
          ExpressionAttributeNames: { "#ttl": TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ":now": { N: String(Math.floor(now.getTime() / 1000)) } },
        }),
      ).then(
        () => deleted++,
        (error: unknown) => {
          if (!(error instanceof Error && error.name === "ConditionalCheckFailedException")) throw error;
        },
      );
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return deleted;
}

/** Runs sweepExpiredItems now and every interval; `stop` waits for a sweep in progress. */
export function startTtlSweeper(
  client: DynamoDBClient,
  tableName: string,
  options: { intervalMs?: number; onError?: (error: unknown) => void } = {},
): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const sweep = () => {
    running = sweepExpiredItems(client, tableName).catch((error: unknown) => options.onError?.(error));
  };
  sweep();
  const timer = setInterval(sweep, options.intervalMs ?? TTL_SWEEP_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
