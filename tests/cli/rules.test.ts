import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { main } from "../../cli/main";
import { routingTableName } from "../../core/table";
import { startDynalite, type LocalDynamo } from "../helpers/dynalite";
import { ensureRoutingTable } from "../../adapters/aws/routing-table";
import { DeleteTableCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDbRuleStore } from "../../adapters/aws/dynamodb-rules";
import { createRuleCodec, declaredRuleItem } from "../../core/rules";
import { RuleManager } from "../../core/table";
import { captureOutput } from "../helpers/cli";

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(__dirname, "..", "..");
const FIXTURE = path.join(ROOT, "tests", "fixtures", "ses-receipt-notification.json");

describe("ses-mail rules / route against local mode's store (dynalite)", () => {
  let dynamo: LocalDynamo;
  let env: NodeJS.ProcessEnv;
  const table = routingTableName("local");

  beforeAll(async () => {
    dynamo = await startDynalite();
    env = { ...process.env, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint };
  });
  afterAll(() => dynamo.close());
  beforeEach(async () => {
    await dynamo.client.send(new DeleteTableCommand({ TableName: table })).catch(() => undefined);
    await ensureRoutingTable(dynamo.client, table);
  });

  async function cli(...argv: string[]) {
    const out = captureOutput();
    const code = await main(argv, out, env);
    return { code, ...out };
  }

  it("adds a rule with two forwards, labels and a kept copy, then shows it", async () => {
    const added = await cli(
      "rules",
      "add",
      "Receipts@Test.Example.com",
      "--forward",
      "a@gmail.com",
      "--label",
      "Label_1",
      "--label",
      "Label_2",
      "--forward",
      "b@gmail.com",
      "--store",
      "--description",
      "two boxes",
      "--local",
    );
    expect(added).toMatchObject({
      code: 0,
      stdout: [
        expect.stringMatching(
          /^added receipts@test.example.com → forward-to-gmail a@gmail.com \[Label_1, Label_2\], forward-to-gmail b@gmail.com, store/,
        ),
      ],
    });

    const shown = await cli("rules", "show", "receipts@test.example.com", "--json", "--local");
    expect(shown.code).toBe(0);
    expect(shown.jsonValues[0]).toMatchObject({
      pattern: "receipts@test.example.com",
      enabled: true,
      description: "two boxes",
      actions: [
        { type: "forward-to-gmail", target: "a@gmail.com", labels: ["Label_1", "Label_2"] },
        { type: "forward-to-gmail", target: "b@gmail.com" },
        { type: "store" },
      ],
    });
  });

  it.each([
    [["rules", "add", "x@test.example.com", "--drop", "--forward", "a@gmail.com"], /drop cannot be combined/],
    [
      ["rules", "add", "x@test.example.com", "--label", "L", "--forward", "a@gmail.com"],
      /--label L must follow the --forward it applies to/,
    ],
    [["rules", "add", "x@test.example.com"], /at least one action/],
    [["rules", "add", "x*y@test.example.com", "--drop"], /wildcard/],
    [["rules", "add", "x@test.example.com", "--forward", "not-an-address"], /email address/],
    [["rules", "add", "x@test.example.com", "--drop", "--colour", "red"], /unknown option --colour/],
    [["rules", "add", "x@test.example.com", "--drop"], /say where the rules are/],
    [["rules", "rm", "ghost@test.example.com", "--local"], /no rule for ghost@test.example.com/],
    [["rules", "test", "not an address", "--local"], /invalid address/],
  ])("%j is a user error (exit 1) with a one-line reason", async (argv, reason) => {
    const out = captureOutput();
    const code = await main(argv, out, argv.includes("--local") ? env : { PATH: process.env.PATH });
    expect(code).toBe(1);
    expect(out.stderr[0]).toMatch(reason);
  });

  it("refuses to overwrite a rule unless --replace, and keeps its creation time", async () => {
    await cli("rules", "add", "x@test.example.com", "--bounce", "--local");
    const again = await cli("rules", "add", "x@test.example.com", "--drop", "--local");
    expect(again.code).toBe(1);
    expect(again.stderr.join()).toMatch(/already exists \(use --replace/);
    const before = (await cli("rules", "show", "x@test.example.com", "--json", "--local")).jsonValues[0] as { createdAt: string };
    const replaced = await cli("rules", "add", "x@test.example.com", "--drop", "--replace", "--local");
    expect(replaced.stdout[0]).toMatch(/^replaced x@test.example.com → drop/);
    const after = (await cli("rules", "show", "x@test.example.com", "--json", "--local")).jsonValues[0] as {
      createdAt: string;
      actions: unknown;
    };
    expect(after).toMatchObject({ createdAt: before.createdAt, actions: [{ type: "drop" }] });
  });

  it("tests an address: which level matched and why the others did not", async () => {
    await cli("rules", "add", "alice@test.example.com", "--forward", "alice@gmail.com", "--local");
    await cli("rules", "add", "*@test.example.com", "--forward", "family@gmail.com", "--local");
    await cli("rules", "disable", "alice@test.example.com", "--local");

    const result = await cli("rules", "test", "Alice+shop@Test.Example.com", "--local");

    expect(result.code).toBe(0);
    expect(result.stdout[0]).toBe(
      "alice+shop@test.example.com → forward-to-gmail family@gmail.com   (rule *@test.example.com, domain match)",
    );
    expect(result.stdout.slice(1).map((line) => line.trim().split(/\s+/))).toEqual([
      ["exact", "alice+shop@test.example.com", "no", "rule"],
      ["normalized", "alice@test.example.com", "disabled"],
      ["domain", "*@test.example.com", "matched"],
      ["global", "*", "not", "reached"],
      // What the disabled rule would do, and the command that enables it.
      [
        "if",
        "enabled,",
        "the",
        "disabled",
        "rule",
        "alice@test.example.com",
        "would",
        "take",
        "it",
        "instead:",
        "→",
        "forward-to-gmail",
        "alice@gmail.com",
        "(ses-mail",
        "rules",
        "enable",
        "'alice@test.example.com'",
        "--local)",
      ],
    ]);

    await cli("rules", "enable", "alice@test.example.com", "--local");
    const json = await cli("rules", "test", "alice+shop@test.example.com", "--json", "--local");
    expect(json.jsonValues[0]).toMatchObject({ match: "normalized", rule: "alice@test.example.com" });
  });

  it("lists rules through the index, and removes one", async () => {
    await cli("rules", "add", "b@test.example.com", "--drop", "--local");
    await cli("rules", "add", "a@test.example.com", "--bounce", "--disabled", "--local");
    const listed = await cli("rules", "list", "--json", "--local");
    expect(listed.jsonValues[0]).toEqual([
      expect.objectContaining({ pattern: "a@test.example.com", enabled: false }),
      expect.objectContaining({ pattern: "b@test.example.com", enabled: true }),
    ]);
    expect((await cli("rules", "rm", "a@test.example.com", "--local")).code).toBe(0);
    const table = await cli("rules", "list", "--local");
    expect(table.stdout[0]).toMatch(/^PATTERN\s+STATE\s+ACTIONS/);
    expect(table.stdout.slice(1, -1)).toEqual([expect.stringMatching(/^b@test.example.com\s+enabled\s+drop/)]);
  });

  it("routes a saved SES notification with the live rules and the stack's default action", async () => {
    await cli("rules", "add", "alice@test.example.com", "--forward", "alice@gmail.com", "--local");

    const result = await cli("route", "--event", FIXTURE, "--json", "--local");

    expect(result.code).toBe(0);
    const decision = result.jsonValues[0] as { actions: Record<string, { targets: Array<Record<string, unknown>> }> };
    expect(decision.actions["forward-to-gmail"]!.targets).toEqual([
      expect.objectContaining({ recipient: "alice+shop@test.example.com", target: "alice@gmail.com", match: "normalized" }),
    ]);
    // No other rule: the test stack's default action (bounce) applies to the other recipients.
    expect(decision.actions.bounce!.targets.map((t) => t.recipient)).toEqual(["bob@test.example.com", "noreply@test.example.com"]);
  });

  it("marks rules declared in stack config, and warns that removing one does not last", async () => {
    const store = new DynamoDbRuleStore({ tableName: table, client: dynamo.client });
    const codec = createRuleCodec();
    await store.putRuleItem(
      declaredRuleItem(codec, { recipient: "a@test.example.com", enabled: true, actions: [{ type: "drop" }] }, RuleManager.LocalConfig),
    );
    await store.putRuleItem(
      declaredRuleItem(codec, { recipient: "b@test.example.com", enabled: true, actions: [{ type: "drop" }] }, RuleManager.Pulumi),
    );

    const listed = await cli("rules", "list", "--local");
    const removedLocal = await cli("rules", "rm", "a@test.example.com", "--local");
    const removedPulumi = await cli("rules", "rm", "b@test.example.com", "--local");

    expect(listed.stdout.filter((line) => line.endsWith("(declared in stack config)"))).toHaveLength(2);
    expect(removedLocal.stderr).toEqual([expect.stringMatching(/the next start of local mode adds it again/)]);
    expect(removedPulumi.stderr).toEqual([expect.stringMatching(/the next `pulumi up` adds it again/)]);
  });

  it("says local mode is not running when nothing listens", async () => {
    const out = captureOutput();
    const code = await main(["rules", "list", "--local"], out, {
      ...env,
      AWS_ENDPOINT_URL_DYNAMODB: "http://127.0.0.1:9",
    });
    expect(code).toBe(1);
    expect(out.stderr.join()).toMatch(/is local mode running on .*\.ses-mail\? \(npm start\)/);
  });

  it("works as the installed `ses-mail` command", async () => {
    await cli("rules", "add", "*", "--drop", "--local");
    const { stdout } = await execFileAsync(
      process.execPath,
      [path.join(ROOT, "bin", "ses-mail.js"), "rules", "test", "who@test.example.com", "--local"],
      {
        env,
      },
    );
    expect(stdout.split("\n")[0]).toBe("who@test.example.com → drop   (rule *, global match)");
    const usage = await execFileAsync(process.execPath, [path.join(ROOT, "bin", "ses-mail.js"), "--help"]);
    expect(usage.stdout).toMatch(/ses-mail rules add/);
  });
});
