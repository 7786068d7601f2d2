import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand, type MetricDataQuery } from "@aws-sdk/client-cloudwatch";
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { GetParametersByPathCommand, SSMClient } from "@aws-sdk/client-ssm";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { mockClient } from "aws-sdk-client-mock";
import { LocalQueue } from "../../adapters/local/queue";
import { describeDeadLetter, summarizeDeadLetter } from "../../cli/dead-letters";
import { dlqCommands, type DlqDeps } from "../../cli/dlq";
import { runCli } from "../../cli/framework";
import { statusCommands } from "../../cli/status";
import { RETRY_MESSAGE_KIND } from "../../core/delivery";
import { memorySqs, type MemorySqs } from "../helpers/sqs-memory";
import { captureOutput } from "../helpers/cli";

const NOW = new Date("2026-11-28T10:00:00.000Z");
const QUEUES = [
  "ses-email-input-test",
  "ses-email-input-dlq-test",
  "ses-gmail-forwarder-test",
  "ses-gmail-forwarder-dlq-test",
  "ses-bouncer-test",
  "ses-bouncer-dlq-test",
  "ses-mail-gmail-forwarder-retry-test",
  "ses-mail-gmail-forwarder-retry-dlq-test",
  "ses-mail-event-routing-dlq-test",
  "ses-mail-credential-manager-dlq-test",
];

function decisionEvent(messageId: string, subject: string, target: string) {
  return JSON.stringify({
    version: "0",
    source: "ses.email.router",
    "detail-type": "Email Routing Decision",
    detail: {
      originalMessageId: messageId,
      source: "sender@example.net",
      subject,
      timestamp: NOW.toISOString(),
      s3: { bucket: "b", key: `emails/${messageId}` },
      verdicts: { spam: "PASS", virus: "PASS", spf: "PASS", dkim: "PASS", dmarc: "PASS", disposition: "deliver", reasons: [] },
      actions: {
        "forward-to-gmail": { count: 1, targets: [{ recipient: "alice@test.example.com", target, match: "exact" }] },
        bounce: { count: 0, targets: [] },
        store: { count: 0, targets: [] },
        drop: { count: 0, targets: [] },
      },
    },
  });
}

function retryMessage(messageId: string, target: string) {
  return JSON.stringify({
    kind: RETRY_MESSAGE_KIND,
    version: 1,
    target,
    attempt: 4,
    firstQueuedAt: "2026-11-20T10:00:00.000Z",
    lastQueuedAt: "2026-11-27T10:00:00.000Z",
    lastError: {
      code: "MAILBOX_AUTHORIZATION",
      message: "mailbox alice@gmail.com: the OAuth token endpoint refused the refresh token: 400 invalid_grant",
    },
    event: JSON.parse(decisionEvent(messageId, "Invoice", target)) as Record<string, unknown>,
  });
}

const cloudwatch = mockClient(CloudWatchClient);
const ssm = mockClient(SSMClient);
const sfn = mockClient(SFNClient);

describe("ses-mail dlq", () => {
  let sqs: MemorySqs;
  let answers: Array<boolean | undefined>;

  beforeEach(() => {
    sqs?.mock.restore();
    sqs = memorySqs(QUEUES);
    sfn.reset();
    answers = [];
  });
  afterAll(() => sqs.mock.restore());

  async function cli(argv: string[], deps: Partial<DlqDeps> = {}) {
    const out = captureOutput();
    const code = await runCli(dlqCommands({ now: () => NOW, confirm: async () => answers.shift(), ...deps }), argv, out, {
      PATH: process.env.PATH,
    });
    return { code, ...out };
  }

  it("shows a sample of a forwarder DLQ with where the failures are logged, and leaves the messages in place", async () => {
    for (let i = 1; i <= 7; i++)
      sqs.add("ses-gmail-forwarder-dlq-test", decisionEvent(`msg-${i}`, `Subject ${i}`, "alice@gmail.com"), {}, NOW.getTime() - 3600_000);

    const result = await cli(["dlq", "show", "--queue", "forwarder", "--stack", "test"]);

    expect(result.code).toBe(0);
    expect(result.stdout[0]).toBe("ses-gmail-forwarder-dlq-test: about 7 message(s); 5 of them:");
    expect(result.stdout[1]).toMatch(/^ {2}msg-1 from sender@example.net to alice@gmail.com: "Subject 1"\s+1 h ago$/);
    expect(result.stdout).toContain(
      `      aws logs filter-log-events --region eu-west-2 --log-group-name /aws/lambda/ses-mail-gmail-forwarder-test --filter-pattern '"msg-1"' --start-time ${NOW.getTime() - 3600_000 - 60_000}`,
    );
    // Looking does not consume: all seven are visible again.
    expect(sqs.queues.get("ses-gmail-forwarder-dlq-test")!.filter((m) => !m.hidden)).toHaveLength(7);
  });

  it("moves every message back after the sample when confirmed, with progress and the count", async () => {
    for (let i = 1; i <= 23; i++) sqs.add("ses-bouncer-dlq-test", decisionEvent(`b-${i}`, "x", "carol@test.example.com"));
    answers = [true];

    const result = await cli(["dlq", "redrive", "--queue", "bouncer", "--stack", "test"]);

    expect(result.code).toBe(0);
    expect(result.stdout[0]).toBe("ses-bouncer-dlq-test: about 23 message(s); 5 of them:");
    expect(result.stderr).toEqual([
      "moving 23 message(s) from ses-bouncer-dlq-test to ses-bouncer-test",
      "  moved 10 of 23",
      "  moved 20 of 23",
      "  moved 23 of 23",
    ]);
    expect(result.stdout[result.stdout.length - 1]).toBe("moved 23 message(s) from ses-bouncer-dlq-test back to ses-bouncer-test");
    expect(sqs.queues.get("ses-bouncer-dlq-test")).toHaveLength(0);
    expect(
      sqs
        .bodies("ses-bouncer-test")
        .map((body) => (JSON.parse(body) as { detail: { originalMessageId: string } }).detail.originalMessageId)
        .sort(),
    ).toEqual(Array.from({ length: 23 }, (_, i) => `b-${i + 1}`).sort());
  });

  it("moves nothing when the answer is no, and refuses without --yes when nobody can answer", async () => {
    sqs.add(
      "ses-email-input-dlq-test",
      JSON.stringify({
        notificationType: "Received",
        mail: { messageId: "in-1", source: "a@b.example", destination: ["x@test.example.com"], commonHeaders: { subject: "hi" } },
      }),
    );
    answers = [false];
    const declined = await cli(["dlq", "redrive", "--queue", "input", "--stack", "test"]);
    expect(declined.code).toBe(0);
    expect(declined.stdout[declined.stdout.length - 1]).toBe("nothing was moved");

    answers = [undefined];
    const scripted = await cli(["dlq", "redrive", "--queue", "input", "--stack", "test"]);
    expect(scripted.code).toBe(1);
    expect(scripted.stderr[scripted.stderr.length - 1]).toMatch(
      /Move 1 message\(s\) from ses-email-input-dlq-test back to ses-email-input-test\? Nothing was moved: fix the cause first, then add --yes/,
    );
    expect(sqs.queues.get("ses-email-input-dlq-test")).toHaveLength(1);
    expect(sqs.queues.get("ses-email-input-test")).toHaveLength(0);

    const yes = await cli(["dlq", "redrive", "--queue", "input", "--stack", "test", "--yes"]);
    expect(yes.code).toBe(0);
    expect(sqs.bodies("ses-email-input-test")).toHaveLength(1);
  });

  it("shows why retry messages failed, keeps their attributes when moving, and can replay them at once", async () => {
    sqs.add("ses-mail-gmail-forwarder-retry-dlq-test", retryMessage("r-1", "alice@gmail.com"), {
      "ses-mail-error": "ForwarderReportedFailure",
      "ses-mail-cause": "batchItemFailures was not an empty list",
    });
    sqs.add("ses-mail-gmail-forwarder-retry-dlq-test", retryMessage("r-2", "alice@gmail.com"));
    sfn.on(ListStateMachinesCommand).resolves({
      stateMachines: [
        { name: "ses-mail-gmail-forwarder-retry-processor-test", stateMachineArn: "arn:sm", type: "STANDARD", creationDate: NOW },
      ],
    });
    sfn.on(StartExecutionCommand).resolves({ executionArn: "arn:aws:states:eu-west-2:1:execution:x:run", startDate: NOW });
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: "arn:exec", stateMachineArn: "arn:sm", status: "SUCCEEDED", startDate: NOW });
    sfn
      .on(GetExecutionHistoryCommand)
      .resolves({ events: [{ type: "TaskStateExited", id: 1, timestamp: NOW, stateExitedEventDetails: { name: "DeleteDelivered" } }] });

    const result = await cli(["dlq", "redrive", "--queue", "retry", "--stack", "test", "--yes", "--replay"], {
      follow: { pollIntervalMs: 1, timeoutMs: 1000, sleep: async () => undefined, now: () => NOW },
    });

    expect(result.code).toBe(0);
    expect(result.stdout).toEqual(
      expect.arrayContaining([
        "    why (r-1): ForwarderReportedFailure: batchItemFailures was not an empty list; parked 4 time(s), last: MAILBOX_AUTHORIZATION: mailbox alice@gmail.com: the OAuth token endpoint refused the refresh token: 400 invalid_grant",
        "    why (r-2): parked 4 time(s), last: MAILBOX_AUTHORIZATION: mailbox alice@gmail.com: the OAuth token endpoint refused the refresh token: 400 invalid_grant",
        "moved 2 message(s) from ses-mail-gmail-forwarder-retry-dlq-test back to ses-mail-gmail-forwarder-retry-test",
        "retry queue replayed: 1 delivered, 0 moved to the retry DLQ again",
      ]),
    );
    const moved = sqs.queues.get("ses-mail-gmail-forwarder-retry-test")!;
    expect(moved.map((m) => m.body)).toEqual([retryMessage("r-1", "alice@gmail.com"), retryMessage("r-2", "alice@gmail.com")]);
    expect(moved[0]!.attributes["ses-mail-error"]).toEqual({ DataType: "String", StringValue: "ForwarderReportedFailure" });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(1);
  });

  it("stops at --max, and reports messages the source queue refused, which stay in the DLQ", async () => {
    for (let i = 1; i <= 12; i++)
      sqs.add("ses-gmail-forwarder-dlq-test", decisionEvent(`f-${i}`, i === 2 ? "TOO-BIG" : "ok", "alice@gmail.com"));
    sqs.failSendsMatching = { pattern: /TOO-BIG/, code: "InvalidParameterValue" };

    const result = await cli(["dlq", "redrive", "--queue", "forwarder", "--stack", "test", "--yes", "--max", "5"]);

    expect(result.code).toBe(1);
    expect(result.stdout).toContain("moved 4 message(s) from ses-gmail-forwarder-dlq-test back to ses-gmail-forwarder-test");
    expect(result.stderr[result.stderr.length - 1]).toMatch(
      /1 message\(s\) could not be sent back \(InvalidParameterValue: refused by the test\); they stay in ses-gmail-forwarder-dlq-test/,
    );
    expect(sqs.queues.get("ses-gmail-forwarder-dlq-test")).toHaveLength(8);
    expect(sqs.queues.get("ses-gmail-forwarder-test")).toHaveLength(4);
  });

  it("returns each of the event bus's dead letters to the queue EventBridge failed to reach, and keeps those it cannot place", async () => {
    const arn = (queue: string) => `arn:aws:sqs:eu-west-2:123456789012:${queue}`;
    const failure = {
      ERROR_CODE: "SQS_PERMISSION_DENIED",
      ERROR_MESSAGE: "access denied by the queue policy",
      RULE_ARN: "arn:aws:events:eu-west-2:1:rule/x",
    };
    sqs.add("ses-mail-event-routing-dlq-test", decisionEvent("e-1", "to gmail", "alice@gmail.com"), {
      ...failure,
      TARGET_ARN: arn("ses-gmail-forwarder-test"),
    });
    sqs.add("ses-mail-event-routing-dlq-test", decisionEvent("e-2", "to bouncer", "x@test.example.com"), {
      ...failure,
      TARGET_ARN: arn("ses-bouncer-test"),
    });
    sqs.add("ses-mail-event-routing-dlq-test", decisionEvent("e-3", "elsewhere", "x"), {
      ...failure,
      TARGET_ARN: arn("someone-elses-queue"),
    });

    const shown = await cli(["dlq", "show", "--queue", "event-routing", "--stack", "test"]);
    expect(shown.stdout).toContain("    why (e-1): SQS_PERMISSION_DENIED: access denied by the queue policy");

    const result = await cli(["dlq", "redrive", "--queue", "event-routing", "--stack", "test", "--yes"]);

    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      "moved 2 message(s) from ses-mail-event-routing-dlq-test back to the queue each event was meant for (ses-gmail-forwarder-test or ses-bouncer-test)",
    );
    expect(result.stderr[result.stderr.length - 1]).toMatch(
      /1 message\(s\) could not be sent back \(no queue of this stack to return it to\)/,
    );
    expect(
      sqs
        .bodies("ses-gmail-forwarder-test")
        .map((body) => (JSON.parse(body) as { detail: { originalMessageId: string } }).detail.originalMessageId),
    ).toEqual(["e-1"]);
    expect(
      sqs
        .bodies("ses-bouncer-test")
        .map((body) => (JSON.parse(body) as { detail: { originalMessageId: string } }).detail.originalMessageId),
    ).toEqual(["e-2"]);
    expect(sqs.queues.get("ses-mail-event-routing-dlq-test")).toHaveLength(1);
  });

  it("shows the credential manager's dead letters with the reason and what to do instead of a redrive", async () => {
    sqs.add(
      "ses-mail-credential-manager-dlq-test",
      JSON.stringify({
        requestContext: {
          requestId: "r",
          functionArn: "arn:aws:lambda:eu-west-2:1:function:ses-mail-credential-manager-test",
          condition: "RetryAttemptsExhausted",
          approximateInvokeCount: 4,
        },
        responseContext: { statusCode: 200, executedVersion: "$LATEST", functionError: "Unhandled" },
        version: "1.0",
        timestamp: "2026-11-28T09:00:00.000Z",
        DDBStreamBatchInfo: {
          shardId: "s",
          startSequenceNumber: "1",
          endSequenceNumber: "1",
          approximateArrivalOfFirstRecord: "2026-11-28T08:59:00Z",
          approximateArrivalOfLastRecord: "2026-11-28T08:59:00Z",
          batchSize: 1,
          streamArn: "arn:stream",
        },
      }),
    );
    const result = await cli(["dlq", "show", "--queue", "credential-manager", "--stack", "test"]);
    expect(result.code).toBe(0);
    expect(result.stdout[1]).toMatch(/^ {2}credential manager gave up on stream records from 2026-11-28T08:59:00Z/);
    expect(result.stdout).toContain("    why (stream records from 2026-11-28T08:59:00Z): RetryAttemptsExhausted: Unhandled");
    expect(result.stdout[result.stdout.length - 1]).toMatch(/cannot be replayed.*smtp-user list --stack test.*smtp-user rotate NAME/);
  });

  it("says an empty DLQ has nothing to move", async () => {
    const result = await cli(["dlq", "redrive", "--queue", "input", "--stack", "test"]);
    expect(result).toMatchObject({ code: 0, stdout: ["ses-email-input-dlq-test is empty: nothing to move"] });
  });

  it.each([
    [
      ["dlq", "redrive", "--stack", "test"],
      /say which dead-letter queue: --queue input\|forwarder\|bouncer\|retry\|event-routing\|credential-manager/,
    ],
    [
      ["dlq", "redrive", "--queue", "router", "--stack", "test"],
      /--queue must be one of input, forwarder, bouncer, retry, event-routing, credential-manager, not "router"/,
    ],
    [
      ["dlq", "redrive", "--queue", "credential-manager", "--stack", "test"],
      /credential-manager DLQ cannot be redriven: these are stream records .*smtp-user list --stack test/,
    ],
    [["dlq", "redrive", "--queue", "input", "--replay", "--stack", "test"], /--replay applies to --queue retry only/],
    [["dlq", "show", "--queue", "input", "--limit", "50", "--stack", "test"], /--limit must be a whole number from 1 to 10/],
    [["dlq", "redrive", "--queue", "input", "--max", "0", "--stack", "test"], /--max must be a whole number from 1/],
  ])("%j is a user error", async (argv, reason) => {
    const result = await cli(argv);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toMatch(reason);
  });

  it("says the stack is not deployed when its queues do not exist", async () => {
    sqs.queues.delete("ses-bouncer-dlq-test");
    const result = await cli(["dlq", "show", "--queue", "bouncer", "--stack", "test"]);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toMatch(
      /the queue ses-bouncer-dlq-test does not exist in stack test \(eu-west-2\): has the stack been deployed there/,
    );
  });
});

describe("dead letter summaries", () => {
  it.each([
    [
      "an SES notification in an SNS envelope",
      JSON.stringify({
        Type: "Notification",
        Message: JSON.stringify({
          mail: { messageId: "m", source: "s@x.example", destination: ["a@d.example", "b@d.example"], commonHeaders: { subject: "S" } },
        }),
      }),
      'm from s@x.example to a@d.example, b@d.example: "S"',
    ],
    [
      "a raw SES notification with many recipients",
      JSON.stringify({ mail: { messageId: "m", source: "", destination: ["1@d", "2@d", "3@d", "4@d", "5@d"] } }),
      "m from <> to 1@d, 2@d, 3@d and 2 more",
    ],
    ["something else", "not json", "a message ses-mail does not recognize (not an SES notification, routing decision or retry message)"],
  ])("describes %s", (_what, body, line) => {
    expect(describeDeadLetter(summarizeDeadLetter(body))).toBe(line);
  });
});

describe("ses-mail status", () => {
  let sqs: MemorySqs;
  beforeEach(() => {
    sqs?.mock.restore();
    sqs = memorySqs(QUEUES);
    cloudwatch.reset();
    ssm.reset();
  });
  afterAll(() => sqs.mock.restore());

  function metrics() {
    cloudwatch.on(GetMetricDataCommand).callsFake((input: { MetricDataQueries: MetricDataQuery[] }) => ({
      MetricDataResults: input.MetricDataQueries.map((query) => {
        const queue = query.MetricStat?.Metric?.Dimensions?.[0]?.Value;
        if (query.Id === "overall") return { Id: "overall", Timestamps: [new Date(NOW.getTime() - 60_000)], Values: [3 * 3600] };
        if (queue === "ses-gmail-forwarder-test") return { Id: query.Id, Timestamps: [NOW], Values: [420] };
        return { Id: query.Id, Timestamps: [], Values: [] };
      }),
    }));
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        {
          AlarmName: "ses-mail-gmail-token-expiring-warning-test",
          StateValue: "ALARM",
          StateReason: "Threshold Crossed: 1 datapoint [10800.0] was less than the threshold (86400.0).",
          StateUpdatedTimestamp: new Date(NOW.getTime() - 7200_000),
          AlarmActions: ["arn:aws:sns:eu-west-2:1:ses-mail-alarms-test"],
        },
        {
          AlarmName: "ses-mail-gmail-token-expiring-warning-foo-test",
          StateValue: "ALARM",
          StateReason: "another stack",
          AlarmActions: ["arn:aws:sns:eu-west-2:1:ses-mail-alarms-foo-test"],
        },
        {
          AlarmName: "ses-mail-bouncer-dlq-messages-prod",
          StateValue: "ALARM",
          StateReason: "prod",
          AlarmActions: ["arn:aws:sns:eu-west-2:1:ses-mail-alarms-prod"],
        },
      ],
    });
    ssm.on(GetParametersByPathCommand).resolves({
      Parameters: [
        {
          Name: "/ses-mail/test/gmail/token-metadata/alice_at_gmail.com",
          Value: JSON.stringify({
            account: "alice@gmail.com",
            created_at: "2026-11-21T13:00:00.000Z",
            expires_at: "x",
            expires_at_epoch: NOW.getTime() / 1000 + 3 * 3600,
          }),
        },
      ],
    });
  }

  it("puts queues, dead letters, this stack's alarms and the token countdown on one screen", async () => {
    metrics();
    sqs.add("ses-gmail-forwarder-test", "{}");
    sqs.add("ses-gmail-forwarder-test", "{}");
    sqs.add("ses-bouncer-dlq-test", "{}");
    sqs.add("ses-mail-event-routing-dlq-test", "{}");

    const out = captureOutput();
    const code = await runCli(statusCommands({ now: () => NOW }), ["status", "--stack", "test"], out, { PATH: process.env.PATH });

    expect(code).toBe(0);
    expect(out.stdout.map((line) => line.replace(/\s{2,}/g, " | "))).toEqual([
      "stack test (eu-west-2) at 2026-11-28T10:00:00Z",
      "",
      "QUEUE | WAITING | IN FLIGHT | OLDEST | DEAD-LETTERED",
      "input | 0 | 0 | - | 0",
      "forwarder | 2 | 0 | 7 min | 0",
      "bouncer | 0 | 0 | - | 1 | ← ses-mail dlq show --queue bouncer",
      "retry | 0 | 0 | - | 0",
      "other dead-letter queues: event-routing 1, credential-manager 0",
      " | ← ses-mail dlq show --queue event-routing",
      "",
      "alarms in ALARM (1), what to do: docs/OPERATIONS.md",
      " | ses-mail-gmail-token-expiring-warning-test | since 2 h | Threshold Crossed: 1 datapoint [10800.0] was less than the threshold (86400.0).",
      "",
      "gmail tokens:",
      " | alice@gmail.com | expires in 3 h",
      "token monitor (minimum over accounts): 3 h left (published 1 min ago)",
    ]);
  });

  it("gives the same as data with --json", async () => {
    metrics();
    sqs.add("ses-bouncer-dlq-test", "{}");
    const out = captureOutput();
    await runCli(statusCommands({ now: () => NOW }), ["status", "--stack", "test", "--json"], out, { PATH: process.env.PATH });
    expect(out.jsonValues[0]).toMatchObject({
      stack: "test",
      queues: expect.arrayContaining([
        expect.objectContaining({ role: "bouncer", queue: "ses-bouncer-test", deadLettered: 1, oldestSeconds: null }),
      ]),
      alarms: [{ name: "ses-mail-gmail-token-expiring-warning-test" }],
      tokens: [{ account: "alice@gmail.com", secondsLeft: 3 * 3600 }],
      monitor: { secondsUntilExpiration: 3 * 3600 },
    });
  });

  it("reads alarms and token metadata across every page AWS returns", async () => {
    // Prepare: the first page of each list ends with a token, the second page is the last.
    metrics();
    const alarm = (name: string) => ({ AlarmName: `ses-mail-${name}-test`, StateValue: "ALARM" as const, StateReason: name });
    cloudwatch
      .on(DescribeAlarmsCommand)
      .callsFake((input: { NextToken?: string }) =>
        input.NextToken === "alarms-2"
          ? { MetricAlarms: [alarm("input-dlq-messages")] }
          : { MetricAlarms: [alarm("bouncer-dlq-messages")], NextToken: "alarms-2" },
      );
    const metadata = (account: string) => ({
      Name: `/ses-mail/test/gmail/token-metadata/${account.replace("@", "_at_")}`,
      Value: JSON.stringify({ account, expires_at_epoch: NOW.getTime() / 1000 + 3600 }),
    });
    ssm
      .on(GetParametersByPathCommand)
      .callsFake((input: { NextToken?: string }) =>
        input.NextToken === "tokens-2"
          ? { Parameters: [metadata("alice@gmail.com")] }
          : { Parameters: [metadata("bob@gmail.com")], NextToken: "tokens-2" },
      );

    // Act
    const out = captureOutput();
    await runCli(statusCommands({ now: () => NOW }), ["status", "--stack", "test", "--json"], out, { PATH: process.env.PATH });

    // Assess: both pages of each (the second is only answered to the first page's token), two requests each.
    expect(out.jsonValues[0]).toMatchObject({
      alarms: [{ name: "ses-mail-bouncer-dlq-messages-test" }, { name: "ses-mail-input-dlq-messages-test" }],
      tokens: [{ account: "alice@gmail.com" }, { account: "bob@gmail.com" }],
    });
    expect(cloudwatch.commandCalls(DescribeAlarmsCommand)).toHaveLength(2);
    expect(ssm.commandCalls(GetParametersByPathCommand)).toHaveLength(2);
  });

  it("says the stack is not deployed when none of its queues exist", async () => {
    metrics();
    sqs.queues.clear();
    const out = captureOutput();
    const code = await runCli(statusCommands({ now: () => NOW }), ["status", "--stack", "test"], out, { PATH: process.env.PATH });
    expect(code).toBe(0);
    expect(out.stdout).toEqual(["stack test (eu-west-2): none of its queues exist; has the stack been deployed there (pulumi up)?"]);
  });
});

describe("ses-mail status and dlq show with --local", () => {
  let dataDir: string;
  /** Seven and a half minutes after the messages were queued. */
  let later: Date;
  beforeAll(async () => {
    dataDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "ses-mail-status-local-"));
    // Two messages waiting for the forwarder, one parked delivery, one dead letter of the bouncer.
    const forwarder = new LocalQueue({ name: "f", dir: path.join(dataDir, "queues", "gmail-forwarder") });
    await forwarder.send(decisionEvent("f-1", "one", "alice@gmail.com"));
    await forwarder.send(decisionEvent("f-2", "two", "alice@gmail.com"));
    await new LocalQueue({ name: "r", dir: path.join(dataDir, "queues", "gmail-forwarder-retry") }).send(
      retryMessage("r-1", "alice@gmail.com"),
      { delaySeconds: 900 },
    );
    const bouncer = new LocalQueue({ name: "b", dir: path.join(dataDir, "queues", "bouncer"), maxReceiveCount: 1 });
    bouncer.start(async (messages) => ({
      failed: messages.map((m) => m.id),
      errors: new Map(messages.map((m) => [m.id, { code: "BOUNCE_SEND_FAILED", message: "smarthost refused the DSN" }])),
    }));
    await bouncer.send(decisionEvent("b-1", "bounced", "carol@test.example.com"));
    await bouncer.idle();
    await bouncer.stop();
    later = new Date(Date.now() + 7.5 * 60_000);
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it("shows local mode's queues, parked deliveries and dead letters with the command that shows them", async () => {
    const out = captureOutput();
    const code = await runCli(statusCommands({ now: () => later }), ["status", "--local", "--data-dir", dataDir], out, {
      PATH: process.env.PATH,
    });

    expect(code).toBe(0);
    expect(out.stdout.map((line) => line.replace(/\s{2,}/g, " | "))).toEqual([
      `local mode data in ${dataDir} at ${later.toISOString().replace(/\.\d+Z$/, "Z")}`,
      "",
      "QUEUE | WAITING | OLDEST | DEAD-LETTERED",
      "input | 0 | - | 0",
      "forwarder | 2 | 7 min | 0",
      `bouncer | 0 | - | 1 | ← ses-mail dlq show --queue bouncer --local --data-dir ${dataDir}`,
      "retry | 1 | 7 min | 0",
      "1 delivery is parked in the retry queue for a mailbox that needs an operator",
    ]);
  });

  it("gives a local dead-letter queue as data with --json, with the error each letter records", async () => {
    const out = captureOutput();
    const code = await runCli(
      dlqCommands({ now: () => later }),
      ["dlq", "show", "--queue", "bouncer", "--local", "--data-dir", dataDir, "--json"],
      out,
      { PATH: process.env.PATH },
    );

    expect(code).toBe(0);
    expect(out.jsonValues[0]).toMatchObject({
      deadLetterQueue: "queues/bouncer-dlq",
      returnsTo: "queues/bouncer",
      count: 1,
      sample: [
        {
          receiveCount: 1,
          error: { code: "BOUNCE_SEND_FAILED", message: "smarthost refused the DSN" },
          kind: "routing-decision",
          messageId: "b-1",
          subject: "bounced",
        },
      ],
    });
  });
});
