/**
 * Each Lambda's cold start, as the runtime would see it: the function's archive as the program builds it
 * (the synth of the `test` stack, unpacked), loaded in a fresh Node process whose only packages outside
 * the archive are the runtime's AWS SDK (tests/helpers/lambda-sandbox.js), then handed a first event
 * that does the function's real work against local stand-ins:
 * - router: routes a message against dynalite;
 * - Gmail forwarder: exchanges a refresh token and imports a message (fake-google), reading S3 and SSM (fake-aws);
 * - bouncer: sends a delivery status notification for a message it reads from S3;
 * - credential manager: creates the IAM user and SMTP password of a new SMTP user.
 * "init" is loading `__index.js` (which runs the callback factory, as Lambda's init phase does) plus that
 * first invocation; Node's own start-up before it is reported apart. Wall-clock time is what Lambda
 * bills and a caller waits; on a machine shared with other work it swings widely, so the CPU time the
 * process spent (user + system, which contention barely changes) is reported too.
 */
import { PutItemCommand } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { DynamoDbRuleStore } from "../adapters/aws/dynamodb-rules";
import { ensureRoutingTable } from "../adapters/aws/routing-table";
import { oauthClientParameter, refreshTokenParameter } from "../core/parameters";
import { createRuleCodec } from "../core/rules";
import { decisionEvent, fixture } from "../tests/helpers/delivery";
import { startDynalite } from "../tests/helpers/dynalite";
import { startFakeAws } from "../tests/helpers/fake-aws";
import { FAKE_CLIENT, startFakeGoogle } from "../tests/helpers/fake-google";
import { decisionDetail, sesNotification, sqsRecord } from "../tests/helpers/factories";
import { invokeInLambdaSandbox } from "../tests/helpers/lambda-runtime";
import { named, T } from "../tests/helpers/synth";
import { quantile } from "./suite";
import type { TestStack } from "./test-stack";

export interface ColdStart {
  readonly function: string;
  readonly runs: number;
  /** Medians, in milliseconds. */
  readonly bootMs: number;
  readonly loadMs: number;
  readonly firstEventMs: number;
  readonly initMs: number;
  readonly initMinMs: number;
  readonly initMaxMs: number;
  /** Median CPU time of loading plus the first event. */
  readonly initCpuMs: number;
}

/** One function's first event for run `run`, what to add to its environment, and how to tell it did its work. */
interface Scenario {
  readonly event: (run: number) => unknown;
  readonly env: Record<string, string>;
  readonly check: (run: number, result: unknown) => void;
}

const BUCKET = "ses-mail-storage-123456789012-test";
const ACCOUNT = "bench@gmail.com";

function noFailures(name: string, result: unknown): void {
  const failures = (result as { batchItemFailures?: unknown[] } | undefined)?.batchItemFailures;
  if (!Array.isArray(failures) || failures.length > 0) throw new Error(`${name}: the first event failed: ${JSON.stringify(result)}`);
}

export async function measureColdStarts(stack: TestStack, runs: number, progress: (message: string) => void): Promise<ColdStart[]> {
  const dynamo = await startDynalite();
  const aws = await startFakeAws();
  const google = await startFakeGoogle();
  try {
    const environmentOf = (name: string) =>
      (named(stack.result, T.function, name).inputs.environment as { variables: Record<string, string> }).variables;
    const table = environmentOf("ses-mail-router-enrichment-test").ROUTING_TABLE!;
    await ensureRoutingTable(dynamo.client, table);
    await new DynamoDbRuleStore({ tableName: table, client: dynamo.client }).putRuleItem(
      createRuleCodec().toItem({ pattern: "*@test.example.com", enabled: true, actions: [{ type: "forward-to-gmail", target: ACCOUNT }] }),
    );
    aws.parameters.set(oauthClientParameter("test"), JSON.stringify({ installed: FAKE_CLIENT }));
    aws.parameters.set(refreshTokenParameter("test", ACCOUNT), JSON.stringify({ refresh_token: "1//bench" }));
    google.addAccount(ACCOUNT, "1//bench");
    const raw = fixture("plain-text.eml");
    const endpoints = {
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_S3: aws.endpoint,
      AWS_ENDPOINT_URL_SSM: aws.endpoint,
      AWS_ENDPOINT_URL_SQS: aws.endpoint,
      AWS_ENDPOINT_URL_SES: aws.endpoint,
      AWS_ENDPOINT_URL_IAM: aws.endpoint,
      AWS_ENDPOINT_URL_KMS: aws.endpoint,
    };

    const scenarios: Record<string, Scenario> = {
      "ses-mail-router-enrichment-test": {
        event: (run) => [sqsRecord(sesNotification({ messageId: `cold-route-${run}`, recipients: ["someone@test.example.com"] }))],
        env: {},
        check: (_run, result) => {
          const [decision] = result as Array<{ actions: Record<string, { count: number }> }>;
          if (decision?.actions["forward-to-gmail"]?.count !== 1) throw new Error(`router: unexpected decision ${JSON.stringify(result)}`);
        },
      },
      "ses-mail-gmail-forwarder-test": {
        event: (run) => {
          const key = `emails/cold-forward-${run}`;
          aws.objects.set(`${BUCKET}/${key}`, raw);
          const target = {
            recipient: "someone@test.example.com",
            target: ACCOUNT,
            labels: ["INBOX"],
            match: "domain" as const,
            rule: "*@test.example.com",
          };
          return {
            Records: [
              sqsRecord(
                decisionEvent(
                  decisionDetail(
                    { "forward-to-gmail": [target] },
                    { originalMessageId: `cold-forward-${run}`, s3: { bucket: BUCKET, key } },
                  ),
                ),
              ),
            ],
          };
        },
        // The retry queue's URL names the stand-in: the SQS client sends to the host in the URL.
        env: {
          RETRY_QUEUE_URL: `${aws.endpoint}/123456789012/ses-mail-gmail-forwarder-retry-test`,
          GMAIL_API_URL: google.baseUrl,
          GOOGLE_OAUTH_TOKEN_URL: google.tokenUrl,
        },
        check: (run, result) => {
          noFailures("forwarder", result);
          if (google.imports.length !== run + 1) throw new Error(`forwarder: ${google.imports.length} imports after ${run + 1} runs`);
        },
      },
      "ses-mail-bouncer-test": {
        event: (run) => {
          const key = `emails/cold-bounce-${run}`;
          aws.objects.set(`${BUCKET}/${key}`, raw);
          const target = { recipient: "nobody@test.example.com", match: "default" as const, reason: "no rule matches this address" };
          // A new sender each run: the bouncer sends one report per sender and recipient an hour.
          const detail = decisionDetail(
            { bounce: [target] },
            { originalMessageId: `cold-bounce-${run}`, source: `sender-${run}@sender.example`, s3: { bucket: BUCKET, key } },
          );
          return { Records: [sqsRecord(decisionEvent(detail))] };
        },
        env: {},
        check: (run, result) => {
          noFailures("bouncer", result);
          if (aws.sentEmails.length !== run + 1) throw new Error(`bouncer: ${aws.sentEmails.length} reports after ${run + 1} runs`);
        },
      },
      "ses-mail-credential-manager-test": {
        event: async (run: number) => {
          const item = {
            PK: `SMTP_USER#cold${run}`,
            SK: "CREDENTIALS#v1",
            entity_type: "SMTP_USER",
            username: `cold${run}`,
            allowed_from: ["app@test.example.com"],
            status: "pending",
          };
          await dynamo.client.send(new PutItemCommand({ TableName: table, Item: marshall(item) }));
          const image = marshall(item);
          return {
            Records: [
              {
                eventID: `cold-${run}`,
                eventName: "INSERT",
                eventVersion: "1.1",
                eventSource: "aws:dynamodb",
                awsRegion: "eu-west-2",
                dynamodb: {
                  ApproximateCreationDateTime: 1795860000 + run,
                  Keys: marshall({ PK: item.PK, SK: item.SK }),
                  NewImage: image,
                  SequenceNumber: String(1000 + run),
                  SizeBytes: 200,
                  StreamViewType: "NEW_AND_OLD_IMAGES",
                },
              },
            ],
          };
        },
        env: {},
        check: (run, result) => {
          noFailures("credential manager", result);
          if (aws.iamUsers.size !== run + 1) throw new Error(`credential manager: ${aws.iamUsers.size} IAM users after ${run + 1} runs`);
        },
      },
    };

    const measured: ColdStart[] = [];
    for (const [name, dir] of stack.archiveDirs) {
      const scenario = scenarios[name];
      if (!scenario) throw new Error(`no cold-start scenario for ${name}`);
      const samples: Array<{ bootMs: number; loadMs: number; invokeMs: number; cpuMs: number }> = [];
      for (let run = 0; run < runs; run++) {
        progress(`cold start of ${name} (${run + 1}/${runs})`);
        const event = await scenario.event(run);
        const outcome = await invokeInLambdaSandbox(dir, event, { ...environmentOf(name), ...endpoints, ...scenario.env });
        if (!outcome.ok) throw new Error(`${name}: ${outcome.error.phase ?? "invoke"} failed: ${outcome.error.message}\n${outcome.stderr}`);
        scenario.check(run, outcome.result);
        const { bootMs, loadMs = Number.NaN, invokeMs = Number.NaN, loadCpuMs = Number.NaN, invokeCpuMs = Number.NaN } = outcome.timings;
        samples.push({ bootMs, loadMs, invokeMs, cpuMs: loadCpuMs + invokeCpuMs });
      }
      const init = samples.map((sample) => sample.loadMs + sample.invokeMs);
      const median = (values: number[]) => Math.round(quantile(values, 0.5));
      measured.push({
        function: name,
        runs,
        bootMs: median(samples.map((sample) => sample.bootMs)),
        loadMs: median(samples.map((sample) => sample.loadMs)),
        firstEventMs: median(samples.map((sample) => sample.invokeMs)),
        initMs: median(init),
        initMinMs: Math.round(Math.min(...init)),
        initMaxMs: Math.round(Math.max(...init)),
        initCpuMs: median(samples.map((sample) => sample.cpuMs)),
      });
    }
    return measured;
  } finally {
    await google.close();
    await aws.close();
    await dynamo.close();
  }
}
