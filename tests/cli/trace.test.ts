/**
 * `ses-mail trace` as a user calls it, against local mode's data directory: messages go in over SMTP,
 * the id comes from the 250 reply, and the command's exit code and output are what is checked.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { main } from "../../cli/main";
import type { MessageFate } from "../../core/fate";
import { captureOutput } from "../helpers/cli";
import { sendMail, startTestLocalMode, testConfig, TEST_DOMAIN, type TestLocalMode } from "../helpers/local-mode";

const OTHER_DOMAIN = "other.example.com";

let local: TestLocalMode;
let dataDir: string;
beforeAll(async () => {
  local = await startTestLocalMode(
    testConfig({
      domains: [TEST_DOMAIN, OTHER_DOMAIN],
      routes: [
        { recipient: "bob@test.example.com", actions: [{ type: "forward-to-gmail", target: "bob@gmail.com", labels: ["Label_7"] }] },
        { recipient: `*@${OTHER_DOMAIN}`, actions: [{ type: "bounce" }] },
        { recipient: "keep@test.example.com", actions: [{ type: "store" }] },
        { recipient: "void@test.example.com", actions: [{ type: "drop" }] },
      ],
      defaultAction: "bounce",
    }),
  );
  dataDir = local.mode.dataDir;
});
afterAll(async () => {
  await local?.stop();
});

async function cli(argv: string[]) {
  const out = captureOutput();
  const code = await main(argv, out, { PATH: process.env.PATH });
  return { code, ...out };
}

/** Sends a message and returns the id of its 250 reply once local mode is done with it. */
async function send(from: string, to: string[], subject: string): Promise<string> {
  const info = await sendMail(local.mode, {
    from,
    to,
    raw: `From: ${from}\r\nTo: ${to.join(", ")}\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@sender.example>\r\n\r\nbody\r\n`,
  });
  await local.mode.idle();
  const id = /queued as ([a-z0-9]{40})$/.exec(info.response)?.[1];
  if (!id) throw new Error(`no message id in ${info.response}`);
  return id;
}

describe("ses-mail trace MESSAGE_ID --local", () => {
  it("shows the decision with the rule matched, each outcome with its time, and the Maildir file the message is in", async () => {
    // Prepare
    const id = await send("alice@sender.example", ["bob@test.example.com"], "trace-forward");

    // Act
    const result = await cli(["trace", id, "--data-dir", dataDir]);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout[0]).toBe(`message ${id}`);
    expect(result.stdout).toContain("  from      alice@sender.example");
    expect(result.stdout).toContain('  subject   "trace-forward"');
    expect(result.stdout).toContainEqual(
      expect.stringMatching(/^ {2}verdicts {2}spf PASS, dkim GRAY, dmarc PASS, spam DISABLED, virus DISABLED: deliver$/),
    );
    expect(result.stdout).toContainEqual(
      expect.stringMatching(
        /^ {2}bob@test\.example\.com\s+forward-to-gmail bob@gmail\.com \(INBOX, UNREAD, Label_7\)\s+rule bob@test\.example\.com \(exact\)$/,
      ),
    );
    expect(result.stdout).toContainEqual(expect.stringMatching(/^ {2}\d{4}-\d\d-\d\dT[\d:.]+Z\s+routed \(deliver\)$/));
    expect(result.stdout).toContainEqual(
      expect.stringMatching(/^ {2}\S+\s+imported into bob@gmail\.com as [0-9a-f]{40}\.mx\.local\.test \(INBOX, UNREAD, Label_7\)$/),
    );
    const place = result.stdout.find((line) => line.startsWith("  in bob@gmail.com: "));
    const file = place?.slice("  in bob@gmail.com: ".length);
    expect(file).toBe(path.join(dataDir, "mail", "bob@gmail.com", "new", path.basename(file ?? "")));
    expect(fs.readFileSync(file!, "latin1")).toContain("Subject: trace-forward");
    expect(result.stdout).toContain(`  raw message emails/${id}: deleted`);
  });

  it("shows each DSN of a message bounced in two domains, with its outbox file", async () => {
    // Prepare
    const id = await send("dave@sender.example", ["nobody@test.example.com", `ghost@${OTHER_DOMAIN}`], "trace-two-bounces");

    // Act
    const result = await cli(["trace", id, "--data-dir", dataDir]);

    // Assess
    expect(result.code).toBe(0);
    const bounces = result.stdout.filter((line) => line.startsWith("  bounce to dave@sender.example for "));
    expect(bounces).toHaveLength(2);
    expect(bounces).toContainEqual(
      expect.stringMatching(
        new RegExp(`^ {2}bounce to dave@sender\\.example for nobody@test\\.example\\.com: ${path.join(dataDir, "outbox")}/\\S+\\.eml$`),
      ),
    );
    expect(bounces).toContainEqual(
      expect.stringMatching(
        new RegExp(`^ {2}bounce to dave@sender\\.example for ghost@other\\.example\\.com: ${path.join(dataDir, "outbox")}/\\S+\\.eml$`),
      ),
    );
    for (const line of bounces)
      expect(fs.readFileSync(line.slice(line.lastIndexOf(": ") + 2), "utf8")).toMatch(
        /Final-Recipient: rfc822; ?(nobody@test\.example\.com|ghost@other\.example\.com)/i,
      );
    // And the console line counts them.
    expect(local.lines).toContainEqual(
      expect.stringContaining(
        `${id} dave@sender.example → nobody@test.example.com: bounce; ghost@other.example.com: bounce [2 bounces sent to dave@sender.example]`,
      ),
    );
  });

  it("gives the reason a bounce was suppressed", async () => {
    // Prepare: a sender whose SPF does not pass gets no bounce (it would be backscatter).
    const id = await send("mallory@nowhere.example", ["nobody@test.example.com"], "trace-suppressed");

    // Act
    const result = await cli(["trace", id, "--data-dir", dataDir]);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContainEqual(expect.stringMatching(/^ {2}\S+\s+no bounce for nobody@test\.example\.com: unauthenticated$/));
    expect(result.stdout.filter((line) => line.startsWith("  bounce to"))).toEqual([]);
  });

  it("finds a message no consumer sees: kept by a store rule, dropped by a drop rule", async () => {
    // Prepare
    const id = await send("alice@sender.example", ["keep@test.example.com", "void@test.example.com"], "trace-store-drop");

    // Act
    const result = await cli(["trace", id, "--data-dir", dataDir]);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContainEqual(
      expect.stringMatching(/^ {2}keep@test\.example\.com\s+store\s+rule keep@test\.example\.com \(exact\)$/),
    );
    expect(result.stdout).toContainEqual(expect.stringMatching(/^ {2}\S+\s+raw message kept for keep@test\.example\.com \(store\)$/));
    expect(result.stdout).toContainEqual(expect.stringMatching(/^ {2}\S+\s+dropped for void@test\.example\.com by rule$/));
    expect(result.stdout).toContain(`  raw message emails/${id}: kept`);
    expect(fs.readdirSync(path.join(dataDir, "emails"))).toContain(id);
  });

  it("prints the fate as JSON for scripts", async () => {
    // Prepare
    const id = await send("alice@sender.example", ["bob@test.example.com"], "trace-json");

    // Act
    const result = await cli(["trace", id, "--local", "--data-dir", dataDir, "--json"]);

    // Assess
    expect(result.code).toBe(0);
    const fate = result.jsonValues[0] as MessageFate;
    expect(fate.messageId).toBe(id);
    expect(fate.decision?.subject).toBe("trace-json");
    expect(fate.outcomes.map((outcome) => outcome.kind)).toEqual(["routed", "imported", "raw-message-deleted"]);
    expect(fate.outcomes[0]).toMatchObject({ kind: "routed", decision: { originalMessageId: id } });
    expect(fate.places).toContainEqual(
      expect.objectContaining({
        kind: "mailbox",
        account: "bob@gmail.com",
        file: expect.stringContaining(path.join(dataDir, "mail", "bob@gmail.com")),
      }),
    );
    expect(fate.places).toContainEqual({
      kind: "raw-message",
      location: { bucket: "ses-mail-storage-local", key: `emails/${id}` },
      state: "deleted",
    });
    expect(fate.gaps).toEqual([]);
  });

  it("says when nobody has heard of the message, with exit code 1", async () => {
    // Act
    const result = await cli(["trace", "0000000000nosuchmessage000000000000000000", "--data-dir", dataDir]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr[0]).toMatch(/^ses-mail trace: no message 0000000000nosuchmessage000000000000000000 in local mode data in /);
  });
});

describe("ses-mail trace --recipient ADDRESS --local", () => {
  it("lists the messages to an address, newest first, with where each is now", async () => {
    // Prepare
    const first = await send("alice@sender.example", ["Bob@test.example.com"], "recipient-1");
    const second = await send("carol@sender.example", ["bob@test.example.com"], "recipient-2");

    // Act
    const result = await cli(["trace", "--recipient", "BOB@test.example.com", "--since", "1h", "--data-dir", dataDir]);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout[0]).toMatch(/^\d+ message\(s\) to bob@test\.example\.com since .+, newest first:$/);
    const rows = result.stdout.filter((line) => line.includes(first) || line.includes(second));
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(new RegExp(`${second}\\s+from carol@sender\\.example\\s+"recipient-2"\\s+in bob@gmail\\.com$`));
    expect(rows[1]).toMatch(new RegExp(`${first}\\s+from alice@sender\\.example\\s+"recipient-1"\\s+in bob@gmail\\.com$`));
    expect(result.stdout.at(-1)).toBe(`details: ses-mail trace MESSAGE_ID --local --data-dir ${dataDir}`);
  });

  it("finds nothing before --since, and refuses what it cannot read", async () => {
    // Act
    const future = await cli(["trace", "--recipient", "bob@test.example.com", "--since", "2999-01-01T00:00:00Z", "--data-dir", dataDir]);
    const badSince = await cli(["trace", "--recipient", "bob@test.example.com", "--since", "yesterday", "--data-dir", dataDir]);
    const both = await cli(["trace", "some-id", "--recipient", "bob@test.example.com", "--data-dir", dataDir]);
    const nowhere = await cli(["trace", "some-id"]);
    const missing = await cli(["trace", "some-id", "--data-dir", path.join(dataDir, "no-such-dir")]);

    // Assess
    expect(future).toMatchObject({
      code: 0,
      stdout: [expect.stringMatching(/^no message to bob@test\.example\.com since 2999-01-01T00:00:00\.000Z in local mode data in /)],
    });
    expect(badSince.code).toBe(1);
    expect(badSince.stderr[0]).toBe('ses-mail trace: --since takes a duration (30m, 24h, 7d) or an ISO 8601 time, not "yesterday"');
    expect(both.code).toBe(1);
    expect(both.stderr[0]).toMatch(/^ses-mail trace: give a message id or --recipient ADDRESS \(one of them\)/);
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr[0]).toBe("ses-mail trace: say where to look: --stack NAME [--config FILE], or --local [--data-dir DIR]");
    expect(missing.code).toBe(1);
    expect(missing.stderr[0]).toMatch(/^ses-mail trace: no local-mode data in .*no-such-dir: has local mode run there\?/);
  });
});
