/**
 * Router lookup: DynamoDB round trips per message and router latency against dynalite, for 1, 5
 * and 30 recipients, side by side with the seed's strategy (up to four sequential GetItem calls
 * per recipient, stopping at the first hit). Recipients are tagged addresses routed by a domain
 * rule, the seed's common case: three GetItems each.
 */
import { DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";
import type { AddressInfo } from "node:net";
import { DynamoDbRuleStore } from "../../adapters/aws/dynamodb-rules";
import { ensureRoutingTable } from "../../adapters/aws/routing-table";
import { createNotificationParser } from "../../core/notification";
import type { StoredItem } from "../../core/ports";
import { decide, lookupSteps, parseRecipients, ruleLookupFromItems } from "../../core/routing";
import { createRuleCodec, routeKey } from "../../core/rules";
import { DEFAULT_VERDICT_POLICY } from "../../core/verdicts";
import { createObservability } from "../../handlers/observability";
import { createRouter } from "../../handlers/router";
import { markdownTable, quantile, type BenchSuite } from "../suite";

const RECIPIENT_COUNTS = [1, 5, 30] as const;
/** Messages routed per case after warm-up; enough for a stable p99 on this 2-core machine. */
const ITERATIONS = 300;
const WARMUP = 30;
const TABLE = "ses-mail-email-routing-bench";

function notification(recipients: number, id: number): string {
  return JSON.stringify({
    notificationType: "Received",
    mail: {
      messageId: `bench-${id}`,
      source: "sender@sender.example",
      timestamp: new Date().toISOString(),
      commonHeaders: { subject: "bench" },
    },
    receipt: {
      recipients: Array.from({ length: recipients }, (_, i) => `user${i}+tag${id % 7}@example.com`),
      spamVerdict: { status: "PASS" },
      virusVerdict: { status: "PASS" },
      action: { type: "S3", bucketName: "bench", objectKey: `emails/bench-${id}` },
    },
  });
}

export const suite: BenchSuite = {
  name: "routing",
  title: "Router: DynamoDB round trips and latency per message (dynalite)",
  async run(progress) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- dynalite ships no types
    const dynalite = require("dynalite") as (options: object) => import("node:http").Server;
    const server = dynalite({ createTableMs: 0 });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: "local",
      credentials: { accessKeyId: "bench", secretAccessKey: "bench" },
    });
    let roundTrips = 0;
    client.middlewareStack.add((next) => async (args) => (roundTrips++, next(args)), { step: "initialize", name: "countRoundTrips" });
    try {
      await ensureRoutingTable(client, TABLE);
      const codec = createRuleCodec();
      const store = new DynamoDbRuleStore({ tableName: TABLE, client });
      await store.putRuleItem(
        codec.toItem({ pattern: "*@example.com", enabled: true, actions: [{ type: "forward-to-gmail", target: "family@gmail.com" }] }),
      );
      await store.putRuleItem(
        codec.toItem({ pattern: "user0@example.com", enabled: true, actions: [{ type: "forward-to-gmail", target: "zero@gmail.com" }] }),
      );

      const settings = { defaultAction: "bounce" as const, verdictPolicy: DEFAULT_VERDICT_POLICY };
      const router = createRouter({ rules: store, settings, observability: createObservability("bench", { quiet: true }) });
      const parser = createNotificationParser();

      /** The seed's lookup: per recipient, GetItem exact → normalized → domain → global, first hit wins. */
      async function seedStrategy(body: string) {
        const message = parser.parse(body);
        const found = new Map<string, StoredItem>();
        for (const recipient of parseRecipients(message.recipients)) {
          for (const step of lookupSteps(recipient)) {
            const { Item } = await client.send(new GetItemCommand({ TableName: TABLE, Key: marshall(routeKey(step.pattern)) }));
            if (Item) {
              found.set(step.pattern, unmarshall(Item));
              break;
            }
          }
        }
        return decide(message, ruleLookupFromItems(found, codec), settings);
      }

      const strategies = {
        "one BatchGetItem (ses-mail)": (body: string) => router([{ messageId: "bench", body }]),
        "sequential GetItem (seed)": seedStrategy,
      } as const;

      const rows: Array<Array<string | number>> = [];
      const figures: Record<string, unknown> = {};
      for (const count of RECIPIENT_COUNTS) {
        const p50s: Record<string, number> = {};
        for (const [name, run] of Object.entries(strategies)) {
          progress(`${count} recipient(s), ${name}`);
          for (let i = 0; i < WARMUP; i++) await run(notification(count, i));
          const samples: number[] = [];
          roundTrips = 0;
          for (let i = 0; i < ITERATIONS; i++) {
            const body = notification(count, i);
            const start = process.hrtime.bigint();
            await run(body);
            samples.push(Number(process.hrtime.bigint() - start) / 1e6);
          }
          const perMessage = roundTrips / ITERATIONS;
          const p50 = quantile(samples, 0.5);
          const p99 = quantile(samples, 0.99);
          p50s[name] = p50;
          rows.push([count, name, perMessage.toFixed(2), p50.toFixed(2), p99.toFixed(2)]);
          figures[`${count}_recipients`] = {
            ...(figures[`${count}_recipients`] as object),
            [name.includes("seed") ? "seed" : "batch"]: { roundTripsPerMessage: perMessage, p50Ms: p50, p99Ms: p99 },
          };
        }
        const speedup = p50s["sequential GetItem (seed)"]! / p50s["one BatchGetItem (ses-mail)"]!;
        (figures[`${count}_recipients`] as Record<string, unknown>).p50Speedup = Number(speedup.toFixed(2));
        rows.push([count, "p50 speed-up", "", `${speedup.toFixed(1)}×`, ""]);
      }
      // The largest message that still needs one round trip: 100 keys / (3 keys per tagged recipient) + the shared `*`.
      const maxOneTrip = Math.floor((100 - 1) / 3);
      figures.maxRecipientsInOneRoundTrip = maxOneTrip;
      return {
        table: [
          ...markdownTable(["recipients", "strategy", "round trips/msg", "p50 ms", "p99 ms"], rows),
          "",
          `One round trip per message up to ${maxOneTrip} tagged recipients (100 keys per BatchGetItem). Target: 1 round trip up to 33; p50 ≥ 3× better than the seed at 5 recipients.`,
        ],
        figures,
      };
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  },
};
