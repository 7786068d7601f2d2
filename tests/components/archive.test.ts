/**
 * The serialized callbacks really run: each function's code archive, as the program produces it under
 * mocks, is unpacked under tests/.archives and invoked in a fresh Node process that has only what the
 * Lambda runtime has (the AWS SDK v3 on NODE_PATH; nothing above the archive). The environment is the one
 * the component set on the function. The router routes against dynalite; the delivery handlers answer
 * records that need no AWS call. A package missing from an archive, or a closure that does not survive
 * serialization, fails here rather than in a deploy.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ensureRoutingTable } from "../../adapters/aws/routing-table";
import { createRuleCodec } from "../../core/rules";
import { DynamoDbRuleStore } from "../../adapters/aws/dynamodb-rules";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";
import { oauthClientParameter, refreshTokenParameter } from "../../core/parameters";
import { decisionEvent, fixture } from "../helpers/delivery";
import { startFakeAws } from "../helpers/fake-aws";
import { FAKE_CLIENT, startFakeGoogle } from "../helpers/fake-google";
import { decisionDetail, sesNotification, sqsRecord } from "../helpers/factories";
import { ARCHIVES_DIR } from "../helpers/lambda-archive";
import { invokeInLambdaSandbox, runtimeProvidedPackages } from "../helpers/lambda-runtime";
import { identityChanges, readIdentities, resourceIdentities } from "../helpers/identities";
import { named, ofType, synthStack, T, type SynthRun } from "../helpers/synth";

let run: SynthRun;
let dynamo: LocalDynamo;
const dirs = new Map<string, string>();

/** The environment the component set on a function. */
function environmentOf(functionName: string): Record<string, string> {
  const fn = named(run.result, T.function, functionName);
  return (fn.inputs.environment as { variables: Record<string, string> }).variables;
}

beforeAll(async () => {
  run = await synthStack("test", {}, { handlers: "real" });
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- after the synth, like the CLI
  const { unpackArchive } = require("../../components/synth/archive") as typeof import("../../components/synth/archive");
  for (const [name, archive] of run.result.archives) {
    const dir = path.join(ARCHIVES_DIR, "synth-test", name);
    await unpackArchive(archive, dir);
    dirs.set(name, dir);
  }
  dynamo = await startDynalite();
}, 180_000);

afterAll(async () => {
  await dynamo?.close();
});

it("every function of the stack has an archive", () => {
  expect([...dirs.keys()].sort()).toEqual(ofType(run.result, T.function).map((fn) => String(fn.inputs.name)).sort());
  expect([...dirs.keys()].sort()).toEqual(["ses-mail-bouncer-test", "ses-mail-credential-manager-test", "ses-mail-gmail-forwarder-test", "ses-mail-router-enrichment-test"]);
});

it("with the real handlers the program builds the same resources as with the stub handlers the other component tests use", () => {
  expect(identityChanges("test", readIdentities("test"), resourceIdentities(run.result.resources))).toBeUndefined();
});

it("the sandbox provides the AWS SDK and nothing the archives must bring themselves", () => {
  const provided = runtimeProvidedPackages();
  expect(provided).toEqual(expect.arrayContaining(["@aws-sdk/client-dynamodb", "@aws-sdk/client-s3", "@aws-sdk/client-sqs"]));
  for (const pkg of ["zod", "@aws-lambda-powertools/logger", "@aws-lambda-powertools/batch", "@aws-sdk/util-dynamodb"]) expect(provided).not.toContain(pkg);
});

it("the router routes a message against dynalite with the environment the component set", async () => {
  // Prepare: the table the component named, on dynalite, with a rule.
  const env = environmentOf("ses-mail-router-enrichment-test");
  await ensureRoutingTable(dynamo.client, env.ROUTING_TABLE!);
  await new DynamoDbRuleStore({ tableName: env.ROUTING_TABLE!, client: dynamo.client }).putRuleItem(
    createRuleCodec().toItem({ pattern: "*@test.example.com", enabled: true, actions: [{ type: "forward-to-gmail", target: "me@gmail.com" }] }),
  );

  // Act
  const outcome = await invokeInLambdaSandbox(dirs.get("ses-mail-router-enrichment-test")!, [sqsRecord(sesNotification({ recipients: ["Someone@test.example.com", "x@elsewhere.org"] }))], {
    ...env,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
  });

  // Assess
  expect(outcome).toMatchObject({ ok: true });
  const [decision] = (outcome as { result: Array<{ actions: Record<string, { targets: unknown[] }> }> }).result;
  expect(decision!.actions["forward-to-gmail"]!.targets).toEqual([expect.objectContaining({ recipient: "someone@test.example.com", target: "me@gmail.com", match: "domain" })]);
  expect(decision!.actions.bounce!.targets).toEqual([expect.objectContaining({ recipient: "x@elsewhere.org", match: "default" })]);
});

it.each([
  ["ses-mail-gmail-forwarder-test", "forwarder"],
  ["ses-mail-bouncer-test", "bouncer"],
])("the %s archive loads and reports a record it cannot read as a partial batch failure", async (functionName) => {
  const outcome = await invokeInLambdaSandbox(dirs.get(functionName)!, { Records: [sqsRecord("{not json", { messageId: "bad-1" })] }, environmentOf(functionName));
  expect(outcome).toMatchObject({ ok: true, result: { batchItemFailures: [{ itemIdentifier: "bad-1" }] } });
});

it("the forwarder archive imports a message through Google's libraries, with no package beyond what it bundles", async () => {
  // Prepare: S3 and SSM stand-ins holding a message and the account's OAuth secrets, and a Gmail stand-in.
  const aws = await startFakeAws();
  const google = await startFakeGoogle();
  try {
    const env = environmentOf("ses-mail-gmail-forwarder-test");
    await ensureRoutingTable(dynamo.client, env.ROUTING_TABLE!);
    aws.objects.set("bucket/emails/m-archive", fixture("plain-text.eml"));
    aws.parameters.set(oauthClientParameter("test"), JSON.stringify({ installed: FAKE_CLIENT }));
    aws.parameters.set(refreshTokenParameter("test", "me@gmail.com"), JSON.stringify({ refresh_token: "1//me" }));
    google.addAccount("me@gmail.com", "1//me");
    const target = { recipient: "me@test.example.com", target: "me@gmail.com", match: "exact" as const, rule: "me@test.example.com" };
    const event = { Records: [sqsRecord(decisionEvent(decisionDetail({ "forward-to-gmail": [target] }, { originalMessageId: "m-archive", s3: { bucket: "bucket", key: "emails/m-archive" } })))] };

    // Act
    const outcome = await invokeInLambdaSandbox(dirs.get("ses-mail-gmail-forwarder-test")!, event, {
      ...env,
      GMAIL_API_URL: google.baseUrl,
      GOOGLE_OAUTH_TOKEN_URL: google.tokenUrl,
      RETRY_QUEUE_URL: `${aws.endpoint}/123456789012/retry`,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_S3: aws.endpoint,
      AWS_ENDPOINT_URL_SSM: aws.endpoint,
    });

    // Assess: imported byte for byte; node-fetch, which gaxios would load without a fetch, is not in the archive.
    expect(outcome).toMatchObject({ ok: true, result: { batchItemFailures: [] } });
    expect(google.imports).toEqual([expect.objectContaining({ account: "me@gmail.com", body: fixture("plain-text.eml") })]);
    expect(fs.readdirSync(path.join(dirs.get("ses-mail-gmail-forwarder-test")!, "node_modules"))).not.toContain("node-fetch");
  } finally {
    await google.close();
    await aws.close();
  }
});

it("the credential manager archive loads and skips stream records that are not SMTP users", async () => {
  const record = {
    eventID: "1",
    eventName: "INSERT",
    eventSource: "aws:dynamodb",
    awsRegion: "eu-west-2",
    dynamodb: { Keys: { PK: { S: "ROUTE#*" }, SK: { S: "RULE#v1" } }, NewImage: { PK: { S: "ROUTE#*" }, SK: { S: "RULE#v1" } }, SequenceNumber: "1", StreamViewType: "NEW_AND_OLD_IMAGES" },
  };
  const outcome = await invokeInLambdaSandbox(dirs.get("ses-mail-credential-manager-test")!, { Records: [record] }, environmentOf("ses-mail-credential-manager-test"));
  expect(outcome).toMatchObject({ ok: true, result: { batchItemFailures: [] } });
});

it("an archive missing a package it needs fails to load, as it would in Lambda", async () => {
  // Prepare: the router's archive without zod (the project's node_modules, above it, has zod).
  const broken = path.join(ARCHIVES_DIR, "synth-test", "router-without-zod");
  fs.rmSync(broken, { recursive: true, force: true });
  fs.cpSync(dirs.get("ses-mail-router-enrichment-test")!, broken, { recursive: true });
  fs.rmSync(path.join(broken, "node_modules", "zod"), { recursive: true, force: true });

  // Act
  const outcome = await invokeInLambdaSandbox(broken, [], environmentOf("ses-mail-router-enrichment-test"));

  // Assess
  expect(outcome).toMatchObject({ ok: false, error: { message: expect.stringMatching(/Cannot find module 'zod'/) } });
});
