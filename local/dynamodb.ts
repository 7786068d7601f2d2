/**
 * Local mode's DynamoDB: dynalite (the DynamoDB wire protocol over LevelDB) on `--dynamodb-port`, stored
 * under `DATA_DIR/dynamodb`, holding the routing table `ses-mail-email-routing-local`, in a worker thread. Because it speaks
 * the real protocol, the AWS adapters run against it unchanged and `ses-mail rules … --local` works
 * while local mode runs.
 *
 * dynalite lacks TTL, Streams and transactions. TTL: the sweeper below deletes items whose
 * `expires_at` has passed, once at start and every TTL_SWEEP_INTERVAL_MS. Streams only drive the SMTP
 * credential manager (IAM users), which has no local meaning, so nothing replaces them. Transactions are
 * not used by anything local mode runs.
 */
import { DeleteItemCommand, DynamoDBClient, ScanCommand, type AttributeValue } from "@aws-sdk/client-dynamodb";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { DynamoDbRuleStore } from "../adapters/aws/dynamodb-rules";
import { ensureRoutingTable } from "../adapters/aws/routing-table";
import type { DeclaredRoute } from "../config/schema";
import { createRuleCodec, declaredRuleItem } from "../core/rules";
import { LOCAL_ENVIRONMENT, MANAGED_BY_ATTRIBUTE, PARTITION_KEY, ROUTE_KEY_PREFIX, RuleManager, routingTableName, SORT_KEY, TTL_ATTRIBUTE } from "../core/table";
import { TTL_SWEEP_INTERVAL_MS } from "./limits";

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

/**
 * The dynalite server runs in a worker thread: its request handling and LevelDB work then use another
 * core instead of competing with SMTP and the handlers on the main thread. Plain JavaScript, so the
 * worker needs no TypeScript loader.
 */
const DYNALITE_WORKER = `
const http = require("node:http");
const { parentPort, workerData } = require("node:worker_threads");
const dynalite = require(workerData.dynalitePath);
const server = dynalite({ path: workerData.dir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
const local = http.createServer(server.listeners("request")[0]);
const fail = (error) => parentPort.postMessage({ type: "error", code: error.code, message: error.message });
server.once("error", fail);
local.once("error", fail);
server.listen(workerData.port, workerData.host, () =>
  local.listen(workerData.socketPath, () => parentPort.postMessage({ type: "listening", port: server.address().port })),
);
parentPort.on("message", (message) => {
  if (message === "close") {
    local.close(() => {
      try { require("node:fs").unlinkSync(workerData.socketPath); } catch {}
      server.close(() => parentPort.postMessage({ type: "closed" }));
    });
  }
});
`;

type WorkerMessage = { type: "listening"; port: number } | { type: "error"; code?: string; message: string } | { type: "closed" };

/**
 * Where local mode's own client reaches dynalite: a Unix socket (a named pipe on Windows). The TCP port
 * stays for `ses-mail rules --local`; the socket skips the TCP stack on every request, a third less CPU
 * per request measured here.
 */
function localSocketPath(): string {
  const name = `ses-mail-${process.pid}-${randomBytes(4).toString("hex")}`;
  return process.platform === "win32" ? `\\\\.\\pipe\\${name}` : path.join(os.tmpdir(), `${name}.sock`);
}

/** Removes sockets that runs killed before they could clean up (their process is gone). */
function removeStaleSockets(): void {
  if (process.platform === "win32") return;
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = /^ses-mail-(\d+)-[0-9a-f]{8}\.sock$/.exec(name)?.[1];
    if (!pid || Number(pid) === process.pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch (error) {
      if (typeof error === "object" && error !== null && "code" in error && error.code === "ESRCH") fs.rmSync(path.join(os.tmpdir(), name), { force: true });
    }
  }
}

/** An HTTP agent whose connections go to a Unix socket or named pipe, whatever host the URL names. */
class SocketPathAgent extends http.Agent {
  constructor(private readonly socketPath: string) {
    super({ keepAlive: true, maxSockets: 50 });
  }

  override createConnection(): net.Socket {
    return net.createConnection(this.socketPath);
  }
}

/** Starts dynalite in a worker; resolves with its port, the local socket and a close function. */
function startDynaliteWorker(options: { dir: string; host: string; port: number }): Promise<{ port: number; socketPath: string; close(): Promise<void> }> {
  removeStaleSockets();
  const socketPath = localSocketPath();
  const worker = new Worker(DYNALITE_WORKER, {
    eval: true,
    workerData: { ...options, socketPath, dynalitePath: require.resolve("dynalite") },
  });
  return new Promise((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`the DynamoDB worker exited with code ${code}`));
    worker.once("error", reject);
    worker.once("exit", onExit);
    worker.once("message", (message: WorkerMessage) => {
      if (message.type !== "listening") {
        void worker.terminate();
        reject(Object.assign(new Error(message.type === "error" ? message.message : "unexpected"), { code: message.type === "error" ? message.code : undefined }));
        return;
      }
      worker.off("error", reject);
      worker.off("exit", onExit);
      const close = () =>
        new Promise<void>((done) => {
          worker.once("exit", () => done());
          worker.once("message", () => void worker.terminate());
          worker.postMessage("close");
        });
      resolve({ port: message.port, socketPath, close });
    });
  });
}

/** Starts dynalite on `host:port` (0 picks a free port) over `dir`, and creates the routing table. */
export async function startLocalDynamoDb(options: { dir: string; host: string; port: number }): Promise<LocalDynamoDb> {
  await fs.promises.mkdir(options.dir, { recursive: true });
  let server: { port: number; socketPath: string; close(): Promise<void> };
  try {
    server = await startDynaliteWorker(options);
  } catch (error) {
    const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
    throw new LocalStartError(
      code === "EADDRINUSE"
        ? `port ${options.port} is in use: is local mode already running? (choose another with --dynamodb-port)`
        : `cannot start the DynamoDB endpoint: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  const port = server.port;
  const endpoint = `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_ENVIRONMENT,
    // dynalite ignores credentials, but the SDK insists on having some.
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 2,
    requestHandler: { httpAgent: new SocketPathAgent(server.socketPath) },
    // dynalite checks only that a SigV4-shaped header is present, never the signature: a fixed
    // header saves the signing work on every request (measured: about 3 ms of CPU per message).
    signer: {
      sign: async (request) => {
        request.headers["x-amz-date"] = "20260101T000000Z";
        request.headers.authorization = "AWS4-HMAC-SHA256 Credential=local/20260101/local/dynamodb/aws4_request, SignedHeaders=host, Signature=0";
        return request;
      },
    },
  });
  const tableName = routingTableName(LOCAL_ENVIRONMENT);
  const close = async () => {
    client.destroy();
    await server.close();
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
    if (item[MANAGED_BY_ATTRIBUTE] === RuleManager.LocalConfig && !declared.has(pattern)) {
      await store.deleteRuleItem(pattern);
      removed++;
    }
  }
  const stamp = now.toISOString();
  for (const route of routes) {
    const existing = await store.getRuleItem(route.recipient);
    const createdAt = typeof existing?.created_at === "string" ? existing.created_at : stamp;
    await store.putRuleItem(declaredRuleItem(codec, route, RuleManager.LocalConfig, { createdAt, updatedAt: stamp }));
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
