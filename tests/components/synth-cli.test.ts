/**
 * `ses-mail synth` end to end, as a user runs it (a fresh process through bin/ses-mail.js, with the real
 * handlers): the files a reviewer diffs for the test stack, and the stop at the region's active receipt
 * rule set. The summary printed without --out and the errors caught before a program runs are checked
 * in-process (synth-command.test.ts); the prod stack's graph, identities and deprecations in-process with
 * stub handlers (prod-stack.test.ts, retention.test.ts), since prod's archives are the same code as test's.
 *
 * The archives it writes really run: each function's code, as the program serializes it, is invoked in a
 * fresh Node process that has only what the Lambda runtime has (the AWS SDK v3 on NODE_PATH; nothing
 * above the archive), with the environment the component set on the function. The router routes against
 * dynalite; the delivery handlers answer records that need no AWS call. A package missing from an
 * archive, or a closure that does not survive serialization, fails here rather than in a deploy.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { PutItemCommand } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { DynamoDbRuleStore } from "../../adapters/aws/dynamodb-rules";
import { ensureRoutingTable } from "../../adapters/aws/routing-table";
import { DynamoDbSmtpUsers } from "../../adapters/aws/smtp-identities";
import { oauthClientParameter, refreshTokenParameter } from "../../core/parameters";
import { createRuleCodec } from "../../core/rules";
import { decisionEvent, fixture, readDsn } from "../helpers/delivery";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";
import { decisionDetail, sesNotification, smtpUserItem, sqsRecord, STREAM_RECORD_STAMP, streamRecord } from "../helpers/factories";
import { startFakeAws } from "../helpers/fake-aws";
import { FAKE_CLIENT, startFakeGoogle } from "../helpers/fake-google";
import { ARCHIVES_DIR } from "../helpers/lambda-archive";
import { invokeInLambdaSandbox, runtimeProvidedPackages } from "../helpers/lambda-runtime";
import { PROJECT_ROOT } from "../helpers/synth";

const execFileAsync = promisify(execFile);

async function sesMail(args: string[], cwd = PROJECT_ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [path.join(PROJECT_ROOT, "bin", "ses-mail.js"), ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

interface ResourcesJson {
  stack: string;
  deprecations: unknown[];
  outputs: Record<string, unknown>;
  lambdas: Record<string, { files: number; unzippedBytes: number; zippedBytesEstimate: number; packages: string[] }>;
  resources: Array<{
    urn: string;
    type: string;
    name: string;
    parent?: string;
    custom: boolean;
    inputs: Record<string, unknown>;
    outputs: Record<string, unknown>;
  }>;
}

type Run = { code: number; stdout: string; stderr: string };
const outDir = (stack: string) => path.join(ARCHIVES_DIR, `synth-cli-${stack}`);
/**
 * Both synths this file checks, started together (each is a separate process, with the real handlers,
 * seconds of CPU each): the test stack written out, and the same stack stopped by the active receipt rule
 * set. Which refusal is given for which active set is the pure activeRuleSetProblem (hardening.test.ts);
 * this shows a refusal reaching the user from a real program run, with exit code 1.
 */
let runs: { test: Run; refused: Run };

beforeAll(async () => {
  fs.mkdirSync(ARCHIVES_DIR, { recursive: true });
  fs.rmSync(outDir("test"), { recursive: true, force: true });
  const [test, refused] = await Promise.all([
    // From another working directory: the stack file is found in the project, DIR is relative to where we are.
    sesMail(["synth", "--stack", "test", "--out", path.relative(ARCHIVES_DIR, outDir("test"))], ARCHIVES_DIR),
    // test, in an account where prod's set is active, without joining it
    sesMail(["synth", "--stack", "test", "--active-rule-set", "ses-ruleset-prod"]),
  ]);
  runs = { test, refused };
}, 300_000);

describe("ses-mail synth --stack test --out DIR", () => {
  const stack = "test";
  const out = outDir(stack);
  let result: Run;
  let document: ResourcesJson;

  beforeAll(() => {
    result = runs.test;
    document = JSON.parse(fs.readFileSync(path.join(out, "resources.json"), "utf8")) as ResourcesJson;
  });

  it("succeeds and says what it wrote", () => {
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toMatch(/^\d+ resources, 4 Lambda functions, 0 provider deprecations → /);
    expect(result.stderr).not.toMatch(/deprecated/);
  });

  it("resources.json: every resource with type, name, parent and inputs; secrets masked", () => {
    expect(document.stack).toBe(stack);
    expect(document.deprecations).toEqual([]);
    expect(document.resources.length).toBeGreaterThan(100);
    for (const resource of document.resources) {
      expect(resource).toEqual(
        expect.objectContaining({
          urn: expect.any(String),
          type: expect.any(String),
          name: expect.any(String),
          inputs: expect.any(Object),
        }),
      );
      if (!resource.type.startsWith("ses-mail:index:")) expect(resource.parent).toEqual(expect.stringMatching(/^urn:pulumi:/));
    }
    for (const parameter of document.resources.filter((r) => r.type === "aws:ssm/parameter:Parameter"))
      expect(parameter.inputs.value).toBe("[secret]");
    expect(JSON.stringify(document)).not.toContain("PLACEHOLDER");
    expect(document.outputs.bucketName).toBe(`ses-mail-storage-123456789012-${stack}`);
  });

  it("lambdas/<function>/: each archive unpacked, with its size", () => {
    const functions = fs.readdirSync(path.join(out, "lambdas")).sort();
    expect(functions).toEqual([
      `ses-mail-bouncer-${stack}`,
      `ses-mail-credential-manager-${stack}`,
      `ses-mail-gmail-forwarder-${stack}`,
      `ses-mail-router-enrichment-${stack}`,
    ]);
    for (const fn of functions) {
      expect(fs.readFileSync(path.join(out, "lambdas", fn, "__index.js"), "utf8")).toContain("exports.handler");
      expect(fs.readdirSync(path.join(out, "lambdas", fn, "node_modules", "zod"))).toContain("package.json");
      expect(document.lambdas[fn]!.zippedBytesEstimate).toBeLessThan(document.lambdas[fn]!.unzippedBytes);
    }
  });

  it("pipeline.mmd: the flow from SES to the handlers, drawn from the graph", () => {
    const diagram = fs.readFileSync(path.join(out, "pipeline.mmd"), "utf8");
    expect(diagram).toMatch(/^flowchart LR\n/);
    for (const name of [
      `ses-mail-inbound-${stack}`,
      `ses-email-processing-${stack}`,
      `ses-email-input-${stack}`,
      `ses-email-router-${stack}`,
      `route-to-gmail-${stack}`,
      `ses-mail-gmail-forwarder-${stack}`,
    ]) {
      expect(diagram).toContain(name);
    }
    for (const label of ["notify", "raw delivery", "poll", "enrich", "put decision", "target", "invoke", "rate(1 hour)"])
      expect(diagram).toContain(`|"${label}"|`);
  });
});

describe("the archives ses-mail synth writes for the test stack, run as Lambda would run them", () => {
  const lambdas = path.join(outDir("test"), "lambdas");
  const dirOf = (functionName: string) => path.join(lambdas, functionName);
  let document: ResourcesJson;
  let dynamo: LocalDynamo;

  /** The environment the component set on a function. */
  function environmentOf(functionName: string): Record<string, string> {
    const fn = document.resources.find(
      (resource) => resource.type === "aws:lambda/function:Function" && resource.inputs.name === functionName,
    );
    if (!fn) throw new Error(`no function ${functionName} in resources.json`);
    return (fn.inputs.environment as { variables: Record<string, string> }).variables;
  }

  /** The environment the component set on a function, with the routing table it names created on dynalite. */
  async function environmentWithTable(functionName: string): Promise<Record<string, string>> {
    const env = environmentOf(functionName);
    await ensureRoutingTable(dynamo.client, env.ROUTING_TABLE!);
    return env;
  }

  beforeAll(async () => {
    document = JSON.parse(fs.readFileSync(path.join(outDir("test"), "resources.json"), "utf8")) as ResourcesJson;
    dynamo = await startDynalite();
  });

  afterAll(async () => {
    await dynamo?.close();
  });

  it("every function of the stack has an archive", () => {
    const functions = document.resources
      .filter((resource) => resource.type === "aws:lambda/function:Function")
      .map((fn) => String(fn.inputs.name));
    expect(fs.readdirSync(lambdas).sort()).toEqual(functions.sort());
  });

  it("the sandbox provides the AWS SDK and nothing the archives must bring themselves", () => {
    const provided = runtimeProvidedPackages();
    expect(provided).toEqual(expect.arrayContaining(["@aws-sdk/client-dynamodb", "@aws-sdk/client-s3", "@aws-sdk/client-sqs"]));
    for (const pkg of ["zod", "@aws-lambda-powertools/logger", "@aws-lambda-powertools/batch", "@aws-sdk/util-dynamodb"])
      expect(provided).not.toContain(pkg);
  });

  it("the router routes a message against dynalite with the environment the component set, and hands the Pipe no event for SES's setup notification", async () => {
    // Prepare: the table the component named, on dynalite, with a rule that labels.
    const env = await environmentWithTable("ses-mail-router-enrichment-test");
    await new DynamoDbRuleStore({ tableName: env.ROUTING_TABLE!, client: dynamo.client }).putRuleItem(
      createRuleCodec().toItem({
        pattern: "*@test.example.com",
        enabled: true,
        actions: [{ type: "forward-to-gmail", target: "me@gmail.com", labels: ["Label_7"] }],
      }),
    );
    const setup = JSON.parse(fixture("ses-setup-notification.json").toString("utf8")) as Record<string, unknown>;
    const router = dirOf("ses-mail-router-enrichment-test");
    const routerEnv = { ...env, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint };

    // Act
    const [outcome, setupOnly] = await Promise.all([
      invokeInLambdaSandbox(
        router,
        [
          sqsRecord(setup, { messageId: "sqs-setup" }),
          sqsRecord(sesNotification({ recipients: ["Someone@test.example.com", "x@elsewhere.org"], spam: "FAIL" })),
        ],
        routerEnv,
      ),
      invokeInLambdaSandbox(router, [sqsRecord(setup)], routerEnv),
    ]);

    // Assess: one decision, for the mail only; quarantined by the verdict policy the component set.
    expect(outcome).toMatchObject({ ok: true });
    const decisions = (outcome as { result: Array<{ actions: Record<string, { targets: unknown[] }> }> }).result;
    expect(decisions).toHaveLength(1);
    expect(decisions[0]!.actions["forward-to-gmail"]!.targets).toEqual([
      expect.objectContaining({
        recipient: "someone@test.example.com",
        target: "me@gmail.com",
        match: "domain",
        labels: ["SPAM", "Label_7"],
        reason: "quarantined: spam FAIL",
      }),
    ]);
    expect(decisions[0]!.actions.bounce!.targets).toEqual([expect.objectContaining({ recipient: "x@elsewhere.org", match: "default" })]);
    // No event: the Pipe invokes no target and deletes the record.
    expect(setupOnly).toMatchObject({ ok: true, result: [] });
  });

  it("the forwarder archive imports through Google's libraries, parks a message for an account without a token, and reports a record it cannot read", async () => {
    // Prepare: S3, SSM and SQS stand-ins holding two messages and one account's OAuth secrets, and a Gmail stand-in.
    const aws = await startFakeAws();
    const google = await startFakeGoogle();
    try {
      const env = await environmentWithTable("ses-mail-gmail-forwarder-test");
      const raw = fixture("plain-text.eml");
      aws.objects.set("bucket/emails/m-archive", raw);
      aws.objects.set("bucket/emails/m-archive-parked", raw);
      aws.parameters.set(oauthClientParameter("test"), JSON.stringify({ installed: FAKE_CLIENT }));
      aws.parameters.set(refreshTokenParameter("test", "me@gmail.com"), JSON.stringify({ refresh_token: "1//me" }));
      google.addAccount("me@gmail.com", "1//me");
      // The SQS client sends to the queue URL's host, so the URL names the stand-in.
      const retryQueueUrl = `${aws.endpoint}/123456789012/ses-mail-gmail-forwarder-retry-test`;
      const forwardTo = (target: string) => ({
        recipient: "me@test.example.com",
        target,
        match: "exact" as const,
        rule: "me@test.example.com",
      });
      const forward = (messageId: string, target: string) =>
        decisionEvent(
          decisionDetail(
            { "forward-to-gmail": [forwardTo(target)] },
            { originalMessageId: messageId, s3: { bucket: "bucket", key: `emails/${messageId}` } },
          ),
        );
      const event = {
        Records: [
          sqsRecord(forward("m-archive", "me@gmail.com"), { messageId: "archive-ok" }),
          sqsRecord(forward("m-archive-parked", "nobody-yet@gmail.com"), { messageId: "archive-parked" }),
          sqsRecord("{not json", { messageId: "archive-bad" }),
        ],
      };

      // Act
      const outcome = await invokeInLambdaSandbox(dirOf("ses-mail-gmail-forwarder-test"), event, {
        ...env,
        GMAIL_API_URL: google.baseUrl,
        GOOGLE_OAUTH_TOKEN_URL: google.tokenUrl,
        RETRY_QUEUE_URL: retryQueueUrl,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_ENDPOINT_URL_S3: aws.endpoint,
        AWS_ENDPOINT_URL_SSM: aws.endpoint,
        AWS_ENDPOINT_URL_SQS: aws.endpoint,
      });

      // Assess: imported byte for byte and deleted; parked on the retry queue and kept; the unreadable record retried.
      expect(outcome).toMatchObject({ ok: true, result: { batchItemFailures: [{ itemIdentifier: "archive-bad" }] } });
      expect(google.imports).toEqual([expect.objectContaining({ account: "me@gmail.com", body: raw })]);
      expect([...aws.objects.keys()]).toEqual(["bucket/emails/m-archive-parked"]);
      expect(aws.sentMessages).toEqual([{ queueUrl: retryQueueUrl, body: expect.stringContaining('"target":"nobody-yet@gmail.com"') }]);
      // node-fetch, which gaxios would load without a fetch, is not in the archive.
      expect(fs.readdirSync(path.join(dirOf("ses-mail-gmail-forwarder-test"), "node_modules"))).not.toContain("node-fetch");
    } finally {
      await google.close();
      await aws.close();
    }
  });

  it("the bouncer archive sends a DSN through SES, never to a null sender, and reports a record it cannot read", async () => {
    // Prepare
    const aws = await startFakeAws();
    try {
      const env = await environmentWithTable("ses-mail-bouncer-test");
      aws.objects.set("bucket/emails/m-bounce", fixture("plain-text.eml"));
      const bounce = (messageId: string, source: string) =>
        decisionEvent(
          decisionDetail(
            { bounce: [{ recipient: "nobody@test.example.com", match: "default", reason: "no rule matches this address" }] },
            { originalMessageId: messageId, source, s3: { bucket: "bucket", key: `emails/${messageId}` } },
          ),
        );

      // Act
      const outcome = await invokeInLambdaSandbox(
        dirOf("ses-mail-bouncer-test"),
        {
          Records: [
            sqsRecord(bounce("m-bounce", "alice@sender.example"), { messageId: "ok" }),
            sqsRecord(bounce("m-bounce-null", ""), { messageId: "null-sender" }),
            sqsRecord("[]", { messageId: "bad" }),
          ],
        },
        { ...env, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint, AWS_ENDPOINT_URL_S3: aws.endpoint, AWS_ENDPOINT_URL_SES: aws.endpoint },
      );

      // Assess: one DSN, to the sender, for the recipient; the bounced message deleted.
      expect(outcome).toMatchObject({ ok: true, result: { batchItemFailures: [{ itemIdentifier: "bad" }] } });
      expect(aws.sentEmails).toEqual([expect.objectContaining({ destinations: ["alice@sender.example"] })]);
      expect(aws.sentEmails[0]!.source).toMatch(/^MAILER-DAEMON@/);
      const { groups } = await readDsn(aws.sentEmails[0]!.raw);
      expect(groups[1]).toMatchObject({ "Final-Recipient": "rfc822; nobody@test.example.com", Status: "5.1.1" });
      expect([...aws.objects.keys()]).not.toContain("bucket/emails/m-bounce");
    } finally {
      await aws.close();
    }
  });

  it("the credential manager archive creates an SMTP user's IAM identity and removes it, and skips records that are not SMTP users", async () => {
    // Prepare: a pending SMTP user in the table the component named, and a rule's record beside it.
    const aws = await startFakeAws();
    try {
      const env = await environmentWithTable("ses-mail-credential-manager-test");
      const users = new DynamoDbSmtpUsers({ tableName: env.ROUTING_TABLE!, client: dynamo.client });
      const item = smtpUserItem("archived");
      await dynamo.client.send(new PutItemCommand({ TableName: env.ROUTING_TABLE!, Item: marshall(item) }));
      const rule = { PK: "ROUTE#*", SK: "RULE#v1" };
      const sandboxEnv = {
        ...env,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_ENDPOINT_URL_IAM: aws.endpoint,
        AWS_ENDPOINT_URL_KMS: aws.endpoint,
      };
      const iamUser = `ses-smtp-user-archived-${STREAM_RECORD_STAMP}`;

      // Act
      const created = await invokeInLambdaSandbox(
        dirOf("ses-mail-credential-manager-test"),
        { Records: [streamRecord("INSERT", { newImage: rule }), streamRecord("INSERT", { newImage: item })] },
        sandboxEnv,
      );
      const active = await users.get("archived");
      const boundary = aws.iamUsers.get(iamUser)?.permissionsBoundary;
      const removed = await invokeInLambdaSandbox(
        dirOf("ses-mail-credential-manager-test"),
        { Records: [streamRecord("REMOVE", { oldImage: active! })] },
        sandboxEnv,
      );

      // Assess: created under the stack's permissions boundary, credentials encrypted with the stack's key; then removed.
      expect(created).toMatchObject({ ok: true, result: { batchItemFailures: [] } });
      expect(removed).toMatchObject({ ok: true, result: { batchItemFailures: [] } });
      expect(aws.calls.slice(0, 4)).toEqual(["IAM.CreateUser", "IAM.PutUserPolicy", "IAM.CreateAccessKey", "KMS.Encrypt"]);
      expect(active).toMatchObject({ status: "active", iam_user_name: iamUser });
      expect(boundary).toBe(env.SMTP_USER_PERMISSIONS_BOUNDARY);
      expect(boundary).toMatch(/^arn:aws:iam::\d{12}:policy\//);
      expect(aws.calls).toContain("IAM.DeleteUser");
      expect(aws.iamUsers.size).toBe(0);
    } finally {
      await aws.close();
    }
  });

  it("an archive missing a package it needs fails to load, as it would in Lambda", async () => {
    // Prepare: the router's archive without zod (the project's node_modules, above it, has zod).
    const broken = path.join(ARCHIVES_DIR, "synth-cli-router-without-zod");
    fs.rmSync(broken, { recursive: true, force: true });
    fs.cpSync(dirOf("ses-mail-router-enrichment-test"), broken, { recursive: true });
    fs.rmSync(path.join(broken, "node_modules", "zod"), { recursive: true, force: true });

    // Act
    const outcome = await invokeInLambdaSandbox(broken, [], environmentOf("ses-mail-router-enrichment-test"));

    // Assess
    expect(outcome).toMatchObject({ ok: false, error: { message: expect.stringMatching(/Cannot find module 'zod'/) } });
  });
});

describe("ses-mail synth stops where pulumi preview would: the active receipt rule set", () => {
  it("refuses to take over a rule set the stack did not create, and says how to join or replace it", () => {
    const { refused } = runs;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /ses-mail refuses to deploy: the active receipt rule set in eu-west-2 is ses-ruleset-prod, which this stack did not create/,
    );
    expect(refused.stderr).toMatch(
      /set ses-mail:joinExistingRuleSet: ses-ruleset-prod; to replace it on purpose, set ses-mail:replaceActiveRuleSet: ses-ruleset-prod/,
    );
  });
});
