/**
 * Local mode's DynamoDB: dynalite (the DynamoDB wire protocol over LevelDB) on `--dynamodb-port`, stored
 * under `DATA_DIR/dynamodb`, holding the routing table `ses-mail-email-routing-local`, in a worker thread. Because it
 * speaks the real protocol, the AWS rule store runs against it unchanged and `ses-mail rules … --local`
 * works while local mode runs. The router reads the rules from a cache (adapters/local/cached-rules.ts)
 * that this worker keeps honest: it bumps a shared write generation around every write it serves. The
 * forwarder's and the bouncer's own state is not kept here (adapters/local/delivery-state.ts).
 *
 * dynalite lacks TTL, Streams and transactions. TTL: the sweeper below deletes items whose
 * `expires_at` has passed, once at start and every TTL_SWEEP_INTERVAL_MS. Streams only drive the SMTP
 * credential manager (IAM users), which has no local meaning, so nothing replaces them. Transactions are
 * not used by anything local mode runs.
 */
import { DeleteItemCommand, DynamoDBClient, paginateScan } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
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
import { errorMessage } from "../core/errors";
import type { StoredItem } from "../core/ports";
import { createRuleCodec, declaredRuleItem } from "../core/rules";
import {
  LOCAL_ENVIRONMENT,
  MANAGED_BY_ATTRIBUTE,
  PARTITION_KEY,
  ROUTE_KEY_PREFIX,
  RuleManager,
  routingTableName,
  SORT_KEY,
  TTL_ATTRIBUTE,
} from "../core/table";
import { DYNAMODB_RESTART_DELAY_MS, DYNAMODB_RESTART_MAX_DELAY_MS, TTL_SWEEP_INTERVAL_MS } from "./limits";

export interface LocalDynamoDb {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly tableName: string;
  readonly rules: DynamoDbRuleStore;
  /** Changes whenever the table may have changed: around every write dynalite serves, and when it restarts. */
  writeGeneration(): number;
  /** Every rule item, read with one Scan (for the router's cache: also rules stored without `entity_type`). */
  scanRuleItems(): Promise<StoredItem[]>;
  /** Whether it can serve requests now (it is restarted after a failure, such as a full disk). */
  status(): DynamoDbStatus;
  onStatusChange(listener: (status: DynamoDbStatus) => void): void;
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
 *
 * dynalite throws a LevelDB error (a full disk: "IO error: …: No space left on device") from inside
 * its request handling, where nothing catches it. Here it is caught: the request it belongs to is
 * answered 500, and so is every request not yet answered (a write LevelDB took after a failed one
 * could be lost when the log is read back, so it must not be acknowledged); the worker then tells the
 * main thread, which ends it and starts a new one over the same directory once it can open it.
 */
const DYNALITE_WORKER = `
const http = require("node:http");
const { AsyncLocalStorage } = require("node:async_hooks");
const { parentPort, workerData } = require("node:worker_threads");
const dynalite = require(workerData.dynalitePath);
const server = dynalite({ path: workerData.dir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
const handle = server.listeners("request")[0];
const current = new AsyncLocalStorage();
// Bumped before a write is applied and again before it is answered (adapters/local/cached-rules.ts).
const writeGeneration = new Int32Array(workerData.writeGeneration);
const READS = new Set(${JSON.stringify(["GetItem", "BatchGetItem", "Query", "Scan", "DescribeTable", "ListTables", "DescribeTimeToLive", "ListTagsOfResource", "DescribeLimits", "DescribeEndpoints", "TransactGetItems"])});
let failure;
const unavailable = (res, end) => {
  const body = JSON.stringify({ __type: "com.amazonaws.dynamodb.v20120810#InternalServerError", message: "local DynamoDB storage failed: " + failure });
  res.statusCode = 500;
  res.removeHeader("x-amz-crc32");
  res.setHeader("Content-Type", "application/x-amz-json-1.0");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  end.call(res, body);
};
const serve = (req, res) => {
  const end = res.end;
  const write = !READS.has(String(req.headers["x-amz-target"] || "").split(".").pop());
  if (write) Atomics.add(writeGeneration, 0, 1);
  res.end = function (...args) {
    if (write) Atomics.add(writeGeneration, 0, 1);
    if (failure === undefined) return end.apply(this, args);
    if (!res.headersSent) unavailable(res, end);
    else end.call(res);
    return res;
  };
  if (failure !== undefined) return res.end();
  current.run(res, () => handle(req, res));
};
process.on("uncaughtException", (error) => {
  if (failure === undefined) {
    failure = (error && error.message) || String(error);
    parentPort.postMessage({ type: "failed", code: error && error.code, message: failure });
  }
  const res = current.getStore();
  if (res && !res.writableEnded) res.end();
});
const local = http.createServer(serve);
server.removeAllListeners("request");
server.on("request", serve);
const fail = (error) => parentPort.postMessage({ type: "error", code: error.code, message: error.message });
server.once("error", fail);
local.once("error", fail);
try { require("node:fs").unlinkSync(workerData.socketPath); } catch {}
// Listening is not enough: LevelDB opens in the background, and may fail to (a full disk). A first
// request through the socket proves it is open before the main thread is told so.
const probe = () => {
  const request = http.request(
    {
      socketPath: workerData.socketPath,
      method: "POST",
      path: "/",
      headers: {
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": "DynamoDB_20120810.ListTables",
        "x-amz-date": "20260101T000000Z",
        authorization: "AWS4-HMAC-SHA256 Credential=local/20260101/local/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
      },
    },
    (response) => {
      response.resume();
      response.on("end", () => {
        if (failure !== undefined) return;
        if (response.statusCode === 200) parentPort.postMessage({ type: "listening", port: server.address().port });
        else parentPort.postMessage({ type: "error", message: "the database did not open (HTTP " + response.statusCode + ")" });
      });
    },
  );
  request.on("error", fail);
  request.end("{}");
};
server.listen(workerData.port, workerData.host, () => local.listen(workerData.socketPath, probe));
parentPort.on("message", (message) => {
  if (message === "close") {
    local.close(() => {
      try { require("node:fs").unlinkSync(workerData.socketPath); } catch {}
      server.close(() => parentPort.postMessage({ type: "closed" }));
    });
  }
});
`;

type WorkerMessage =
  | { type: "listening"; port: number }
  | { type: "error"; code?: string; message: string }
  | { type: "failed"; code?: string; message: string }
  | { type: "closed" };

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
      if (typeof error === "object" && error !== null && "code" in error && error.code === "ESRCH")
        fs.rmSync(path.join(os.tmpdir(), name), { force: true });
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

/** Whether the DynamoDB endpoint can serve requests now, and why not. */
export type DynamoDbStatus = { readonly available: true } | { readonly available: false; readonly reason: string };

/** Starts one dynalite worker; resolves once it listens, with the port it listens on. */
function startWorker(options: {
  dir: string;
  host: string;
  port: number;
  socketPath: string;
  writeGeneration: SharedArrayBuffer;
}): Promise<{ worker: Worker; port: number }> {
  const worker = new Worker(DYNALITE_WORKER, {
    eval: true,
    workerData: { ...options, dynalitePath: require.resolve("dynalite") },
  });
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      void worker.terminate();
      reject(error);
    };
    const onExit = (code: number) => reject(new Error(`the DynamoDB worker exited with code ${code}`));
    worker.once("error", onError);
    worker.once("exit", onExit);
    worker.once("message", (message: WorkerMessage) => {
      worker.off("error", onError);
      worker.off("exit", onExit);
      if (message.type !== "listening") {
        // Its error event may still come: the worker is going away anyway.
        worker.on("error", () => undefined);
        void worker.terminate();
        reject(
          Object.assign(new Error(message.type === "error" || message.type === "failed" ? message.message : "unexpected"), {
            code: "code" in message ? message.code : undefined,
          }),
        );
        return;
      }
      resolve({ worker, port: message.port });
    });
  });
}

/**
 * Keeps a dynalite worker running: when it fails (LevelDB could not write, or anything else it did
 * not catch), the worker is ended and a new one started over the same directory, on the same port
 * and socket, every DYNAMODB_RESTART_DELAY_MS (doubling up to DYNAMODB_RESTART_MAX_DELAY_MS) until
 * it can open the database again: a full disk makes DynamoDB unavailable for a while, never the process end.
 */
class DynaliteSupervisor {
  private worker: Worker | undefined;
  private state: DynamoDbStatus = { available: false, reason: "starting" };
  private readonly listeners: Array<(status: DynamoDbStatus) => void> = [];
  private restartTimer: NodeJS.Timeout | undefined;
  private restarting: Promise<void> | undefined;
  private closed = false;
  port = 0;

  constructor(
    private readonly options: { dir: string; host: string; port: number; socketPath: string; writeGeneration: SharedArrayBuffer },
    private readonly note: (line: string) => void,
  ) {}

  status(): DynamoDbStatus {
    return this.state;
  }

  onStatusChange(listener: (status: DynamoDbStatus) => void): void {
    this.listeners.push(listener);
  }

  async start(): Promise<void> {
    const { worker, port } = await startWorker(this.options);
    this.port = port;
    this.adopt(worker);
  }

  private setState(state: DynamoDbStatus): void {
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }

  private adopt(worker: Worker): void {
    this.worker = worker;
    // A new worker over the same database: whatever a cache of it holds is read again.
    Atomics.add(new Int32Array(this.options.writeGeneration), 0, 1);
    this.setState({ available: true });
    const failed = (reason: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.setState({ available: false, reason });
      this.note(`DynamoDB store failed (${reason}); restarting it until it can open its database`);
      void worker.terminate().then(() => this.scheduleRestart(DYNAMODB_RESTART_DELAY_MS));
    };
    worker.on("message", (message: WorkerMessage) => {
      if (message.type === "failed") failed(message.message);
    });
    worker.on("error", (error) => failed(error.message));
    worker.on("exit", (code) => failed(`the worker exited with code ${code}`));
  }

  private scheduleRestart(delayMs: number): void {
    if (this.closed) return;
    this.restartTimer = setTimeout(() => {
      this.restarting = startWorker({ ...this.options, port: this.port }).then(
        ({ worker }) => {
          this.restarting = undefined;
          if (this.closed) {
            void worker.terminate();
            return;
          }
          this.adopt(worker);
          this.note(`DynamoDB store is back (${this.options.dir})`);
        },
        () => {
          this.restarting = undefined;
          this.scheduleRestart(Math.min(delayMs * 2, DYNAMODB_RESTART_MAX_DELAY_MS));
        },
      );
    }, delayMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    await this.restarting;
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    await new Promise<void>((done) => {
      worker.once("exit", () => done());
      worker.once("message", () => void worker.terminate());
      worker.postMessage("close");
    });
  }
}

/**
 * Starts dynalite on `host:port` (0 picks a free port) over `dir`, and creates the routing table.
 * `note` receives a line when the store fails and when it is back.
 */
export async function startLocalDynamoDb(options: {
  dir: string;
  host: string;
  port: number;
  note?: (line: string) => void;
}): Promise<LocalDynamoDb> {
  await fs.promises.mkdir(options.dir, { recursive: true });
  removeStaleSockets();
  const socketPath = localSocketPath();
  const writeGeneration = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  const server = new DynaliteSupervisor(
    { dir: options.dir, host: options.host, port: options.port, socketPath, writeGeneration },
    options.note ?? (() => undefined),
  );
  try {
    await server.start();
  } catch (error) {
    const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
    throw new LocalStartError(
      code === "EADDRINUSE"
        ? `port ${options.port} is in use: is local mode already running? (choose another with --dynamodb-port)`
        : `cannot start the DynamoDB endpoint: ${errorMessage(error)}`,
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
    requestHandler: { httpAgent: new SocketPathAgent(socketPath) },
    // dynalite checks only that a SigV4-shaped header is present, never the signature: a fixed
    // header saves the signing work on every request (measured: about 3 ms of CPU per message).
    signer: {
      sign: async (request) => {
        request.headers["x-amz-date"] = "20260101T000000Z";
        request.headers.authorization =
          "AWS4-HMAC-SHA256 Credential=local/20260101/local/dynamodb/aws4_request, SignedHeaders=host, Signature=0";
        return request;
      },
    },
  });
  const tableName = routingTableName(LOCAL_ENVIRONMENT);
  const generation = new Int32Array(writeGeneration);
  const close = async () => {
    client.destroy();
    await server.close();
  };
  try {
    await ensureRoutingTable(client, tableName);
  } catch (error) {
    await close();
    throw new LocalStartError(
      `cannot open the routing table under ${options.dir} (is another local mode using this data directory?): ${errorMessage(error)}`,
      { cause: error },
    );
  }
  return {
    endpoint,
    client,
    tableName,
    rules: new DynamoDbRuleStore({ tableName, client }),
    writeGeneration: () => Atomics.load(generation, 0),
    scanRuleItems: () => scanRuleItems(client, tableName),
    status: () => server.status(),
    onStatusChange: (listener) => server.onStatusChange(listener),
    close,
  };
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

/** Every rule item of the table (`PK` beginning with ROUTE_KEY_PREFIX), unmarshalled. */
export async function scanRuleItems(client: DynamoDBClient, tableName: string): Promise<StoredItem[]> {
  const items: StoredItem[] = [];
  const pages = paginateScan(
    { client },
    {
      TableName: tableName,
      FilterExpression: "begins_with(#pk, :prefix)",
      ExpressionAttributeNames: { "#pk": PARTITION_KEY },
      ExpressionAttributeValues: { ":prefix": { S: ROUTE_KEY_PREFIX } },
      ConsistentRead: true,
    },
  );
  for await (const page of pages) for (const raw of page.Items ?? []) items.push(unmarshall(raw));
  return items;
}

/** Deletes every item whose TTL attribute is in the past; returns how many. */
export async function sweepExpiredItems(client: DynamoDBClient, tableName: string, now: Date = new Date()): Promise<number> {
  let deleted = 0;
  const pages = paginateScan(
    { client },
    {
      TableName: tableName,
      FilterExpression: "#ttl < :now",
      ProjectionExpression: "#pk, #sk",
      ExpressionAttributeNames: { "#ttl": TTL_ATTRIBUTE, "#pk": PARTITION_KEY, "#sk": SORT_KEY },
      ExpressionAttributeValues: { ":now": { N: String(Math.floor(now.getTime() / 1000)) } },
    },
  );
  for await (const page of pages) {
    for (const key of page.Items ?? []) {
      await client
        .send(
          new DeleteItemCommand({
            TableName: tableName,
            Key: key,
            // Only if it is still expired: a writer may have renewed it since the scan.
            ConditionExpression: "#ttl < :now",
            ExpressionAttributeNames: { "#ttl": TTL_ATTRIBUTE },
            ExpressionAttributeValues: { ":now": { N: String(Math.floor(now.getTime() / 1000)) } },
          }),
        )
        .then(
          () => deleted++,
          (error: unknown) => {
            if (!(error instanceof Error && error.name === "ConditionalCheckFailedException")) throw error;
          },
        );
    }
  }
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
