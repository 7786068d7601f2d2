import { DeleteTableCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDbRuleStore } from "../../adapters/aws/dynamodb-rules";
import { ensureRoutingTable } from "../../adapters/aws/routing-table";
import { runCli } from "../../cli/framework";
import { rulesCommands } from "../../cli/rules";
import type { RuleCheckDeps } from "../../cli/rule-checks";
import { routingTableName } from "../../core/table";
import { captureOutput } from "../helpers/cli";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";

/** A DNS with a fixed zone: MX records by domain; a missing domain is NXDOMAIN, `slow-company.org` times out. */
function zone(mx: Record<string, string[]>): RuleCheckDeps["resolveMx"] {
  return async (domain) => {
    if (domain === "slow-company.org") throw Object.assign(new Error("queryMx ETIMEOUT slow-company.org"), { code: "ETIMEOUT" });
    const hosts = mx[domain];
    if (hosts === undefined) throw Object.assign(new Error(`queryMx ENOTFOUND ${domain}`), { code: "ENOTFOUND" });
    if (hosts.length === 0) throw Object.assign(new Error(`queryMx ENODATA ${domain}`), { code: "ENODATA" });
    return hosts.map((exchange, priority) => ({ exchange, priority }));
  };
}

const DNS = zone({
  "workspace-company.org": ["aspmx.l.google.com", "alt1.aspmx.l.google.com"],
  "elsewhere-company.org": ["mx1.elsewhere-company.org"],
  "no-mx-company.org": [],
});

describe("ses-mail rules add checks a rule against local mode's stack (the test stack: test.example.com)", () => {
  let dynamo: LocalDynamo;
  let env: NodeJS.ProcessEnv;
  const table = routingTableName("local");
  const commands = rulesCommands({ resolveMx: DNS });

  beforeAll(async () => {
    dynamo = await startDynalite();
    env = { PATH: process.env.PATH, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint };
  });
  afterAll(() => dynamo.close());
  beforeEach(async () => {
    await dynamo.client.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
    await ensureRoutingTable(dynamo.client, table);
  });

  async function cli(...argv: string[]) {
    const out = captureOutput();
    const code = await runCli(commands, argv, out, env);
    return { code, ...out };
  }

  async function patterns(): Promise<string[]> {
    const listed = await cli("rules", "list", "--json", "--local");
    return (listed.jsonValues[0] as Array<{ pattern: string }>).map((rule) => rule.pattern);
  }

  it("refuses a rule for a domain the stack does not receive, and writes nothing", async () => {
    const result = await cli("rules", "add", "sales@not-my-domain.example", "--forward", "a@gmail.com", "--local");

    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([
      "ses-mail rules add: not added: local mode refuses mail for not-my-domain.example at RCPT (550 5.1.1): it is not a domain of stack test (test.example.com), so this rule would never match. (--force adds it anyway)",
    ]);
    expect(await patterns()).toEqual([]);
  });

  it("writes it anyway with --force, saying what was overridden", async () => {
    const result = await cli("rules", "add", "*@soon.example", "--drop", "--force", "--local");

    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([expect.stringMatching(/^warning \(--force\): local mode refuses mail for soon.example at RCPT/)]);
    expect(await patterns()).toEqual(["*@soon.example"]);
  });

  it.each([
    [
      "a domain that does not exist",
      "x@no-such-company.org",
      /^warning: x@no-such-company.org: the domain no-such-company.org does not exist, so it cannot be a Gmail or Google Workspace mailbox \(a deployed stack refuses this; local mode delivers it to a Maildir all the same\)$/,
    ],
    [
      "a domain reserved for examples",
      "x@example.net",
      /^warning: x@example.net is at example.net, reserved for examples: it cannot be a Gmail mailbox\. .*\(a deployed stack refuses this; local mode/,
    ],
  ])("only warns, locally, about a forward to %s (a Maildir takes it)", async (_case, target, warning) => {
    const result = await cli("rules", "add", "shop@test.example.com", "--forward", target, "--local");
    expect(result.code).toBe(0);
    expect(result.stderr).toEqual([expect.stringMatching(warning)]);
    expect(await patterns()).toEqual(["shop@test.example.com"]);
  });

  it.each([
    ["gmail.com", "me@gmail.com", []],
    ["a Google Workspace domain (MX at Google)", "me@workspace-company.org", []],
    [
      "a domain whose mail goes elsewhere",
      "me@elsewhere-company.org",
      [
        /^warning: me@elsewhere-company.org: mail for elsewhere-company.org goes to mx1.elsewhere-company.org, not to Google\. .*only if it is a Google Workspace account$/,
      ],
    ],
    [
      "a domain without MX",
      "me@no-mx-company.org",
      [/^warning: me@no-mx-company.org: mail for no-mx-company.org has no MX record, not to Google/],
    ],
    [
      "a domain DNS cannot answer for now",
      "me@slow-company.org",
      [/^note: could not check whether me@slow-company.org is a Gmail or Google Workspace mailbox \(DNS: ETIMEOUT\)$/],
    ],
  ])("adds a forward to %s, warning when it may not be a Gmail mailbox", async (_case, target, warnings) => {
    const result = await cli("rules", "add", "shop@test.example.com", "--forward", target, "--label", "Shops/Receipts", "--local");

    expect(result.code).toBe(0);
    expect(result.stderr).toEqual(warnings.map((warning) => expect.stringMatching(warning)));
    expect(result.stdout).toEqual([
      `added shop@test.example.com → forward-to-gmail ${target} [Shops/Receipts] in local table ses-mail-email-routing-local at ${dynamo.endpoint}`,
    ]);
  });

  it.each([
    [["--forward", "not-an-address"], "cannot add a rule for x@test.example.com: --forward not-an-address: not an email address"],
    [
      ["--forward", "a@gmail.com", "--label", "Shops//Receipts"],
      'cannot add a rule for x@test.example.com: --forward a@gmail.com labels: label "Shops//Receipts" has an empty level: nest labels as Parent/Child, with no leading, trailing or double /',
    ],
    [["--bounce", "--store"], "cannot add a rule for x@test.example.com: bounce cannot be combined with other actions"],
  ])("names the flag the user wrote when an action is wrong: %j", async (flags, message) => {
    const result = await cli("rules", "add", "x@test.example.com", ...flags, "--local");
    expect(result.code).toBe(1);
    expect(result.stderr).toEqual([`ses-mail rules add: ${message}`]);
  });
});

describe("ses-mail rules test says what happens now", () => {
  let dynamo: LocalDynamo;
  let env: NodeJS.ProcessEnv;
  const table = routingTableName("local");

  beforeAll(async () => {
    dynamo = await startDynalite();
    env = { PATH: process.env.PATH, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint };
    await ensureRoutingTable(dynamo.client, table);
  });
  afterAll(() => dynamo.close());

  async function cli(...argv: string[]) {
    const out = captureOutput();
    const code = await runCli(rulesCommands({ resolveMx: DNS }), argv, out, env);
    return { code, ...out };
  }

  it("for a domain the stack does not receive: refused at SMTP time, and what the rules would do were it added", async () => {
    await cli("rules", "add", "*", "--drop", "--local");

    const result = await cli("rules", "test", "who@elsewhere.example", "--local");
    const json = await cli("rules", "test", "who@elsewhere.example", "--json", "--local");

    expect(result.code).toBe(0);
    expect(result.stdout.slice(0, 2)).toEqual([
      "who@elsewhere.example → refused: local mode refuses it at RCPT with 550 5.1.1: elsewhere.example is not a domain of stack test (test.example.com); no rule is consulted",
      "  were elsewhere.example one of the stack's domains: → drop   (rule *, global match)",
    ]);
    expect(json.jsonValues[0]).toMatchObject({
      address: "who@elsewhere.example",
      refused: { by: "local-mode" },
      match: "global",
      rule: "*",
    });
  });

  it("for a disabled rule: what happens now, and what it would do once enabled, with the command", async () => {
    await cli("rules", "add", "jane@test.example.com", "--forward", "jane@gmail.com", "--label", "Family", "--disabled", "--local");

    const result = await cli("rules", "test", "jane+news@test.example.com", "--local");
    const json = await cli("rules", "test", "jane+news@test.example.com", "--json", "--local");

    expect(result.code).toBe(0);
    expect(result.stdout[0]).toBe("jane+news@test.example.com → drop   (rule *, global match)");
    expect(result.stdout[result.stdout.length - 1]).toBe(
      "if enabled, the disabled rule jane@test.example.com would take it instead: → forward-to-gmail jane@gmail.com [Family]   (ses-mail rules enable 'jane@test.example.com' --local)",
    );
    expect(json.jsonValues[0]).toMatchObject({
      rule: "*",
      ifEnabled: { rule: "jane@test.example.com", actions: [{ type: "forward-to-gmail", target: "jane@gmail.com", labels: ["Family"] }] },
    });
  });

  it("for a stored rule that is invalid: names the rule by its address and the action by what it is", async () => {
    // Prepare: an item written by hand (or an older tool) whose forward has no valid target.
    const store = new DynamoDbRuleStore({ tableName: table, client: dynamo.client });
    await store.putRuleItem({
      PK: "ROUTE#broken@test.example.com",
      SK: "RULE#v1",
      entity_type: "ROUTE",
      recipient: "broken@test.example.com",
      enabled: true,
      actions: [{ type: "store" }, { type: "forward-to-gmail", target: "not-an-address" }],
    });

    const result = await cli("rules", "test", "broken@test.example.com", "--local");
    const listed = await cli("rules", "list", "--local");

    expect(result.code).toBe(1);
    expect(result.stderr[0]).toBe(
      "ses-mail rules test: the rule broken@test.example.com is invalid: action 2 (forward-to-gmail not-an-address): not an email address\n" +
        "the router fails mail for broken@test.example.com (it retries, then waits in the dead-letter queue) until the rule is fixed: " +
        "ses-mail rules rm 'broken@test.example.com' --local, then add it again (or write it with rules add … --replace)",
    );
    expect(listed.stdout).toContainEqual(
      expect.stringMatching(
        /^ROUTE#broken@test\.example\.com\s+INVALID\s+action 2 \(forward-to-gmail not-an-address\): not an email address$/,
      ),
    );
  });
});
