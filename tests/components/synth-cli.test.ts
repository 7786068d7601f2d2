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
import { DynamoDbRuleStore } from "../../adapters/aws/dynamodb-rules";
import { ensureRoutingTable } from "../../adapters/aws/routing-table";
import { oauthClientParameter, refreshTokenParameter } from "../../core/parameters";
import { createRuleCodec } from "../../core/rules";
import { decisionEvent, fixture } from "../helpers/delivery";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";
import { decisionDetail, sesNotification, sqsRecord } from "../helpers/factories";
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

  it("the router routes a message against dynalite with the environment the component set", async () => {
    // Prepare: the table the component named, on dynalite, with a rule.
    const env = environmentOf("ses-mail-router-enrichment-test");
    await ensureRoutingTable(dynamo.client, env.ROUTING_TABLE!);
    await new DynamoDbRuleStore({ tableName: env.ROUTING_TABLE!, client: dynamo.client }).putRuleItem(
      createRuleCodec().toItem({
        pattern: "*@test.example.com",
        enabled: true,
        actions: [{ type: "forward-to-gmail", target: "me@gmail.com" }],
      }),
    );

    // Act
    const outcome = await invokeInLambdaSandbox(
      dirOf("ses-mail-router-enrichment-test"),
      [sqsRecord(sesNotification({ recipients: ["Someone@test.example.com", "x@elsewhere.org"] }))],
      {
        ...env,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      },
    );

    // Assess
    expect(outcome).toMatchObject({ ok: true });
    const [decision] = (outcome as { result: Array<{ actions: Record<string, { targets: unknown[] }> }> }).result;
    expect(decision!.actions["forward-to-gmail"]!.targets).toEqual([
      expect.objectContaining({ recipient: "someone@test.example.com", target: "me@gmail.com", match: "domain" }),
    ]);
    expect(decision!.actions.bounce!.targets).toEqual([expect.objectContaining({ recipient: "x@elsewhere.org", match: "default" })]);
  });

  it.each([
    ["ses-mail-gmail-forwarder-test", "forwarder"],
    ["ses-mail-bouncer-test", "bouncer"],
  ])("the %s archive loads and reports a record it cannot read as a partial batch failure", async (functionName) => {
    const outcome = await invokeInLambdaSandbox(
      dirOf(functionName),
      { Records: [sqsRecord("{not json", { messageId: "bad-1" })] },
      environmentOf(functionName),
    );
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
      const event = {
        Records: [
          sqsRecord(
            decisionEvent(
              decisionDetail(
                { "forward-to-gmail": [target] },
                { originalMessageId: "m-archive", s3: { bucket: "bucket", key: "emails/m-archive" } },
              ),
            ),
          ),
        ],
      };

      // Act
      const outcome = await invokeInLambdaSandbox(dirOf("ses-mail-gmail-forwarder-test"), event, {
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
      expect(fs.readdirSync(path.join(dirOf("ses-mail-gmail-forwarder-test"), "node_modules"))).not.toContain("node-fetch");
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
      dynamodb: {
        Keys: { PK: { S: "ROUTE#*" }, SK: { S: "RULE#v1" } },
        NewImage: { PK: { S: "ROUTE#*" }, SK: { S: "RULE#v1" } },
        SequenceNumber: "1",
        StreamViewType: "NEW_AND_OLD_IMAGES",
      },
    };
    const outcome = await invokeInLambdaSandbox(
      dirOf("ses-mail-credential-manager-test"),
      { Records: [record] },
      environmentOf("ses-mail-credential-manager-test"),
    );
    expect(outcome).toMatchObject({ ok: true, result: { batchItemFailures: [] } });
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
