/**
 * End to end: local mode on free ports in a temporary directory, real SMTP in, Maildirs and the outbox
 * out, the deployed router, forwarder, bouncer and event patterns in between.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createTransport } from "nodemailer";
import PostalMime from "postal-mime";
import { MAX_RECIPIENTS_PER_MESSAGE, SES_MAX_MESSAGE_BYTES } from "../../core/limits";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDbRuleStore } from "../../adapters/aws/dynamodb-rules";
import { OutboxSender } from "../../adapters/local/outbox";
import { createRuleCodec } from "../../core/rules";
import {
  maildirMessages,
  RawSmtpClient,
  sendMail,
  splitTraceHeaders,
  startTestLocalMode,
  testConfig,
  type TestLocalMode,
} from "../helpers/local-mode";

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, "../fixtures/local", name));

const ROUTES = [
  { recipient: "*@test.example.com", actions: [{ type: "forward-to-gmail", target: "catch-all@gmail.com" }] },
  { recipient: "bob@test.example.com", actions: [{ type: "forward-to-gmail", target: "bob@gmail.com" }] },
  { recipient: "carol@test.example.com", enabled: false, actions: [{ type: "forward-to-gmail", target: "carol@gmail.com" }] },
  { recipient: "nobody@test.example.com", actions: [{ type: "bounce" }] },
];

let local: TestLocalMode;
beforeAll(async () => {
  local = await startTestLocalMode(testConfig({ routes: ROUTES, defaultAction: "bounce" }));
});
afterAll(async () => {
  await local?.stop();
});

/** A message made unique by its Message-ID, so tests sharing a mailbox find their own. */
function uniqueMessage(tag: string, from = "alice@sender.example", extraHeaders = ""): Buffer {
  return Buffer.from(
    `From: ${from}\r\nTo: someone@test.example.com\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@sender.example>\r\n${extraHeaders}\r\nBody of ${tag}.\r\n`,
  );
}

function find(account: string, tag: string, folder = ""): Buffer[] {
  return maildirMessages(local.mode, account, folder).filter((message) => message.includes(`<${tag}@sender.example>`));
}

function events(): Array<{
  source: string;
  "detail-type": string;
  detail: { originalMessageId: string; subject: string; actions: Record<string, { count: number; targets: Array<{ match: string }> }> };
}> {
  return fs
    .readFileSync(path.join(local.mode.dataDir, "events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
}

describe("local mode, end to end", () => {
  it("forwards a message into the Gmail account's Maildir, byte-identical after the added trace headers", async () => {
    // Prepare
    const original = fixture("plain.eml");

    // Act
    const info = await sendMail(local.mode, { from: "alice@sender.example", to: ["bob@test.example.com"], raw: original });
    await local.mode.idle();

    // Assess
    const [stored, ...others] = maildirMessages(local.mode, "bob@gmail.com").filter((message) =>
      message.includes("<plain-1@sender.example>"),
    );
    expect(others).toEqual([]);
    const { trace, rest } = splitTraceHeaders(stored!);
    expect(rest).toEqual(original);
    expect(trace).toMatch(
      /^Received: from client\.sender\.example \(\[127\.0\.0\.1\] \[127\.0\.0\.1\]\)\r\n by mx\.local\.test \(ses-mail local\) with ESMTPS id [a-z0-9]{40}\r\n for <bob@test\.example\.com>;/,
    );
    expect(trace).toMatch(/Authentication-Results: mx\.local\.test;\r\n spf=pass [^]*dmarc=pass/);
    const messageId = /^250 .*Ok: queued as ([a-z0-9]{40})$/.exec(info.response)?.[1];
    expect(info.response).toMatch(/^250 .*Ok: queued as [a-z0-9]{40}$/);
    // The decision is on record, and the raw message is gone once every consumer is done.
    expect(events().filter((event) => event.detail.originalMessageId === messageId)).toHaveLength(1);
    expect(fs.existsSync(path.join(local.mode.dataDir, "emails", messageId!))).toBe(false);
    // The console line carries the id of the 250 reply: the one `ses-mail trace` takes.
    expect(local.lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^\\d\\d:\\d\\d:\\d\\d ${messageId} alice@sender\\.example → bob@test\\.example\\.com: forward-to-gmail bob@gmail\\.com \\(\\d+ ms\\)$`,
        ),
      ),
    );
  });

  it("routes user+tag@ by the rule for user@", async () => {
    // Act
    await sendMail(local.mode, { from: "alice@sender.example", to: ["Bob+News@test.example.com"], raw: uniqueMessage("plus-tag") });
    await local.mode.idle();

    // Assess
    expect(find("bob@gmail.com", "plus-tag")).toHaveLength(1);
    expect(find("catch-all@gmail.com", "plus-tag")).toEqual([]);
    const decision = events().find((event) => event.detail.subject === "plus-tag");
    expect(decision?.detail.actions["forward-to-gmail"]?.targets[0]?.match).toBe("normalized");
  });

  it("sends an address without a rule of its own to the domain catch-all", async () => {
    // Act
    await sendMail(local.mode, { from: "alice@sender.example", to: ["anyone@test.example.com"], raw: uniqueMessage("catch-all") });
    await local.mode.idle();

    // Assess
    expect(find("catch-all@gmail.com", "catch-all")).toHaveLength(1);
  });

  it("falls through a disabled rule to the next level", async () => {
    // Act
    await sendMail(local.mode, { from: "alice@sender.example", to: ["carol@test.example.com"], raw: uniqueMessage("disabled-rule") });
    await local.mode.idle();

    // Assess
    expect(find("catch-all@gmail.com", "disabled-rule")).toHaveLength(1);
    expect(fs.existsSync(path.join(local.mode.maildirRoot, "carol@gmail.com"))).toBe(false);
  });

  it("routes by a rule `ses-mail rules … --local` adds or removes while it runs, from the next message on", async () => {
    // Prepare: the rule store the CLI uses, on local mode's DynamoDB port.
    const cli = new DynamoDbRuleStore({
      tableName: local.mode.tableName,
      client: new DynamoDBClient({
        endpoint: local.mode.dynamodbEndpoint,
        region: "local",
        credentials: { accessKeyId: "x", secretAccessKey: "x" },
      }),
    });
    await sendMail(local.mode, { from: "alice@sender.example", to: ["dave@test.example.com"], raw: uniqueMessage("before-rule") });
    await local.mode.idle();

    // Act
    await cli.putRuleItem(
      createRuleCodec().toItem({
        pattern: "dave@test.example.com",
        enabled: true,
        actions: [{ type: "forward-to-gmail", target: "dave@gmail.com" }],
      }),
    );
    await sendMail(local.mode, { from: "alice@sender.example", to: ["dave@test.example.com"], raw: uniqueMessage("with-rule") });
    await local.mode.idle();
    await cli.deleteRuleItem("dave@test.example.com");
    await sendMail(local.mode, { from: "alice@sender.example", to: ["dave@test.example.com"], raw: uniqueMessage("after-rule") });
    await local.mode.idle();
    cli.client.destroy();

    // Assess
    expect(find("catch-all@gmail.com", "before-rule")).toHaveLength(1);
    expect(find("dave@gmail.com", "with-rule")).toHaveLength(1);
    expect(find("catch-all@gmail.com", "with-rule")).toEqual([]);
    expect(find("catch-all@gmail.com", "after-rule")).toHaveLength(1);
  });

  it("bounces with an RFC 3464 report in the outbox, addressed to the envelope sender", async () => {
    // Prepare: the From header differs from the envelope sender; the DSN must follow the envelope.
    const outbox = new OutboxSender({ dir: local.mode.outboxDir });
    const before = (await outbox.list()).length;

    // Act
    await sendMail(local.mode, {
      from: "dave@sender.example",
      to: ["nobody@test.example.com"],
      raw: uniqueMessage("bounce-me", "Someone Else <else@elsewhere.example>"),
    });
    await local.mode.idle();

    // Assess
    const sent = (await outbox.list()).slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.envelope.to).toEqual(["dave@sender.example"]);
    const dsn = await PostalMime.parse(sent[0]!.raw);
    expect(dsn.to?.map((address) => address.address)).toEqual(["dave@sender.example"]);
    expect(dsn.from?.address?.toLowerCase()).toBe("mailer-daemon@test.example.com");
    const report = sent[0]!.raw.toString("utf8");
    expect(report).toMatch(/Content-Type: multipart\/report;[^]*report-type="?delivery-status/i);
    expect(report).toMatch(/Final-Recipient: rfc822; ?nobody@test\.example\.com/i);
    expect(report).toMatch(/Action: failed/i);
    expect(local.lines).toContainEqual(
      expect.stringContaining("dave@sender.example → nobody@test.example.com: bounce [bounce sent to dave@sender.example]"),
    );
  });

  it("never bounces to the null sender", async () => {
    // Prepare
    const outbox = new OutboxSender({ dir: local.mode.outboxDir });
    const before = (await outbox.list()).length;
    const { client } = await RawSmtpClient.connect(local.mode);
    await client.send("EHLO client.sender.example");

    // Act
    const replies = await client.transaction("", ["nobody@test.example.com"], uniqueMessage("null-sender"));
    await client.quit();
    await local.mode.idle();

    // Assess
    expect(replies.at(-1)).toMatch(/^250 /);
    expect(await outbox.list()).toHaveLength(before);
    expect(local.lines).toContainEqual(
      expect.stringContaining("<> → nobody@test.example.com: bounce [no bounce for nobody@test.example.com (null-sender)]"),
    );
  });

  it("delivers mail failing DMARC with p=quarantine into the Maildir++ .Spam folder", async () => {
    // Act
    await sendMail(local.mode, {
      from: "eve@spoofed.example",
      to: ["anyone@test.example.com"],
      raw: uniqueMessage("spoofed", "eve@spoofed.example"),
    });
    await local.mode.idle();

    // Assess
    expect(find("catch-all@gmail.com", "spoofed", ".Spam")).toHaveLength(1);
    expect(find("catch-all@gmail.com", "spoofed")).toEqual([]);
  });

  it("refuses a recipient outside the stack's domains with 550 5.1.1 at RCPT", async () => {
    // Prepare
    const { client } = await RawSmtpClient.connect(local.mode);

    // Act
    await client.send("EHLO client.sender.example");
    await client.send("MAIL FROM:<alice@sender.example>");
    const outside = await client.send("RCPT TO:<someone@other.example>");
    const inside = await client.send("RCPT TO:<someone@test.example.com>");
    await client.quit();

    // Assess
    expect(outside).toMatch(/^550 5\.1\.1 /);
    expect(inside).toMatch(/^250 /);
  });

  it("refuses a message over 40 MB with 552, whether declared with SIZE or only sent", async () => {
    // Prepare
    const { client } = await RawSmtpClient.connect(local.mode);
    await client.send("EHLO client.sender.example");
    const stored = () => fs.readdirSync(path.join(local.mode.dataDir, "emails")).filter((name) => !name.startsWith(".")).length;
    const before = stored();
    const oversize = Buffer.alloc(SES_MAX_MESSAGE_BYTES + 1024, "a");
    for (let i = 998; i < oversize.length; i += 1000) oversize.write("\r\n", i - 2);

    // Act
    const declared = await client.send(`MAIL FROM:<alice@sender.example> SIZE=${SES_MAX_MESSAGE_BYTES + 1}`);
    await client.send("RSET");
    const replies = await client.transaction(
      "alice@sender.example",
      ["anyone@test.example.com"],
      Buffer.concat([Buffer.from("Subject: big\r\n\r\n"), oversize]),
    );
    await client.quit();
    await local.mode.idle();

    // Assess
    expect(declared).toMatch(/^552 /);
    expect(replies.at(-1)).toMatch(/^552 /);
    expect(stored()).toBe(before);
    expect(fs.readdirSync(path.join(local.mode.dataDir, "emails", ".tmp"))).toEqual([]);
  });

  it("accepts STARTTLS with its self-signed certificate", async () => {
    // Prepare
    const transport = createTransport({
      host: local.mode.smtpHost,
      port: local.mode.smtpPort,
      requireTLS: true,
      tls: { ca: fs.readFileSync(path.join(local.mode.dataDir, "tls", "cert.pem")), servername: "localhost" },
    });

    try {
      // Act
      const info = await transport.sendMail({
        envelope: { from: "alice@sender.example", to: ["anyone@test.example.com"] },
        raw: uniqueMessage("tls"),
      });

      // Assess: the certificate verified against itself as the trust anchor.
      expect(info.accepted).toEqual(["anyone@test.example.com"]);
    } finally {
      transport.close();
    }
    await local.mode.idle();
  });
});

describe("local mode, awkward input", () => {
  async function rawSend(content: Buffer, to = ["anyone@test.example.com"]): Promise<string[]> {
    const { client } = await RawSmtpClient.connect(local.mode);
    await client.send("EHLO client.sender.example");
    const replies = await client.transaction("alice@sender.example", to, content);
    await client.quit();
    await local.mode.idle();
    return replies;
  }

  it.each(["binary-8bit.eml", "malformed-mime.eml", "plain.eml"])("delivers %s byte for byte", async (name) => {
    // Prepare
    const content = fixture(name);

    // Act
    const replies = await rawSend(content);

    // Assess
    expect(replies.at(-1)).toMatch(/^250 /);
    const id = /queued as ([a-z0-9]{40})/.exec(replies.at(-1)!)![1]!;
    const stored = maildirMessages(local.mode, "catch-all@gmail.com").filter((message) => message.includes(id));
    expect(stored).toHaveLength(1);
    expect(splitTraceHeaders(stored[0]!).rest).toEqual(content);
  });

  it("delivers a message with a 100 KB header line byte for byte", async () => {
    // Prepare
    const content = Buffer.from(`X-Long: ${"x".repeat(100 * 1024)}\r\nSubject: long header\r\n\r\nbody\r\n`);

    // Act
    const replies = await rawSend(content);

    // Assess
    const id = /queued as ([a-z0-9]{40})/.exec(replies.at(-1)!)![1]!;
    const [stored] = maildirMessages(local.mode, "catch-all@gmail.com").filter((message) => message.includes(id));
    expect(splitTraceHeaders(stored!).rest).toEqual(content);
  });

  it.each([
    ["<LF>.<LF>", "\n.\n"],
    ["<CR>.<CR>", "\r.\r"],
    ["<LF>.<CR><LF>", "\n.\r\n"],
  ])("does not take %s as the end of data: the smuggled message stays content of the first", async (_name, sequence) => {
    // Prepare
    const smuggled = `Subject: first\r\n\r\nfirst body${sequence}MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@test.example.com>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled body`;
    const before = maildirMessages(local.mode, "catch-all@gmail.com").length;

    // Act
    const replies = await rawSend(Buffer.from(smuggled, "latin1"));

    // Assess: one 250 for one message, which holds the would-be second one as text.
    const accepted = replies.filter((reply) => /queued as [a-z0-9]{40}/.test(reply));
    expect(accepted).toHaveLength(1);
    const id = /queued as ([a-z0-9]{40})/.exec(accepted[0]!)![1]!;
    expect(maildirMessages(local.mode, "catch-all@gmail.com").length).toBe(before + 1);
    const [stored] = maildirMessages(local.mode, "catch-all@gmail.com").filter((message) => message.includes(id));
    expect(splitTraceHeaders(stored!).rest.toString("latin1")).toBe(`${smuggled}\r\n`);
    expect(fs.existsSync(path.join(local.mode.maildirRoot, "victim@test.example.com"))).toBe(false);
  });

  it("delivers a bare-LF message byte for byte", async () => {
    // Prepare
    const content = fixture("bare-lf-smuggling.eml");

    // Act
    const replies = await rawSend(content);

    // Assess: the client ended the data with CRLF.CRLF; its content is everything before the dot line.
    const id = /queued as ([a-z0-9]{40})/.exec(replies.at(-1)!)![1]!;
    const [stored] = maildirMessages(local.mode, "catch-all@gmail.com").filter((message) => message.includes(id));
    expect(splitTraceHeaders(stored!).rest).toEqual(Buffer.concat([content, Buffer.from("\r\n")]));
  });

  it(`accepts ${MAX_RECIPIENTS_PER_MESSAGE} recipients, answers 452 past them, and delivers once`, async () => {
    // Prepare
    const recipients = Array.from({ length: 150 }, (_, i) => `user${i}@test.example.com`);

    // Act
    const info = await sendMail(local.mode, { from: "alice@sender.example", to: recipients, raw: uniqueMessage("many-recipients") });
    await local.mode.idle();

    // Assess
    expect(info.accepted).toHaveLength(MAX_RECIPIENTS_PER_MESSAGE);
    expect(info.rejected).toHaveLength(50);
    // The decision lists each of the 100 recipients; the forwarder imports once into their one mailbox.
    const decision = events().find((event) => event.detail.subject === "many-recipients");
    expect(decision?.detail.actions["forward-to-gmail"]?.count).toBe(MAX_RECIPIENTS_PER_MESSAGE);
    expect(find("catch-all@gmail.com", "many-recipients")).toHaveLength(1);
  });
});
