import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CloudWatchClient, GetMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
} from "@aws-sdk/client-sfn";
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient } from "@aws-sdk/client-sqs";
import {
  DescribeParametersCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { DynamoDbRuleStore } from "../../adapters/aws/dynamodb-rules";
import { ensureRoutingTable } from "../../adapters/aws/routing-table";
import { GMAIL_INSERT_SCOPE, GMAIL_LABELS_SCOPE, idTokenEmail } from "../../adapters/gmail/credentials";
import { runCli } from "../../cli/framework";
import { oauthCommands, type OAuthDeps } from "../../cli/oauth";
import { sameGoogleAccount, startConsent } from "../../cli/oauth-flow";
import { PARAMETER_PLACEHOLDER } from "../../core/parameters";
import { createRuleCodec } from "../../core/rules";
import { routingTableName } from "../../core/table";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";
import { CONSENT_CLIENT, startFakeConsent, type FakeConsent } from "../helpers/google-consent";
import { captureOutput } from "../helpers/cli";

const NOW = new Date("2026-11-28T10:00:00.000Z");
const NOW_EPOCH = NOW.getTime() / 1000;
const RETRY_PROCESSOR_ARN = "arn:aws:states:eu-west-2:123456789012:stateMachine:ses-mail-gmail-forwarder-retry-processor-test";
const EXECUTION_ARN = "arn:aws:states:eu-west-2:123456789012:execution:ses-mail-gmail-forwarder-retry-processor-test:run-1";
const RETRY_QUEUE_URL = "https://sqs.eu-west-2.amazonaws.com/123456789012/ses-mail-gmail-forwarder-retry-test";
const CLIENT_PARAMETER = "/ses-mail/test/gmail/oauth-client";
const TOKEN_PARAMETER = "/ses-mail/test/gmail/tokens/alice_at_gmail.com";
const METADATA_PARAMETER = "/ses-mail/test/gmail/token-metadata/alice_at_gmail.com";

/** RFC 7636 §4.2: the S256 challenge of a verifier. */
function s256(verifier: string): string {
  return createHash("sha256").update(verifier, "ascii").digest("base64url");
}

const ssm = mockClient(SSMClient);
const sqs = mockClient(SQSClient);
const sfn = mockClient(SFNClient);
const cloudwatch = mockClient(CloudWatchClient);

function exited(name: string) {
  return { type: "TaskStateExited" as const, timestamp: NOW, id: 1, stateExitedEventDetails: { name } };
}

/** A deployed stack: the client stored, the retry processor there, its queue holding two messages. */
function deployedStack(clientValue: string = JSON.stringify({ installed: { ...CONSENT_CLIENT, redirect_uris: ["http://localhost"] } })) {
  ssm.on(GetParameterCommand, { Name: CLIENT_PARAMETER }).resolves({ Parameter: { Name: CLIENT_PARAMETER, Value: clientValue } });
  ssm.on(PutParameterCommand).resolves({ Version: 2 });
  sqs.on(GetQueueUrlCommand, { QueueName: "ses-mail-gmail-forwarder-retry-test" }).resolves({ QueueUrl: RETRY_QUEUE_URL });
  sqs.on(GetQueueAttributesCommand).resolves({
    Attributes: { ApproximateNumberOfMessages: "3", ApproximateNumberOfMessagesNotVisible: "0", ApproximateNumberOfMessagesDelayed: "1" },
  });
  sfn.on(ListStateMachinesCommand).resolves({
    stateMachines: [
      { name: "ses-mail-gmail-token-monitor-test", stateMachineArn: "arn:other", type: "EXPRESS", creationDate: NOW },
      { name: "ses-mail-gmail-forwarder-retry-processor-test", stateMachineArn: RETRY_PROCESSOR_ARN, type: "STANDARD", creationDate: NOW },
    ],
  });
  sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION_ARN, startDate: NOW });
  sfn
    .on(DescribeExecutionCommand)
    .resolvesOnce({ executionArn: EXECUTION_ARN, stateMachineArn: RETRY_PROCESSOR_ARN, status: "RUNNING", startDate: NOW })
    .resolves({ executionArn: EXECUTION_ARN, stateMachineArn: RETRY_PROCESSOR_ARN, status: "SUCCEEDED", startDate: NOW });
  sfn
    .on(GetExecutionHistoryCommand)
    .resolvesOnce({ events: [exited("ReceiveBatch"), exited("DeleteDelivered")] })
    .resolves({ events: [exited("ReceiveBatch"), exited("DeleteDelivered"), exited("DeleteDelivered"), exited("DeleteDeadLettered")] });
}

function putValue(name: string) {
  return ssm.commandCalls(PutParameterCommand).find((c) => c.args[0].input.Name === name)?.args[0].input;
}

describe("ses-mail oauth refresh against a scripted Google and browser", () => {
  let google: FakeConsent;
  let deps: Partial<OAuthDeps>;
  let clock: number;

  beforeAll(async () => {
    google = await startFakeConsent();
  });
  afterAll(() => google.close());
  beforeEach(() => {
    ssm.reset();
    sqs.reset();
    sfn.reset();
    cloudwatch.reset();
    google.consent = { kind: "allow", signedInAs: "alice@gmail.com" };
    google.token = { kind: "ok" };
    google.authorizations.length = 0;
    google.exchanges.length = 0;
    google.issued.length = 0;
    google.pages.length = 0;
    clock = NOW.getTime();
    deps = {
      google: { authorizationUrl: google.authorizationUrl, tokenUrl: google.tokenUrl },
      openBrowser: (url) => google.browser(url),
      consentTimeoutMs: 5000,
      now: () => NOW,
      follow: { pollIntervalMs: 1, timeoutMs: 60_000, sleep: async () => void (clock += 3000), now: () => new Date(clock) },
    };
  });

  async function cli(...argv: string[]) {
    const out = captureOutput();
    const code = await runCli(oauthCommands(deps), argv, out, { PATH: process.env.PATH });
    return { code, ...out };
  }

  it("authorizes an account of a Testing app: stores token and 7-day metadata, then replays the retry queue to the end", async () => {
    deployedStack();

    const result = await cli("oauth", "refresh", "--account", "Alice@Gmail.com", "--testing-app", "--stack", "test");

    expect(result.stderr.join("\n")).not.toMatch(/unexpected/);
    expect(result.code).toBe(0);
    // What Google was asked for: the loopback, PKCE, offline access with a fresh consent, the narrow Gmail scope.
    const asked = google.authorizations[0]!;
    expect(asked).toMatchObject({
      client_id: CONSENT_CLIENT.client_id,
      response_type: "code",
      code_challenge_method: "S256",
      access_type: "offline",
      prompt: "consent",
      login_hint: "alice@gmail.com",
    });
    expect(asked.redirect_uri).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(asked.scope!.split(" ")).toEqual(["openid", "email", GMAIL_INSERT_SCOPE, GMAIL_LABELS_SCOPE]);
    const verifier = google.exchanges[0]!.code_verifier!;
    expect(verifier).toMatch(/^[A-Za-z0-9\-._~]{43,128}$/); // RFC 7636 §4.1
    expect(s256(verifier)).toBe(asked.code_challenge);
    expect(google.pages[0]).toMatchObject({ status: 200, text: expect.stringContaining("ses-mail is authorized") });

    const token = putValue(TOKEN_PARAMETER)!;
    expect(token).toMatchObject({ Type: "SecureString", Overwrite: true });
    expect(JSON.parse(token.Value!)).toEqual({
      refresh_token: google.issued[0],
      created_at: NOW.toISOString(),
      expires_at: "2026-12-05T10:00:00.000Z",
    });
    const metadata = putValue(METADATA_PARAMETER)!;
    expect(metadata.Type).toBe("String");
    expect(JSON.parse(metadata.Value!)).toEqual({
      account: "alice@gmail.com",
      created_at: NOW.toISOString(),
      expires_at: "2026-12-05T10:00:00.000Z",
      expires_at_epoch: NOW_EPOCH + 7 * 24 * 3600,
      expiry_basis: "testing-app-7-days",
      // What the consent granted: `rules add` and `oauth status` read whether labels by name work.
      scopes: ["openid", "email", GMAIL_INSERT_SCOPE, GMAIL_LABELS_SCOPE],
    });

    expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.stateMachineArn).toBe(RETRY_PROCESSOR_ARN);
    expect(result.stderr).toEqual(
      expect.arrayContaining([expect.stringContaining("1 delivered, 0 moved"), expect.stringContaining("2 delivered, 1 moved")]),
    );
    expect(result.stdout).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^stored the refresh token for alice@gmail.com in SSM \/ses-mail\/test\/gmail\/tokens\/alice_at_gmail.com/),
        expect.stringMatching(/^retry queue replayed in .*: 2 delivered, 1 moved to the retry DLQ$/),
        "look at the failures and send them back with: ses-mail dlq redrive --queue retry --stack test",
      ]),
    );
  });

  it("gives a token of an app In production a re-authorization date 180 days ahead, so the monitor has a number", async () => {
    deployedStack();
    const result = await cli("oauth", "refresh", "--account", "alice@gmail.com", "--stack", "test", "--no-replay");
    expect(result.code).toBe(0);
    expect(JSON.parse(putValue(TOKEN_PARAMETER)!.Value!)).toMatchObject({ expires_at: "2027-05-27T10:00:00.000Z" });
    expect(JSON.parse(putValue(METADATA_PARAMETER)!.Value!)).toMatchObject({
      expires_at: "2027-05-27T10:00:00.000Z",
      expires_at_epoch: NOW_EPOCH + 180 * 24 * 3600,
      expiry_basis: "unused-limit-6-months",
    });
    expect(result.stdout[1]).toMatch(
      /^re-authorize by 2027-05-27T10:00:00.000Z: an app In production has no fixed expiry, but Google drops a token unused for 6 months/,
    );
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("stores a consent that left out label access, saying that labels by name will not be applied for the account", async () => {
    deployedStack();
    google.consent = { kind: "allow", signedInAs: "alice@gmail.com", grantedScopes: `openid email ${GMAIL_INSERT_SCOPE}` };

    const result = await cli("oauth", "refresh", "--account", "alice@gmail.com", "--stack", "test", "--no-replay");

    expect(result.code).toBe(0);
    expect(result.stderr).toContainEqual(
      expect.stringMatching(
        /^warning: alice@gmail.com did not allow "See and edit your email labels": mail is delivered, but rules' labels by name .* are not applied/,
      ),
    );
    expect(JSON.parse(putValue(METADATA_PARAMETER)!.Value!)).toMatchObject({ scopes: ["openid", "email", GMAIL_INSERT_SCOPE] });
  });

  it("keeps the description Pulumi gave an existing parameter, so a refresh shows no drift", async () => {
    deployedStack();
    ssm.on(DescribeParametersCommand, { ParameterFilters: [{ Key: "Name", Option: "Equals", Values: [TOKEN_PARAMETER] }] }).resolves({
      Parameters: [
        {
          Name: TOKEN_PARAMETER,
          Type: "SecureString",
          Description: "Gmail refresh token of alice@gmail.com; set with the ses-mail CLI (Pulumi)",
        },
      ],
    });
    const result = await cli("oauth", "refresh", "--account", "alice@gmail.com", "--stack", "test", "--no-replay");
    expect(result.code).toBe(0);
    expect(putValue(TOKEN_PARAMETER)!.Description).toBe("Gmail refresh token of alice@gmail.com; set with the ses-mail CLI (Pulumi)");
    // A parameter the CLI creates gets the same wording the stack would have given it.
    expect(putValue(METADATA_PARAMETER)!.Description).toBe(
      "Expiry of the Gmail refresh token of alice@gmail.com; read by the token monitor",
    );
  });

  it("says how to upload the client when SSM still holds the placeholder, and never opens the browser", async () => {
    deployedStack(PARAMETER_PLACEHOLDER);
    const result = await cli("oauth", "refresh", "--account", "alice@gmail.com", "--stack", "test");
    expect(result.code).toBe(1);
    expect(result.stderr.join("\n")).toMatch(
      /no Google OAuth client yet .*is the placeholder.*ses-mail oauth set-client FILE --stack test/,
    );
    expect(google.authorizations).toHaveLength(0);
  });

  it.each([
    ["the person declines consent", () => void (google.consent = { kind: "deny" }), /consent was declined.*choose Allow.*test user/],
    [
      "the client secret is wrong (invalid_client)",
      () => void (google.token = { kind: "error", status: 401, error: "invalid_client", description: "Unauthorized" }),
      /does not accept the stored OAuth client \(invalid_client \(Unauthorized\)\).*set-client/,
    ],
    [
      "the redirect is refused (redirect_uri_mismatch)",
      () => void (google.token = { kind: "error", status: 400, error: "redirect_uri_mismatch" }),
      /redirect_uri_mismatch.*"Desktop app"/,
    ],
    [
      "Google sends no refresh token",
      () => void (google.token = { kind: "no-refresh-token" }),
      /no refresh token.*myaccount.google.com\/permissions/,
    ],
    [
      "another account signs in",
      () => void (google.consent = { kind: "allow", signedInAs: "bob@gmail.com" }),
      /signed in as bob@gmail.com, not alice@gmail.com: nothing was stored/,
    ],
    [
      "the Gmail permission is unticked",
      () => void (google.consent = { kind: "allow", signedInAs: "alice@gmail.com", grantedScopes: "openid email" }),
      /did not grant "Add emails into your Gmail mailbox"/,
    ],
  ])("when %s: a one-line reason with what to do, exit 1, nothing stored", async (_case, script, reason) => {
    deployedStack();
    script();
    const result = await cli("oauth", "refresh", "--account", "alice@gmail.com", "--stack", "test");
    expect(result.code).toBe(1);
    expect(result.stderr[result.stderr.length - 1]).toMatch(reason);
    expect(ssm.commandCalls(PutParameterCommand)).toHaveLength(0);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it("gives up after the consent timeout with what to check, when Google shows its own error page", async () => {
    deployedStack();
    google.consent = { kind: "error-page", error: "redirect_uri_mismatch" };
    deps = { ...deps, consentTimeoutMs: 300 };
    const result = await cli("oauth", "refresh", "--account", "alice@gmail.com", "--stack", "test");
    expect(result.code).toBe(1);
    expect(result.stderr[result.stderr.length - 1]).toMatch(/no answer from the browser within 0 s.*redirect_uri_mismatch.*ssh -L/);
    expect(ssm.commandCalls(PutParameterCommand)).toHaveLength(0);
  });

  it("ignores a request to the loopback that does not carry our state, and completes with the real one", async () => {
    deployedStack();
    deps = {
      ...deps,
      openBrowser: async (url) => {
        const redirect = new URL(url).searchParams.get("redirect_uri")!;
        const forged = await fetch(`${redirect}/?code=forged&state=wrong`);
        google.pages.push({ status: forged.status, text: await forged.text() });
        return google.browser(url);
      },
    };
    const result = await cli("oauth", "refresh", "--account", "alice@gmail.com", "--stack", "test", "--no-replay");
    expect(result.code).toBe(0);
    expect(google.pages[0]!.status).toBe(400);
    expect(google.exchanges.map((form) => form.code)).not.toContain("forged");
  });

  it("prints the URL and how to forward the port when there is no browser", async () => {
    deployedStack();
    let printed = "";
    deps = { ...deps, openBrowser: async () => false };
    const out = captureOutput();
    const running = runCli(
      oauthCommands(deps),
      ["oauth", "refresh", "--account", "alice@gmail.com", "--stack", "test", "--no-replay"],
      {
        ...out,
        note: (text) => {
          out.note(text);
          if (text.trim().startsWith("http")) printed = text.trim();
          // The person copies the URL into a browser elsewhere.
          if (text.startsWith("no browser started here")) void google.browser(printed);
        },
      },
      { PATH: "" },
    );
    expect(await running).toBe(0);
    expect(out.stderr.join("\n")).toMatch(/no browser started here: open the URL yourself.*ssh -L (\d+):127\.0\.0\.1:\1/);
    expect(printed).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/o\/oauth2\/v2\/auth\?/);
  });

  it("reports a failed replay with its cause and execution", async () => {
    deployedStack();
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION_ARN,
      stateMachineArn: RETRY_PROCESSOR_ARN,
      status: "FAILED",
      startDate: NOW,
      error: "States.TaskFailed",
      cause: "Lambda.ServiceException",
    });
    const result = await cli("oauth", "refresh", "--account", "alice@gmail.com", "--stack", "test");
    expect(result.code).toBe(1);
    expect(result.stdout[0]).toMatch(/^stored the refresh token/);
    expect(result.stderr[result.stderr.length - 1]).toMatch(
      /retry processor ended FAILED \(States.TaskFailed: Lambda.ServiceException\).*hourly run.*run-1/,
    );
  });

  it("stops following a long replay at the wait limit and says it continues in AWS", async () => {
    deployedStack();
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: EXECUTION_ARN, stateMachineArn: RETRY_PROCESSOR_ARN, status: "RUNNING", startDate: NOW });
    const result = await cli("oauth", "refresh", "--account", "alice@gmail.com", "--stack", "test", "--wait-minutes", "1");
    expect(result.code).toBe(1);
    expect(result.stderr[result.stderr.length - 1]).toMatch(/still running after 1 min .*carries on in AWS.*ses-mail status --stack test/);
    // 60 s at 3 s per look: it looked about 20 times, not forever.
    expect(sfn.commandCalls(DescribeExecutionCommand).length).toBeGreaterThanOrEqual(20);
    expect(sfn.commandCalls(DescribeExecutionCommand).length).toBeLessThanOrEqual(22);
  });

  it.each([
    [["oauth", "refresh", "--stack", "test"], /--account ADDRESS/],
    [["oauth", "refresh", "--account", "not-an-address", "--stack", "test"], /--account: invalid address/],
    [["oauth", "refresh", "--account", "a@gmail.com", "--stack", "test", "--port", "80"], /--port must be a whole number from 1024/],
    [["oauth", "refresh", "--account", "a@gmail.com"], /say which stack: --stack NAME/],
    [["oauth", "refresh", "--account", "a@gmail.com", "--stack", "nosuch"], /no Pulumi.nosuch.yaml/],
    [["oauth", "set-client", "/nonexistent/client.json", "--stack", "test"], /cannot read \/nonexistent\/client.json: ENOENT/],
  ])("%j is a user error with a one-line reason", async (argv, reason) => {
    const result = await cli(...argv);
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toMatch(reason);
  });
});

describe("ses-mail oauth set-client", () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-oauth-"))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => ssm.reset());

  async function cli(...argv: string[]) {
    const out = captureOutput();
    const code = await runCli(oauthCommands({ now: () => NOW }), argv, out, { PATH: process.env.PATH });
    return { code, ...out };
  }

  it("stores a Desktop app client as a SecureString", async () => {
    ssm.on(PutParameterCommand).resolves({ Version: 1 });
    const file = path.join(dir, "client.json");
    fs.writeFileSync(file, JSON.stringify({ installed: { ...CONSENT_CLIENT, project_id: "p" } }, null, 2));
    const result = await cli("oauth", "set-client", file, "--stack", "test");
    expect(result.code).toBe(0);
    const input = ssm.commandCalls(PutParameterCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ Name: CLIENT_PARAMETER, Type: "SecureString", Overwrite: true });
    expect(JSON.parse(input.Value!)).toEqual({ installed: { ...CONSENT_CLIENT, project_id: "p" } });
    expect(result.stdout[0]).toBe(`stored OAuth client ${CONSENT_CLIENT.client_id} in SSM ${CLIENT_PARAMETER} (stack test (eu-west-2))`);
  });

  it.each([
    ["a Web application client", { web: CONSENT_CLIENT }, /"Web application" client; ses-mail needs a "Desktop app" client/],
    ["something else", { hello: "world" }, /is not a Google OAuth client file/],
    ["not JSON", "client_id=x", /is not JSON/],
  ])("refuses %s and stores nothing", async (_what, content, reason) => {
    const file = path.join(dir, "bad.json");
    fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
    const result = await cli("oauth", "set-client", file, "--stack", "test");
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toMatch(reason);
    expect(ssm.commandCalls(PutParameterCommand)).toHaveLength(0);
  });

  it("explains missing credentials and a missing permission instead of a stack trace", async () => {
    const file = path.join(dir, "client.json");
    fs.writeFileSync(file, JSON.stringify({ installed: CONSENT_CLIENT }));
    ssm.on(PutParameterCommand).rejects(
      Object.assign(new Error("User: arn:aws:iam::1:user/x is not authorized to perform: ssm:PutParameter"), {
        name: "AccessDeniedException",
      }),
    );
    const denied = await cli("oauth", "set-client", file, "--stack", "test");
    expect(denied.code).toBe(1);
    expect(denied.stderr[0]).toMatch(/AWS denied access to SSM \/ses-mail\/test\/gmail\/oauth-client \(AccessDeniedException/);

    ssm
      .on(PutParameterCommand)
      .rejects(Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" }));
    const anonymous = await cli("oauth", "set-client", file, "--stack", "test");
    expect(anonymous.stderr[0]).toMatch(/no AWS credentials: set AWS_PROFILE/);
  });
});

describe("ses-mail oauth status", () => {
  let dynamo: LocalDynamo;
  const table = routingTableName("test");

  beforeAll(async () => {
    dynamo = await startDynalite();
    await ensureRoutingTable(dynamo.client, table);
    const store = new DynamoDbRuleStore({ tableName: table, client: dynamo.client });
    const codec = createRuleCodec();
    for (const [pattern, target] of [
      ["*@test.example.com", "alice@gmail.com"],
      ["receipts@test.example.com", "carol@gmail.com"],
    ] as const) {
      await store.putRuleItem(
        codec.toItem({
          pattern,
          enabled: true,
          actions: [{ type: "forward-to-gmail", target }],
          createdAt: NOW.toISOString(),
          updatedAt: NOW.toISOString(),
        }),
      );
    }
  });
  afterAll(() => dynamo.close());
  beforeEach(() => {
    ssm.reset();
    sqs.reset();
    cloudwatch.reset();
  });

  async function cli(...argv: string[]) {
    const out = captureOutput();
    const code = await runCli(oauthCommands({ now: () => NOW }), argv, out, {
      PATH: process.env.PATH,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    });
    return { code, ...out };
  }

  function tokens() {
    ssm.on(GetParametersByPathCommand).resolves({
      Parameters: [
        {
          Name: METADATA_PARAMETER,
          Value: JSON.stringify({
            account: "alice@gmail.com",
            created_at: "2026-11-23T10:00:00.000Z",
            expires_at: "2026-11-30T10:00:00.000Z",
            expires_at_epoch: NOW_EPOCH + 2 * 86400,
            scopes: [GMAIL_INSERT_SCOPE, GMAIL_LABELS_SCOPE],
          }),
        },
        { Name: "/ses-mail/test/gmail/token-metadata/bob_at_gmail.com", Value: PARAMETER_PLACEHOLDER },
        {
          Name: "/ses-mail/test/gmail/token-metadata/dave_at_gmail.com",
          Value: JSON.stringify({
            account: "dave@gmail.com",
            created_at: "2026-06-01T10:00:00.000Z",
            expires_at: "2026-11-28T10:00:00.000Z",
            expires_at_epoch: NOW_EPOCH + 3 * 86400,
            expiry_basis: "unused-limit-6-months",
          }),
        },
      ],
    });
    sqs.on(GetQueueUrlCommand).resolves({ QueueUrl: RETRY_QUEUE_URL });
    sqs.on(GetQueueAttributesCommand).resolves({
      Attributes: {
        ApproximateNumberOfMessages: "4",
        ApproximateNumberOfMessagesNotVisible: "1",
        ApproximateNumberOfMessagesDelayed: "0",
      },
    });
    cloudwatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: "overall", Timestamps: [new Date(NOW.getTime() - 120_000)], Values: [-1] },
        { Id: "a0", Timestamps: [new Date(NOW.getTime() - 120_000)], Values: [2 * 86400 + 120] },
        { Id: "a1", Timestamps: [], Values: [] },
      ],
    });
  }

  it("shows each account's age and expiry, accounts rules need, the retry queue and the monitor", async () => {
    tokens();
    const result = await cli("oauth", "status", "--stack", "test");
    expect(result.code).toBe(0);
    const rows = result.stdout.map((line) => line.replace(/\s{2,}/g, " | "));
    expect(rows).toEqual([
      "ACCOUNT | TOKEN | EXPIRY | MONITOR",
      "alice@gmail.com | authorized 5 d ago | expires in 2 d | 2 d left (published 2 min ago)",
      "bob_at_gmail.com | not authorized yet (placeholder) | no value in the last 30 min (is the token monitor running?)",
      "dave@gmail.com | authorized 180 d ago | re-authorize within 3 d | no value in the last 30 min (is the token monitor running?)",
      // dave's consent predates label access (no scopes recorded): what that means and what to run.
      "dave@gmail.com: authorized before ses-mail asked for label access: labels rules name (--label Receipts) are not applied to its mail until `ses-mail oauth refresh --account dave@gmail.com --stack test`",
      "carol@gmail.com: a rule forwards here but it has no token; run ses-mail oauth refresh --account carol@gmail.com --stack test",
      "retry queue: 4 waiting, 1 in flight, 0 delayed",
      "token monitor (minimum over accounts): expiry unknown (published 2 min ago)",
    ]);
    // The monitor was asked for the overall minimum and one series per account key.
    const queries = cloudwatch.commandCalls(GetMetricDataCommand)[0]!.args[0].input.MetricDataQueries!;
    expect(queries.map((q) => q.MetricStat?.Metric?.Dimensions?.[0]?.Value ?? "overall")).toEqual([
      "overall",
      "alice_at_gmail.com",
      "bob_at_gmail.com",
      "dave_at_gmail.com",
    ]);
    expect(queries[0]!.MetricStat!.Metric!.Namespace).toBe("SESMail/test");
  });

  it("gives the same as data with --json", async () => {
    tokens();
    const result = await cli("oauth", "status", "--stack", "test", "--json");
    expect(result.jsonValues[0]).toMatchObject({
      stack: "test",
      accounts: [
        {
          account: "alice@gmail.com",
          authorized: true,
          ageSeconds: 5 * 86400,
          secondsLeft: 2 * 86400,
          monitorSeconds: 2 * 86400 + 120,
          usedByRules: true,
          labelAccess: true,
        },
        { account: "bob_at_gmail.com", authorized: false, problem: "not authorized yet (placeholder)", usedByRules: false },
        { account: "dave@gmail.com", authorized: true, secondsLeft: 3 * 86400, expiryBasis: "unused-limit-6-months", labelAccess: null },
      ],
      unauthorizedRuleTargets: ["carol@gmail.com"],
      retryQueue: { visible: 4, inFlight: 1, delayed: 0, exists: true },
      monitor: { secondsUntilExpiration: -1 },
    });
  });
});

describe("OAuth flow pieces", () => {
  it("builds the authorization URL Google's installed-app flow expects, with a fresh PKCE challenge each time", async () => {
    const args = {
      client: { clientId: "c", clientSecret: "s" },
      google: { authorizationUrl: "https://accounts.google.com/o/oauth2/v2/auth", tokenUrl: "https://oauth2.googleapis.com/token" },
      redirectUri: "http://127.0.0.1:5555",
      state: "st",
      loginHint: "a@gmail.com",
    };
    const [first, second] = [await startConsent(args), await startConsent(args)];
    const url = new URL(first.url);
    expect(url.origin + url.pathname).toBe("https://accounts.google.com/o/oauth2/v2/auth");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: "c",
      redirect_uri: "http://127.0.0.1:5555",
      response_type: "code",
      scope: `openid email ${GMAIL_INSERT_SCOPE} ${GMAIL_LABELS_SCOPE}`,
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: "S256",
      state: "st",
      access_type: "offline",
      prompt: "consent",
      login_hint: "a@gmail.com",
    });
    expect(new URL(second.url).searchParams.get("code_challenge")).not.toBe(url.searchParams.get("code_challenge"));
  });

  it.each([
    ["first.last@gmail.com", "FirstLast@googlemail.com", true],
    ["first.last@example.com", "firstlast@example.com", false],
    ["a@gmail.com", "b@gmail.com", false],
  ])("%s and %s are the same Google account: %s", (a, b, same) => {
    expect(sameGoogleAccount(a, b)).toBe(same);
  });

  it("reads the email claim of an ID token and tolerates garbage", () => {
    const token = `x.${Buffer.from(JSON.stringify({ email: "a@gmail.com" })).toString("base64url")}.y`;
    expect(idTokenEmail(token)).toBe("a@gmail.com");
    expect(idTokenEmail("garbage")).toBeUndefined();
    expect(idTokenEmail("a.!!!.b")).toBeUndefined();
  });
});
