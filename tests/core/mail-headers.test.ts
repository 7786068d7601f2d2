import { Readable } from "node:stream";
import { headerValue, parseHeaderFields, readHeaderBlock } from "../../core/mail-headers";
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
});
