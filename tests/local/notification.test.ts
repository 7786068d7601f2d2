import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createNotificationParser } from "../../core/notification";
import { createSelfSignedCertificate, ensureCertificate } from "../../local/certificate";
import {
  commonHeaders,
  decodeEncodedWords,
  parseHeaderBlock,
  receivedHeader,
  splitAddressList,
  traceHeaderBytes,
} from "../../local/headers";
import { HEADER_PARSE_MAX_BYTES } from "../../local/limits";
import { buildReceiptNotification } from "../../local/notification";

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, "../fixtures/local", name));

describe("header block", () => {
  it("reads the fields of a CRLF message, unfolded, and decodes encoded words in common headers", () => {
    // Act
    const block = parseHeaderBlock(fixture("plain.eml"));
    const common = commonHeaders(block.fields, "alice@sender.example");

    // Assess
    expect(block.fields.map((field) => field.name)).toEqual([
      "From",
      "To",
      "Subject",
      "Date",
      "Message-ID",
      "MIME-Version",
      "Content-Type",
      "Content-Transfer-Encoding",
    ]);
    expect(common).toEqual({
      returnPath: "alice@sender.example",
      from: ["Alice Example <alice@sender.example>"],
      to: ["Bob <bob@test.example.com>"],
      date: "Sat, 28 Nov 2026 10:00:00 +0000",
      messageId: "<plain-1@sender.example>",
      subject: "Hello ☕ from Alice",
    });
  });

  it("copes with bare LF, 8-bit, invalid UTF-8 and NUL bytes without throwing", () => {
    // Act
    const bareLf = parseHeaderBlock(fixture("bare-lf-smuggling.eml"));
    const binary = parseHeaderBlock(fixture("binary-8bit.eml"));

    // Assess
    expect(bareLf.fields.map((field) => field.name)).toEqual(["From", "To", "Subject"]);
    expect(commonHeaders(binary.fields, "").from).toEqual(["René <rene@sender.example>"]);
    expect(commonHeaders(binary.fields, "").subject).toContain("caf\ufffd");
  });

  it("reads a bounded prefix of an endless header block and says it was truncated", () => {
    // Prepare
    const huge = Buffer.from(`Subject: x\r\nX-Long: ${"a".repeat(HEADER_PARSE_MAX_BYTES * 2)}\r\n\r\nbody`);

    // Act
    const block = parseHeaderBlock(huge);

    // Assess
    expect(block.truncated).toBe(true);
    expect(block.fields[0]).toEqual({ name: "Subject", value: "x" });
  });

  it.each([
    ["=?ISO-8859-1?Q?Andr=E9_Pirard?=", "André Pirard"],
    ["=?UTF-8?B?4pyT?= =?UTF-8?B?IGRvbmU=?=", "✓ done"],
    ["=?x-unknown?B?YWJj?=", "=?x-unknown?B?YWJj?="],
    ["plain text", "plain text"],
  ])("decodes %s", (encoded, decoded) => {
    // Act / Assess
    expect(decodeEncodedWords(encoded)).toBe(decoded);
  });

  it("splits address lists only at top-level commas", () => {
    // Act / Assess
    expect(splitAddressList('"Doe, John" <j@x.example>, a@x.example (comment, here), <b@x.example>')).toEqual([
      '"Doe, John" <j@x.example>',
      "a@x.example (comment, here)",
      "<b@x.example>",
    ]);
  });

  it("writes a Received header that no client text can break, naming a single recipient", () => {
    // Act
    const header = receivedHeader({
      helo: "evil\r\nX-Injected: 1",
      clientHostname: "[127.0.0.1]",
      ip: "127.0.0.1",
      mta: "mx.test",
      protocol: "ESMTPS",
      messageId: "abc",
      recipients: ["bob@test.example.com"],
      date: new Date("2026-11-28T10:00:00Z"),
    });

    // Assess
    expect(header).toBe(
      "Received: from evil?X-Injected:?1 ([127.0.0.1] [127.0.0.1])\r\n by mx.test (ses-mail local) with ESMTPS id abc\r\n for <bob@test.example.com>;\r\n Sat, 28 Nov 2026 10:00:00 +0000\r\n",
    );
  });

  it("keeps an internationalized HELO name and recipient as UTF-8 (RFC 6532), and drops C1 controls and line separators", () => {
    // Act
    const header = receivedHeader({
      helo: "邮件.example\u0085\u2028(by forged)",
      clientHostname: "[127.0.0.1]",
      ip: "127.0.0.1",
      mta: "mx.test",
      protocol: "UTF8SMTPS",
      messageId: "abc",
      recipients: ["张伟@test.example.com"],
      date: new Date("2026-11-28T10:00:00Z"),
    });

    // Assess
    expect(header).toMatch(/^Received: from 邮件\.example\?\?by\?forged\? \(\[127\.0\.0\.1\] \[127\.0\.0\.1\]\)\r\n/);
    expect(header).toContain("\r\n for <张伟@test.example.com>;\r\n");
    expect(traceHeaderBytes([header]).toString("utf8")).toBe(header);
  });

  it.each([
    ["a bare CR", "X-Test: a\rInjected: b\r\n"],
    ["a bare LF", "X-Test: a\nInjected: b\r\n"],
    ["a C1 control", "X-Test: a\u0085b\r\n"],
    ["a line that is neither a field nor a continuation", "X-Test: a\r\nnot a header\r\n"],
    ["no final CRLF", "X-Test: a"],
  ])("refuses to write trace header bytes with %s", (_name, text) => {
    // Act / Assess
    expect(() => traceHeaderBytes([text])).toThrow(/refusing to write a trace header line/);
  });
});

describe("receipt notification", () => {
  it("is what the router's parser reads in AWS: recipients, verdicts, S3 pointer, decoded subject", () => {
    // Prepare
    const notification = buildReceiptNotification({
      messageId: "m1",
      receivedAt: new Date("2026-11-28T10:00:00Z"),
      source: "alice@sender.example",
      recipients: ["bob@test.example.com"],
      block: parseHeaderBlock(fixture("plain.eml")),
      verdicts: { spam: "DISABLED", virus: "DISABLED", spf: "FAIL", dkim: "GRAY", dmarc: "FAIL", dmarcPolicy: "quarantine" },
      location: { bucket: "local-bucket", key: "emails/m1" },
      processingTimeMillis: 3,
    });

    // Act
    const parsed = createNotificationParser().parse(JSON.stringify(notification));

    // Assess
    expect(parsed).toEqual({
      messageId: "m1",
      source: "alice@sender.example",
      subject: "Hello ☕ from Alice",
      timestamp: "2026-11-28T10:00:00.000Z",
      recipients: ["bob@test.example.com"],
      s3: { bucket: "local-bucket", key: "emails/m1" },
      verdicts: { spam: "DISABLED", virus: "DISABLED", spf: "FAIL", dkim: "GRAY", dmarc: "FAIL", dmarcPolicy: "quarantine" },
    });
    expect(notification.receipt.action).toMatchObject({
      type: "S3",
      bucketName: "local-bucket",
      objectKey: "emails/m1",
      objectKeyPrefix: "emails/",
    });
    expect(notification.mail.headersTruncated).toBe(false);
  });

  it("truncates the header list past SES's 10 KB, as SES does", () => {
    // Prepare
    const many = Buffer.from(`${Array.from({ length: 200 }, (_, i) => `X-H${i}: ${"v".repeat(80)}`).join("\r\n")}\r\n\r\nbody`);

    // Act
    const notification = buildReceiptNotification({
      messageId: "m2",
      receivedAt: new Date(),
      source: "",
      recipients: ["bob@test.example.com"],
      block: parseHeaderBlock(many),
      verdicts: { spam: "DISABLED", virus: "DISABLED", spf: "GRAY", dkim: "GRAY", dmarc: "GRAY" },
      location: { bucket: "b", key: "emails/m2" },
      processingTimeMillis: 0,
    });

    // Assess
    expect(notification.mail.headersTruncated).toBe(true);
    expect(notification.mail.headers.length).toBeLessThan(200);
    expect(notification.receipt).not.toHaveProperty("dmarcPolicy");
  });
});

describe("self-signed STARTTLS certificate", () => {
  it("is a valid X.509 v3 server certificate for the names asked, signed by its own key", () => {
    // Act
    const { cert } = createSelfSignedCertificate({ commonName: "mx.test", altNames: ["localhost", "127.0.0.1", "::1"] });
    const x509 = new X509Certificate(cert);

    // Assess
    expect(x509.subject).toBe("CN=mx.test");
    expect(x509.checkHost("localhost")).toBe("localhost");
    expect(x509.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(x509.checkIP("::1")).toBe("::1");
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]);
    expect(x509.ca).toBe(false);
  });

  it("is kept across restarts and replaced when it is about to expire", async () => {
    // Prepare
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-tls-"));
    const options = { commonName: "mx.test", altNames: ["localhost"] };
    try {
      // Act
      const first = await ensureCertificate(dir, options);
      const again = await ensureCertificate(dir, options);
      const later = await ensureCertificate(dir, { ...options, now: new Date(Date.now() + 380 * 24 * 3600 * 1000) });

      // Assess
      expect([first.created, again.created, later.created]).toEqual([true, false, true]);
      expect(again.cert).toBe(first.cert);
      expect(fs.statSync(path.join(dir, "key.pem")).mode & 0o777).toBe(0o600);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
