/**
 * Measures the serialized Gmail forwarder importing one large message, in its own Node process (as a
 * warm Lambda container), against local stand-ins: S3, SSM and SQS (fake-aws), Gmail (fake-google) and
 * DynamoDB (dynalite). Used by the forwarder's tests and by `npm run bench`.
 * Peak RSS is Linux's VmHWM after resetting it just before the invocation (sampled elsewhere).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { oauthClientParameter, refreshTokenParameter } from "../../core/parameters";
import { gmailForwarderEnvironmentVariables, gmailForwarderFactory } from "../../handlers/gmail-forwarder";
import { decisionEvent } from "./delivery";
import { startDynalite } from "./dynalite";
import { startFakeAws } from "./fake-aws";
import { FAKE_CLIENT, startFakeGoogle } from "./fake-google";
import { decisionDetail, sqsRecord } from "./factories";
import { serializeFactory } from "./lambda-archive";

const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

export interface ForwarderMemory {
  readonly messageBytes: number;
  /** RSS of the warm process just before the import. */
  readonly baseline: number;
  /** Peak RSS during the import. */
  readonly peak: number;
  /** True when the peak is the kernel's VmHWM (Linux), false when sampled. */
  readonly exact: boolean;
  readonly durationMs: number;
}

/** A message of `size` bytes: a real header, then CRLF-terminated 76-octet lines. */
export function largeMessage(size: number): Buffer {
  const header = Buffer.from(
    "From: Bench <bench@sender.example>\r\nTo: user@example.com\r\nSubject: large\r\nMessage-ID: <large@sender.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n",
  );
  const body = Buffer.alloc(size - header.length, "A");
  for (let i = 74; i < body.length - 1; i += 76) {
    body[i] = 0x0d;
    body[i + 1] = 0x0a;
  }
  return Buffer.concat([header, body]);
}

export async function measureForwarderImport(
  size: number,
  progress: (message: string) => void = () => undefined,
): Promise<ForwarderMemory> {
  const dynamo = await startDynalite();
  const aws = await startFakeAws();
  const google = await startFakeGoogle();
  try {
    const tableName = await dynamo.createRoutingTable("ses-mail-memory");
    const bucket = "ses-mail-storage-123456789012-bench";
    const message = largeMessage(size);
    aws.objects.set(`${bucket}/emails/warm`, Buffer.from("Subject: warm\r\n\r\nhello\r\n"));
    aws.objects.set(`${bucket}/emails/large`, message);
    aws.parameters.set(oauthClientParameter("bench"), JSON.stringify({ installed: FAKE_CLIENT }));
    aws.parameters.set(refreshTokenParameter("bench", "bench@gmail.com"), JSON.stringify({ refresh_token: "1//bench" }));
    google.addAccount("bench@gmail.com", "1//bench");
    const { dir } = await serializeFactory("memory-gmail-forwarder", gmailForwarderFactory);
    const event = (id: string) => ({
      Records: [
        sqsRecord(
          decisionEvent(
            decisionDetail(
              {
                "forward-to-gmail": [
                  { recipient: "user@example.com", target: "bench@gmail.com", labels: ["INBOX", "UNREAD"], match: "exact" },
                ],
              },
              { originalMessageId: id, s3: { bucket, key: `emails/${id}` } },
            ),
          ),
        ),
      ],
    });
    const files = { warmup: path.join(dir, "warmup.json"), event: path.join(dir, "event.json"), out: path.join(dir, "result.json") };
    fs.writeFileSync(files.warmup, JSON.stringify(event("warm")));
    fs.writeFileSync(files.event, JSON.stringify(event("large")));
    progress(`importing a ${(size / 1048576).toFixed(1)} MiB message in a fresh process`);
    const child = spawn(process.execPath, [path.join(__dirname, "archive-memory.js"), dir, files.warmup, files.event, files.out], {
      env: {
        PATH: process.env.PATH ?? "",
        NODE_PATH: path.join(PROJECT_ROOT, "node_modules"),
        AWS_REGION: "eu-west-2",
        AWS_ACCESS_KEY_ID: "AKIDTESTTESTTESTTEST",
        AWS_SECRET_ACCESS_KEY: "test",
        POWERTOOLS_METRICS_DISABLED: "true",
        POWERTOOLS_LOG_LEVEL: "WARN",
        ...gmailForwarderEnvironmentVariables({
          environment: "bench",
          routingTable: tableName,
          retryQueueUrl: `${aws.endpoint}/123456789012/retry`,
          gmailApiUrl: google.baseUrl,
          oauthTokenUrl: google.tokenUrl,
        }),
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_ENDPOINT_URL_S3: aws.endpoint,
        AWS_ENDPOINT_URL_SSM: aws.endpoint,
        AWS_ENDPOINT_URL_SQS: aws.endpoint,
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      child.on("exit", () => resolve());
      child.on("error", reject);
    });
    const result = JSON.parse(fs.readFileSync(files.out, "utf8")) as
      | { ok: true; result: { batchItemFailures: unknown[] }; baseline: number; peak: number; exact: boolean; durationMs: number }
      | { ok: false; error: string };
    if (!result.ok) throw new Error(`the forwarder failed: ${result.error}`);
    const imported = google.imports.find((entry) => entry.bytes === message.length);
    if (result.result.batchItemFailures.length > 0 || !imported) throw new Error(`the ${size}-byte message was not imported`);
    return {
      messageBytes: message.length,
      baseline: result.baseline,
      peak: result.peak,
      exact: result.exact,
      durationMs: result.durationMs,
    };
  } finally {
    await google.close();
    await aws.close();
    await dynamo.close();
  }
}
