/**
 * RFC 5321 details of local mode's intake, end to end: the domainless postmaster (§4.5.1) and quoted
 * local parts (§4.1.2), from the SMTP command through the notification and the router to the Maildir,
 * and through `ses-mail rules` against the running local mode.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { main } from "../../cli/main";
import { captureOutput } from "../helpers/cli";
import { maildirMessages, RawSmtpClient, startTestLocalMode, testConfig, type TestLocalMode } from "../helpers/local-mode";

const ROUTES = [
  { recipient: "*@test.example.com", actions: [{ type: "forward-to-gmail", target: "catch-all@gmail.com" }] },
  { recipient: "postmaster@test.example.com", actions: [{ type: "forward-to-gmail", target: "postmaster@gmail.com" }] },
  { recipient: '"john doe"@test.example.com', actions: [{ type: "forward-to-gmail", target: "john@gmail.com" }] },
];

let local: TestLocalMode;
beforeAll(async () => {
  local = await startTestLocalMode(testConfig({ domains: ["test.example.com", "second.example.com"], routes: ROUTES }));
});
afterAll(async () => {
  await local?.stop();
});

function message(tag: string): Buffer {
  return Buffer.from(
    `From: alice@sender.example\r\nTo: someone@test.example.com\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@sender.example>\r\n\r\nbody\r\n`,
  );
}

function delivered(account: string, tag: string): number {
  return maildirMessages(local.mode, account).filter((stored) => stored.includes(`<${tag}@sender.example>`)).length;
}

/** The routing decisions for a subject, from events.jsonl. */
function decisionsFor(
  subject: string,
): Array<{ recipients: string[]; actions: Record<string, { targets: Array<{ recipient: string; match: string }> }> }> {
  return fs
    .readFileSync(path.join(local.mode.dataDir, "events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line).detail)
    .filter((detail) => detail.subject === subject);
}

async function transaction(from: string, to: string[], tag: string): Promise<string[]> {
  const { client } = await RawSmtpClient.connect(local.mode);
  await client.send("EHLO client.sender.example");
  const replies = await client.transaction(from, to, message(tag));
  await client.quit();
  await local.mode.idle();
  return replies;
}

describe("the postmaster without a domain (RFC 5321 §4.5.1)", () => {
  it.each(["postmaster", "PostMaster"])("accepts RCPT TO:<%s> and routes it as the postmaster of the first domain", async (rcpt) => {
    // Act
    const replies = await transaction("alice@sender.example", [rcpt], `bare-${rcpt}`);

    // Assess
    expect(replies.slice(1, 2)).toEqual([expect.stringMatching(/^250 /)]);
    expect(replies.at(-1)).toMatch(/^250 /);
    expect(delivered("postmaster@gmail.com", `bare-${rcpt}`)).toBe(1);
    const [decision] = decisionsFor(`bare-${rcpt}`);
    expect(decision?.actions["forward-to-gmail"]?.targets).toEqual([
      expect.objectContaining({ recipient: "postmaster@test.example.com", match: "exact" }),
    ]);
  });
});

describe("quoted local parts (RFC 5321 §4.1.2)", () => {
  it("accepts a quoted local part with a space, routes it by its rule and delivers once", async () => {
    // Act
    const replies = await transaction("alice@sender.example", ['"John Doe"@test.example.com'], "quoted-space");

    // Assess
    expect(replies.at(-1)).toMatch(/^250 /);
    expect(delivered("john@gmail.com", "quoted-space")).toBe(1);
    expect(delivered("catch-all@gmail.com", "quoted-space")).toBe(0);
    const [decision] = decisionsFor("quoted-space");
    expect(decision?.actions["forward-to-gmail"]?.targets).toEqual([
      expect.objectContaining({ recipient: '"john doe"@test.example.com', match: "exact" }),
    ]);
    expect(local.lines).toContainEqual(
      expect.stringContaining('alice@sender.example → "john doe"@test.example.com: forward-to-gmail john@gmail.com'),
    );
  });

  it.each([
    ['"john"@test.example.com', "john@test.example.com"],
    ['"a@b"@test.example.com', '"a@b"@test.example.com'],
    ['"say \\"hi\\""@test.example.com', '"say \\"hi\\""@test.example.com'],
  ])("accepts %s and routes it as %s", async (rcpt, routed) => {
    // Prepare
    const tag = `quoted-${Buffer.from(rcpt).toString("hex").slice(0, 16)}`;

    // Act
    const replies = await transaction("alice@sender.example", [rcpt], tag);

    // Assess
    expect(replies.at(-1)).toMatch(/^250 /);
    const [decision] = decisionsFor(tag);
    expect(decision?.actions["forward-to-gmail"]?.targets).toEqual([expect.objectContaining({ recipient: routed, match: "domain" })]);
    expect(delivered("catch-all@gmail.com", tag)).toBe(1);
  });

  it("accepts a quoted local part in MAIL FROM", async () => {
    // Act
    const replies = await transaction('"alice smith"@sender.example', ["someone@test.example.com"], "quoted-sender");

    // Assess
    expect(replies[0]).toMatch(/^250 /);
    expect(replies.at(-1)).toMatch(/^250 /);
    expect(local.lines).toContainEqual(expect.stringContaining('"alice smith"@sender.example → someone@test.example.com'));
  });

  it.each([
    ["an unescaped quote inside", '"a"b"@test.example.com'],
    ["a control character", '"a\tb"@test.example.com'],
    ["a local part over 64 octets", `"${"x".repeat(62)} y"@test.example.com`],
  ])("refuses a quoted local part with %s", async (_name, rcpt) => {
    // Prepare
    const { client } = await RawSmtpClient.connect(local.mode);
    await client.send("EHLO client.sender.example");
    await client.send("MAIL FROM:<alice@sender.example>");

    // Act
    const reply = await client.send(`RCPT TO:<${rcpt}>`);
    await client.quit();

    // Assess
    expect(reply).toMatch(/^5\d\d /);
  });

  it("works with `ses-mail rules add` and `rules test` against the running local mode", async () => {
    // Prepare
    const env = { ...process.env, AWS_ENDPOINT_URL_DYNAMODB: local.mode.dynamodbEndpoint };
    const cli = async (...argv: string[]) => {
      const out = captureOutput();
      const code = await main(argv, out, env);
      return { code, ...out };
    };

    // Act
    const added = await cli("rules", "add", '"Jane Roe"@test.example.com', "--forward", "jane@gmail.com", "--local");
    const tested = await cli("rules", "test", '"Jane Roe+news"@test.example.com', "--local");
    const replies = await transaction("alice@sender.example", ['"jane roe+news"@test.example.com'], "quoted-cli");

    // Assess
    expect(added.code).toBe(0);
    expect(added.stdout[0]).toMatch(/^added "jane roe"@test\.example\.com → forward-to-gmail jane@gmail\.com/);
    expect(tested.code).toBe(0);
    expect(tested.stdout[0]).toBe(
      '"jane roe+news"@test.example.com → forward-to-gmail jane@gmail.com   (rule "jane roe"@test.example.com, normalized match)',
    );
    expect(replies.at(-1)).toMatch(/^250 /);
    expect(delivered("jane@gmail.com", "quoted-cli")).toBe(1);
  });
});
