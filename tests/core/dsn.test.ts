import PostalMime from "postal-mime";
import { buildDsn, dsnStatusFor, quotableHeaders, rfc5322Date, safeMessageId, sanitizeHeaderText, type DsnInput } from "../../core/dsn";
import { DSN_MAX_ORIGINAL_HEADER_BYTES } from "../../core/limits";
import { deliveryStatusGroups, fixture } from "../helpers/delivery";

function headerBlock(name: string): Buffer {
  const raw = fixture(name);
  return raw.subarray(0, raw.indexOf("\r\n\r\n") + 2);
}

function input(overrides: Partial<DsnInput> = {}): DsnInput {
  let counter = 0;
  return {
    domain: "example.com",
    envelopeSender: "alice@sender.example",
    arrivalDate: new Date("2026-11-28T10:00:00.000Z"),
    sesMessageId: "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1",
    originalSubject: "Lunch on Thursday?",
    recipients: [{ address: "nobody@example.com", status: "5.1.1" }],
    originalHeaders: headerBlock("plain-text.eml"),
    date: new Date("2026-11-28T10:00:05.000Z"),
    random: () => `r${++counter}`,
    ...overrides,
  };
}

async function parse(raw: Buffer) {
  const email = await PostalMime.parse(raw);
  const part = (type: string) => {
    const found = email.attachments.find((attachment) => attachment.mimeType === type);
    return found ? Buffer.from(found.content as ArrayBuffer).toString("utf8") : undefined;
  };
  const header = (name: string) => email.headers.find((entry) => entry.key === name)?.value;
  return { email, header, status: part("message/delivery-status"), quoted: part("text/rfc822-headers") };
}

describe("DSN builder (RFC 3464)", () => {
  it("builds a multipart/report a real MIME parser reads, with every field", async () => {
    // Act
    const dsn = buildDsn(
      input({
        recipients: [
          { address: "nobody@example.com", status: "5.1.1" },
          { address: "closed@example.com", status: "5.7.1" },
        ],
      }),
      "<CAFexample.lunch@mail.sender.example>",
    );
    const { email, header, status, quoted } = await parse(dsn.raw);

    // Assess: envelope and top-level headers
    expect(dsn).toMatchObject({ from: "MAILER-DAEMON@example.com", to: "alice@sender.example" });
    expect(email.from).toEqual({ name: "Mail Delivery System", address: "MAILER-DAEMON@example.com" });
    expect(email.to).toEqual([{ name: "", address: "alice@sender.example" }]);
    expect(email.subject).toBe("Undelivered Mail Returned to Sender");
    expect(header("auto-submitted")).toBe("auto-replied");
    expect(header("date")).toBe("Sat, 28 Nov 2026 10:00:05 +0000");
    expect(header("message-id")).toMatch(/^<r\d+@example\.com>$/);
    expect(email.inReplyTo).toBe("<CAFexample.lunch@mail.sender.example>");
    expect(header("content-type")).toMatch(/^multipart\/report; report-type=delivery-status; boundary="=_ses-mail-dsn-r\d+"$/);
    // the human-readable part
    expect(email.text).toContain("Subject:  Lunch on Thursday?");
    expect(email.text).toContain("<nobody@example.com>: there is no such address here (5.1.1)");
    expect(email.text).toContain("<closed@example.com>: delivery to this address is refused by the recipient's policy (5.7.1)");
    // the machine-readable part
    const groups = deliveryStatusGroups(status!);
    expect(groups).toEqual([
      {
        "Reporting-MTA": "dns; example.com",
        "X-SES-Message-ID": "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1",
        "Arrival-Date": "Sat, 28 Nov 2026 10:00:00 +0000",
      },
      {
        "Final-Recipient": "rfc822; nobody@example.com",
        Action: "failed",
        Status: "5.1.1",
        "Diagnostic-Code": "smtp; 550 5.1.1 <nobody@example.com>: Recipient address rejected: user unknown",
      },
      {
        "Final-Recipient": "rfc822; closed@example.com",
        Action: "failed",
        Status: "5.7.1",
        "Diagnostic-Code": "smtp; 550 5.7.1 <closed@example.com>: Delivery not authorized, message refused",
      },
    ]);
    // the original headers, unchanged (postal-mime keeps the CRLF that belongs to the next boundary)
    expect(quoted!.replace(/\n+$/, "\n").replace(/\n/g, "\r\n")).toBe(headerBlock("plain-text.eml").toString("utf8"));
  });

  it("is 7-bit clean: 8-bit original headers and a UTF-8 subject travel base64-encoded", async () => {
    const dsn = buildDsn(input({ originalHeaders: headerBlock("latin1-bare-lf.eml").subarray(0, 200), originalSubject: "Grüße aus Köln" }));
    expect([...dsn.raw].filter((byte) => byte >= 0x80)).toEqual([]);
    const { email, quoted } = await parse(dsn.raw);
    expect(email.text).toContain("Subject:  Grüße aus Köln");
    expect(quoted).toContain("To: user@example.com");
  });

  it("leaves out the headers part when the original's headers are unavailable", async () => {
    const { email } = await parse(buildDsn(input({ originalHeaders: Buffer.alloc(0) })).raw);
    expect(email.attachments.map((attachment) => attachment.mimeType)).toEqual(["message/delivery-status"]);
  });

  it("writes a non-ASCII recipient as an RFC 6533 utf-8 address, keeping the report 7-bit", async () => {
    const dsn = buildDsn(input({ recipients: [{ address: "jürgen@example.com", status: "5.1.1" }] }));
    const [, recipient] = deliveryStatusGroups((await parse(dsn.raw)).status!);
    expect(recipient!["Final-Recipient"]).toBe("utf-8; j\\x{FC}rgen@example.com");
    expect([...dsn.raw].filter((byte) => byte >= 0x80)).toEqual([]);
  });

  it("sends from MAILER-DAEMON at the ASCII form of an internationalized domain", () => {
    expect(buildDsn(input({ domain: "bücher.example", recipients: [{ address: "a@bücher.example", status: "5.1.1" }] })).from).toBe(
      "MAILER-DAEMON@xn--bcher-kva.example",
    );
  });

  describe("header injection", () => {
    it("cannot add a header through the subject (SES decodes encoded-words, so CR/LF can arrive)", async () => {
      const dsn = buildDsn(input({ originalSubject: "Hi\r\nBcc: victim@evil.example\r\n\r\nbody" }));
      const { email, header } = await parse(dsn.raw);
      expect(header("bcc")).toBeUndefined();
      expect(email.text).toContain("Subject:  Hi Bcc: victim@evil.example body");
    });

    it("quotes a bare CR as a space, so it never becomes a line break, and drops lines that are not header fields", async () => {
      const { header, quoted } = await parse(buildDsn(input({ originalHeaders: headerBlock("header-injection.eml") })).raw);
      expect(header("bcc")).toBeUndefined();
      expect(quoted).toContain("X-Sneaky: first Bcc: victim@evil.example\n");
      expect(quoted).not.toMatch(/^Bcc:/m);
      expect(quoted).not.toContain("--not-a-boundary");
    });

    it("chooses another boundary when the random one occurs in a part", async () => {
      const values = ["collide", "collide", "fresh", "id"];
      const headers = Buffer.from("X-Trap: --=_ses-mail-dsn-collide\r\nSubject: x\r\n");
      const dsn = buildDsn(input({ originalHeaders: headers, random: () => values.shift() ?? "more" }));
      const { header, quoted } = await parse(dsn.raw);
      expect(header("content-type")).toContain('boundary="=_ses-mail-dsn-fresh"');
      expect(quoted).toContain("X-Trap: --=_ses-mail-dsn-collide");
    });

    it("refuses an envelope sender that is not a plain ASCII address", () => {
      expect(() => buildDsn(input({ envelopeSender: "a@b.example>\r\nBcc: <x@y.example" }))).toThrow(/plain ASCII address/);
    });

    it.each([
      ["<ok@example.com>", "<ok@example.com>"],
      ["  <ok@example.com>  ", "<ok@example.com>"],
      ["<a b@example.com>", undefined],
      ["<x@y>\r\nBcc: z", undefined],
      ["no-brackets@example.com", undefined],
      [undefined, undefined],
    ])("uses %j as In-Reply-To only when it is a plain Message-ID", (value, expected) => {
      expect(safeMessageId(value)).toBe(expected);
    });
  });

  describe("quotableHeaders", () => {
    it("normalizes line endings, removes NUL and cuts long lines at 998 octets", () => {
      const quoted = quotableHeaders(Buffer.from(`A: one\nB: t\u0000wo\r\nC: ${"x".repeat(1500)}\r\n`, "latin1"));
      const lines = quoted.toString("latin1").split("\r\n");
      expect(lines.slice(0, 2)).toEqual(["A: one", "B: two"]);
      expect(lines[2]!.length).toBe(998);
      expect(quoted.toString("latin1")).not.toMatch(/[^\r]\n/);
    });

    it("cuts a huge header block at a field boundary within the limit", () => {
      const field = (i: number) => `X-Filler-${i}: ${"y".repeat(200)}\r\n ${"z".repeat(100)}\r\n`;
      const block = Buffer.from(Array.from({ length: 400 }, (_, i) => field(i)).join(""));
      const quoted = quotableHeaders(block);
      expect(quoted.length).toBeLessThanOrEqual(DSN_MAX_ORIGINAL_HEADER_BYTES);
      expect(quoted.toString()).toMatch(/z{100}\r\n$/);
    });

    it("stops at a blank line", () => {
      expect(quotableHeaders(Buffer.from("A: 1\r\n\r\nbody: not a header\r\n")).toString()).toBe("A: 1\r\n");
    });
  });

  it.each([
    ["default", "5.1.1"],
    ["exact", "5.7.1"],
    ["domain", "5.7.1"],
    ["policy", "5.7.1"],
  ])("uses status %s → %s", (match, status) => {
    expect(dsnStatusFor(match)).toBe(status);
  });

  it("formats RFC 5322 dates in UTC", () => {
    expect(rfc5322Date(new Date("2026-02-03T04:05:06.789Z"))).toBe("Tue, 03 Feb 2026 04:05:06 +0000");
  });

  it("sanitizes header text: no control characters, bounded length", () => {
    expect(sanitizeHeaderText("a\r\nb\tc\u0000d\u2028e")).toBe("a b c d e");
    expect(Array.from(sanitizeHeaderText("é".repeat(500), 10))).toHaveLength(10);
  });
});
