import { Readable } from "node:stream";
import * as fc from "fast-check";
import { headerBlockOf, headerValue, parseHeaderFields, readHeaderBlock } from "../../core/mail-headers";
import { fixture } from "../helpers/delivery";

describe("reading the header block", () => {
  it("returns the header bytes as stored and stops reading at the blank line", async () => {
    // Prepare: the header, then a body that fails if anyone reads it
    const raw = fixture("plain-text.eml");
    const end = raw.indexOf("\r\n\r\n") + 2;
    let bodyChunksPulled = 0;
    async function* chunks() {
      yield raw.subarray(0, 100);
      yield raw.subarray(100, end + 2);
      for (let i = 0; i < 100; i++) {
        bodyChunksPulled++;
        yield Buffer.alloc(64 * 1024, 0x41);
      }
    }

    // Act
    const block = await readHeaderBlock(Readable.from(chunks(), { highWaterMark: 1 }), 256 * 1024);

    // Assess: the stream reads ahead by its high-water mark at most, never the 6 MB body
    expect(block.complete).toBe(true);
    expect(block.bytes).toEqual(raw.subarray(0, end));
    expect(bodyChunksPulled).toBeLessThanOrEqual(2);
  });

  it("finds a blank line that straddles two chunks, and a bare-LF blank line", async () => {
    const straddled = await readHeaderBlock(Readable.from([Buffer.from("A: 1\r\nB: 2\r"), Buffer.from("\n\r\nbody")]), 1024);
    expect(straddled.bytes.toString()).toBe("A: 1\r\nB: 2\r\n");
    const bareLf = await readHeaderBlock(Readable.from([Buffer.from("A: 1\nB: 2\n\nbody\n")]), 1024);
    expect(bareLf.bytes.toString()).toBe("A: 1\nB: 2\n");
  });

  it("stops at the limit when there is no blank line", async () => {
    const block = await readHeaderBlock(Readable.from([Buffer.alloc(300_000, 0x61)]), 1000);
    expect(block).toMatchObject({ complete: false });
    expect(block.bytes.length).toBe(1000);
  });

  it("unfolds fields and finds them case-insensitively", () => {
    const fields = parseHeaderFields(Buffer.from("Subject: one\r\n two\r\n\tthree\r\nnot a field\r\nauto-submitted: auto-replied\r\n"));
    expect(headerValue(fields, "subject")).toBe("one two three");
    expect(headerValue(fields, "Auto-Submitted")).toBe("auto-replied");
    expect(fields.map((field) => field.name)).toEqual(["Subject", "auto-submitted"]);
  });

  it("keeps only RFC 5322 field names: printable ASCII without a colon, never a space, a control or an 8-bit byte", () => {
    // Prepare: what a sloppy or hostile client may send; local mode's intake parses it with this parser too.
    const block = Buffer.concat([
      Buffer.from("From: a@x.example\r\nBad Name: spaced\r\nX-\u0001Ctl: control\r\n"),
      Buffer.from([0x58, 0x2d, 0xe9, 0x3a, 0x20, 0x31, 0x0d, 0x0a]), // "X-\xe9: 1", an 8-bit name
      Buffer.from("Subject: caf\xe9\r\n", "latin1"),
    ]);

    // Act
    const fields = parseHeaderFields(block);

    // Assess: invalid UTF-8 in a value becomes U+FFFD and never throws
    expect(fields).toEqual([
      { name: "From", value: "a@x.example" },
      { name: "Subject", value: "caf\ufffd" },
    ]);
  });
});

describe("the header block of a buffer (local mode's intake)", () => {
  it("is what reading the same bytes as a stream finds, however they are chunked (property)", async () => {
    const line = fc.constantFrom("A: 1", "Subject: two", " folded", "X-Y:", "", "no colon", "body text");
    const eol = fc.constantFrom("\r\n", "\n", "\r");
    const message = fc
      .array(fc.tuple(line, eol), { maxLength: 12 })
      .map((parts) => Buffer.from(parts.map(([text, end]) => text + end).join("")));
    await fc.assert(
      fc.asyncProperty(message, fc.integer({ min: 1, max: 80 }), fc.integer({ min: 1, max: 16 }), async (raw, maxBytes, chunkSize) => {
        // Prepare
        const chunks: Buffer[] = [];
        for (let i = 0; i < raw.length; i += chunkSize) chunks.push(raw.subarray(i, i + chunkSize));

        // Act
        const fromBuffer = headerBlockOf(raw, maxBytes);
        const fromStream = await readHeaderBlock(Readable.from(chunks), maxBytes);

        // Assess
        expect({ bytes: fromBuffer.bytes.toString("latin1"), complete: fromBuffer.complete }).toEqual({
          bytes: fromStream.bytes.toString("latin1"),
          complete: fromStream.complete,
        });
      }),
    );
  });

  it("is complete, read as a stream, when the block fills the limit exactly and the blank line follows it", async () => {
    // Found by the property above (seed 680877403): the stream stopped at the limit, before the CRLF.
    const raw = Buffer.from("Subject: two\r\n\r\n");
    const oneByteChunks = [...raw].map((byte) => Buffer.from([byte]));

    const block = await readHeaderBlock(Readable.from(oneByteChunks), 14);

    expect({ bytes: block.bytes.toString("latin1"), complete: block.complete }).toEqual({ bytes: "Subject: two\r\n", complete: true });
  });

  it("ends at the first blank line within the limit, and is incomplete without one", () => {
    // Act / Assess
    expect(headerBlockOf(Buffer.from("A: 1\r\nB: 2\r\n\r\nbody"), 1024)).toEqual({
      bytes: Buffer.from("A: 1\r\nB: 2\r\n"),
      complete: true,
    });
    expect(headerBlockOf(Buffer.from("\r\nbody"), 1024)).toEqual({ bytes: Buffer.alloc(0), complete: true });
    expect(headerBlockOf(Buffer.from("A: 1\r\nB: 2\r\n\r\nbody"), 8)).toEqual({ bytes: Buffer.from("A: 1\r\nB:"), complete: false });
    expect(headerBlockOf(Buffer.from("A: 1\r\n"), 1024)).toEqual({ bytes: Buffer.from("A: 1\r\n"), complete: false });
  });
});
