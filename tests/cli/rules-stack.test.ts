import { BatchGetItemCommand, DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { GetParametersByPathCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { GMAIL_INSERT_SCOPE, GMAIL_LABELS_SCOPE } from "../../adapters/gmail/credentials";
import { runCli } from "../../cli/framework";
import { rulesCommands } from "../../cli/rules";
import { PARAMETER_PLACEHOLDER, tokenMetadataParameter } from "../../core/parameters";
import { captureOutput } from "../helpers/cli";

const dynamodb = mockClient(DynamoDBClient);
const ssm = mockClient(SSMClient);
const NOW = new Date("2026-12-01T10:00:00Z");
const NOW_EPOCH = NOW.getTime() / 1000;

function metadata(account: string, value: Record<string, unknown> | string) {
  return {
    Name: tokenMetadataParameter("test", account),
    Value: typeof value === "string" ? value : JSON.stringify({ account, ...value }),
  };
}

describe("ses-mail rules add against a deployed stack: the Gmail tokens its forwards need", () => {
  beforeEach(() => {
    dynamodb.reset();
    ssm.reset();
    dynamodb.on(PutItemCommand).resolves({});
    ssm.on(GetParametersByPathCommand).resolves({
      Parameters: [
        metadata("ready@gmail.com", { expires_at_epoch: NOW_EPOCH + 86400, scopes: [GMAIL_INSERT_SCOPE, GMAIL_LABELS_SCOPE] }),
        metadata("old-consent@gmail.com", { expires_at_epoch: NOW_EPOCH + 86400 }),
        metadata("expired@gmail.com", {
          expires_at: "2026-11-30T10:00:00.000Z",
          expires_at_epoch: NOW_EPOCH - 86400,
          scopes: [GMAIL_INSERT_SCOPE, GMAIL_LABELS_SCOPE],
        }),
        metadata("placeholder@gmail.com", PARAMETER_PLACEHOLDER),
      ],
    });
  });

  async function cli(...argv: string[]) {
    const out = captureOutput();
    const code = await runCli(rulesCommands({ now: () => NOW }), argv, out, { PATH: process.env.PATH });
    return { code, ...out };
  }

  it("adds the rule, and warns with the command to run for each target that is not ready", async () => {
    // Prepare: one target is ready, the others lack a token, have an expired one, or one consented before label access.
    const argv = [
      "rules",
      "add",
      "family@test.example.com",
      "--forward",
      "ready@gmail.com",
      "--label",
      "Family",
      "--forward",
      "new@gmail.com",
      "--forward",
      "expired@gmail.com",
      "--forward",
      "placeholder@gmail.com",
      "--forward",
      "old-consent@gmail.com",
      "--label",
      "Family",
    ];

    // Act
    const result = await cli(...argv, "--stack", "test");

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([
      "warning: no Gmail token for new@gmail.com yet: its mail waits in the retry queue until you run `ses-mail oauth refresh --account new@gmail.com --stack test`",
      "warning: the Gmail token of expired@gmail.com expired 2026-11-30T10:00:00.000Z: its mail waits in the retry queue until you run `ses-mail oauth refresh --account expired@gmail.com --stack test`",
      "warning: no Gmail token for placeholder@gmail.com yet: its mail waits in the retry queue until you run `ses-mail oauth refresh --account placeholder@gmail.com --stack test`",
      'warning: the Gmail token of old-consent@gmail.com was granted without access to labels, so mail arrives without Family (it is still delivered) until you run `ses-mail oauth refresh --account old-consent@gmail.com --stack test` and allow "See and edit your email labels"',
    ]);
    expect(dynamodb.commandCalls(PutItemCommand)).toHaveLength(1);
    expect(result.stdout[0]).toMatch(
      /^added family@test.example.com → forward-to-gmail ready@gmail.com \[Family\], forward-to-gmail new@gmail.com, .* in table ses-mail-email-routing-test \(eu-west-2\)$/,
    );
  });

  it("refuses a rule for a domain the stack does not receive, in SES's words, before reading anything", async () => {
    const result = await cli("rules", "add", "sales@not-my-domain.example", "--forward", "ready@gmail.com", "--stack", "test");

    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe(
      "ses-mail rules add: not added: stack test does not receive mail for not-my-domain.example (its domains: test.example.com): SES refuses it at SMTP time, so this rule would never match. " +
        "Add not-my-domain.example to ses-mail:domains and run pulumi up first. (--force adds it anyway)",
    );
    expect(dynamodb.commandCalls(PutItemCommand)).toHaveLength(0);
  });

  it.each([
    [
      "a domain that does not exist",
      "x@no-such-company.org",
      "x@no-such-company.org: the domain no-such-company.org does not exist, so it cannot be a Gmail or Google Workspace mailbox",
    ],
    [
      "a domain reserved for examples",
      "x@example.net",
      "x@example.net is at example.net, reserved for examples: it cannot be a Gmail mailbox. Forward to a real Gmail or Google Workspace address",
    ],
  ])("refuses a forward to %s, and writes nothing", async (_case, target, reason) => {
    const out = captureOutput();
    const resolveMx = async (domain: string) => {
      throw Object.assign(new Error(`queryMx ENOTFOUND ${domain}`), { code: "ENOTFOUND" });
    };
    const code = await runCli(
      rulesCommands({ now: () => NOW, resolveMx }),
      ["rules", "add", "shop@test.example.com", "--forward", target, "--stack", "test"],
      out,
      { PATH: process.env.PATH },
    );

    expect(code).toBe(1);
    expect(out.stderr).toEqual([`ses-mail rules add: not added: ${reason}. (--force adds it anyway)`]);
    expect(dynamodb.commandCalls(PutItemCommand)).toHaveLength(0);
  });

  it("still adds the rule when the tokens cannot be read, and says it did not check them", async () => {
    ssm
      .on(GetParametersByPathCommand)
      .rejects(Object.assign(new Error("User is not authorized to perform: ssm:GetParametersByPath"), { name: "AccessDeniedException" }));

    const result = await cli("rules", "add", "x@test.example.com", "--forward", "ready@gmail.com", "--stack", "test");

    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([
      expect.stringMatching(
        /^note: could not check the Gmail tokens of stack test \(AWS denied access to the SSM parameters under \/ses-mail\/test\/gmail\/token-metadata\//,
      ),
    ]);
  });

  it("rules test says SES refuses an address of a domain the stack does not receive", async () => {
    dynamodb.on(BatchGetItemCommand).resolves({ Responses: { "ses-mail-email-routing-test": [] } });

    const result = await cli("rules", "test", "who@elsewhere.example", "--stack", "test");

    expect(result.code).toBe(0);
    expect(result.stdout.slice(0, 2)).toEqual([
      "who@elsewhere.example → refused: SES refuses it at SMTP time (the sender gets a 550): stack test does not receive mail for elsewhere.example (its domains: test.example.com); no rule is consulted",
      "  were elsewhere.example one of the stack's domains: → bounce   (no enabled rule: the stack's default action)",
    ]);
  });
});
