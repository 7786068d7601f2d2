/**
 * A real DynamoDB-protocol server (dynalite, in memory) started inside the test, and a routing table
 * on it created from the same definition local mode uses.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { AddressInfo } from "node:net";
import { ensureRoutingTable } from "../../adapters/aws/routing-table";

export interface LocalDynamo {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  /** Creates a fresh routing table with a unique name and returns the name. */
  createRoutingTable(prefix?: string): Promise<string>;
  close(): Promise<void>;
}

let tableCounter = 0;

export async function startDynalite(): Promise<LocalDynamo> {
  // dynalite has no type declarations; its factory returns a node http.Server.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require("dynalite") as (options: {
    createTableMs: number;
    deleteTableMs: number;
    updateTableMs: number;
  }) => import("node:http").Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: "eu-west-2",
    credentials: { accessKeyId: "AKIDTESTTESTTESTTEST", secretAccessKey: "test" },
  });
  return {
    endpoint,
    client,
    async createRoutingTable(prefix = "ses-mail-routing-test") {
      const name = `${prefix}-${process.pid}-${++tableCounter}`;
      await ensureRoutingTable(client, name);
      return name;
    },
    async close() {
      client.destroy();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
