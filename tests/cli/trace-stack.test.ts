/**
 * `ses-mail trace --stack` as a user calls it: the routing table is dynalite (reached through
 * AWS_ENDPOINT_URL_DYNAMODB, as an operator's environment would point the CLI at a stand-in), and the
 * services without a stand-in (SQS dead-letter queues, S3, CloudWatch Logs) are aws-sdk-client-mock.
 */
import { CloudWatchLogsClient, FilterLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { GetQueueAttributesCommand, GetQueueUrlCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { DynamoDbMessageProgress } from "../../adapters/aws/delivery-state";
import { ensureRoutingTable } from "../../adapters/aws/routing-table";
import { main } from "../../cli/main";
import { stackNames } from "../../components/naming";
import type { MessageFate } from "../../core/fate";
import type { Outcome } from "../../core/outcomes";
import { captureOutput } from "../helpers/cli";
import { decisionEvent } from "../helpers/delivery";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";
import { decisionDetail, importedOutcome } from "../helpers/factories";

const names = stackNames("test");
const BUCKET = "ses-mail-storage-123456789012-test";
const sqs = mockClient(SQSClient);
const s3 = mockClient(S3Client);
const logs = mockClient(CloudWatchLogsClient);

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startDynalite();
  await ensureRoutingTable(dynamo.client, names.table);
});
afterAll(async () => {
  await dynamo.close();
});
beforeEach(() => {
  sqs.reset();
  s3.reset();
  logs.reset();
  sqs
    .on(GetQueueUrlCommand)
    .callsFake((input: { QueueName: string }) => ({ QueueUrl: `https://sqs.eu-west-2.amazonaws.com/123456789012/${input.QueueName}` }));
  sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: "0" } });
  sqs.on(ReceiveMessageCommand).resolves({});
  s3.on(HeadObjectCommand).rejects(Object.assign(new Error("NotFound"), { name: "NotFound" }));
  logs.on(FilterLogEventsCommand).resolves({ events: [] });
});

async function cli(argv: string[]) {
  const out = captureOutput();
  const code = await main(argv, out, {
    PATH: process.env.PATH,
    AWS_ACCESS_KEY_ID: "AKIDTESTTESTTESTTEST",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
  });
  return { code, ...out };
}

describe("ses-mail trace --stack", () => {
  it("shows a forwarded message's decision, its import and the raw message deleted, from the stack's message record", async () => {
    // Prepare: what the forwarder records for an import
    const detail = decisionDetail(
      {
        "forward-to-gmail": [
          { recipient: "shop@example.com", target: "me@gmail.com", match: "exact", rule: "shop@example.com", labels: ["INBOX", "UNREAD"] },
        ],
      },
      { originalMessageId: "m-stack-1", s3: { bucket: BUCKET, key: "emails/m-stack-1" }, timestamp: "2026-11-28T10:00:00.000Z" },
    );
    const imported = importedOutcome("m-stack-1", { recipients: ["shop@example.com"] });
    const deleted: Outcome = { kind: "raw-message-deleted", messageId: "m-stack-1", at: "2026-11-28T10:00:04.000Z", location: detail.s3 };
    await new DynamoDbMessageProgress({ tableName: names.table, client: dynamo.client }).record("m-stack-1", {
      decision: detail,
      outcomes: [imported, deleted],
      partsDone: ["forward:me@gmail.com"],
    });

    // Act
    const text = await cli(["trace", "m-stack-1", "--stack", "test"]);
    const json = await cli(["trace", "m-stack-1", "--stack", "test", "--json"]);

    // Assess
    expect(text.stderr).toEqual([]);
    expect(text.code).toBe(0);
    expect(text.stdout.join("\n")).toMatch(/rule shop@example.com \(exact\)/);
    expect(text.stdout.join("\n")).toMatch(/in me@gmail.com: 18c1f0a \(INBOX, UNREAD\)/);
    expect(text.stdout.join("\n")).toMatch(/raw message deleted/);
    expect(json.code).toBe(0);
    const [fate] = json.jsonValues as [MessageFate];
    expect(fate.places).toContainEqual({ kind: "mailbox", account: "me@gmail.com", mailboxId: "18c1f0a", labels: ["INBOX", "UNREAD"] });
  });

  it("finds a stored message's decision in the decision log by recipient, and says how to see it in full", async () => {
    // Prepare: no handler saw a stored message; the bus logged its decision
    const detail = decisionDetail(
      { store: [{ recipient: "archive@example.com", match: "exact", rule: "archive@example.com" }] },
      {
        originalMessageId: "m-stack-stored",
        s3: { bucket: BUCKET, key: "emails/m-stack-stored" },
        timestamp: new Date(Date.now() - 3_600_000).toISOString(),
      },
    );
    logs
      .on(FilterLogEventsCommand, { logGroupName: names.busLogGroup })
      .resolves({ events: [{ timestamp: Date.parse(detail.timestamp), message: JSON.stringify(decisionEvent(detail)) }] });

    // Act
    const result = await cli(["trace", "--recipient", "archive@example.com", "--since", "2h", "--stack", "test"]);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout[0]).toMatch(/^1 message\(s\) to archive@example.com since /);
    expect(result.stdout.join("\n")).toMatch(/m-stack-stored .*stored/);
    expect(result.stdout.at(-1)).toBe("details: ses-mail trace MESSAGE_ID --stack test");
  });

  it("refuses --stack with --local: they look in different places", async () => {
    const result = await cli(["trace", "m-1", "--stack", "test", "--local"]);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe("ses-mail trace: --stack and --local look in different places: give one");
  });
});
