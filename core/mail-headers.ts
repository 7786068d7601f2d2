/**
 * The header block of a raw message, read as bytes: only as far as the blank line that ends it (and
 * never further than a limit the caller names), so a bounce for a 40 MB message reads a few kilobytes.
 * Fields are unfolded for matching (`Auto-Submitted`, `Precedence`, `Message-ID`, local mode's SES
 * notification headers); the bytes are kept as they were for quoting. The one header parser of
 * ses-mail: the bouncer reads a stored message with it, local mode's intake the message it received.
 * Tolerant: bare LF, NUL, 8-bit and invalid UTF-8 never throw.
 */

export interface HeaderBlock {
  /** The header fields as stored, up to and including the line break of the last one (no blank line). */
  readonly bytes: Buffer;
  /** False when no blank line was found within the limit (or the message has no body). */
  readonly complete: boolean;
}

export interface HeaderField {
  /** As written, without the colon (case preserved). */
  readonly name: string;
  /** Unfolded: line breaks removed, surrounding whitespace trimmed. Decoded as UTF-8 (invalid bytes become U+FFFD); MIME encoded-words kept as sent. */
  readonly value: string;
}

/** Index just past the line break before the blank line ending the header block, or -1. */
function endOfHeaders(buffer: Buffer, from: number): number {
  for (let i = Math.max(0, from); i < buffer.length; i++) {
    if (buffer[i] !== 0x0a) continue; // a line break ends with LF (CRLF or a bare LF)
    const next = buffer[i + 1];
    if (next === 0x0a) return i + 1;
    if (next === 0x0d && buffer[i + 2] === 0x0a) return i + 1;
  }
  return -1;
}

/**
 * The header block at the start of `head` (the first bytes of a message), looked for within `maxBytes`:
 * complete when the blank line that ends it is there, otherwise the first `maxBytes` (or all of `head`).
 */
export function headerBlockOf(head: Buffer, maxBytes: number): HeaderBlock {
  if (head[0] === 0x0a || (head[0] === 0x0d && head[1] === 0x0a)) return { bytes: Buffer.alloc(0), complete: true };
  // Only as far as a blank line ending within maxBytes could reach.
  const end = endOfHeaders(head.subarray(0, maxBytes + 2), 0);
  if (end !== -1 && end <= maxBytes) return { bytes: head.subarray(0, end), complete: true };
  return { bytes: head.subarray(0, maxBytes), complete: false };
}

/** Reads a stream's header block and then stops reading (the caller destroys the stream). */
export async function readHeaderBlock(stream: NodeJS.ReadableStream, maxBytes: number): Promise<HeaderBlock> {
  const chunks: Buffer[] = [];
  let length = 0;
  let scanned = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "latin1") : (chunk as Buffer);
    chunks.push(bytes);
    length += bytes.length;
    const buffer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    if (chunks.length > 1) chunks.splice(0, chunks.length, buffer);
    if (buffer[0] === 0x0a || (buffer[0] === 0x0d && buffer[1] === 0x0a)) return { bytes: Buffer.alloc(0), complete: true };
    // Look again from a little before the new bytes, in case the blank line straddles two chunks.
    const end = endOfHeaders(buffer, scanned - 3);
    if (end !== -1 && end <= maxBytes) return { bytes: buffer.subarray(0, end), complete: true };
    scanned = buffer.length;
    // Two bytes past the limit: a header block of exactly maxBytes is complete when a CRLF follows it.
    if (length >= maxBytes + 2) break;
  }
  return headerBlockOf(Buffer.concat(chunks), maxBytes);
}

/** Splits a header block into fields; lines that are neither a field nor a continuation are skipped. */
export function parseHeaderFields(block: Buffer): HeaderField[] {
  const fields: Array<{ name: string; value: string }> = [];
  const lines = block.toString("utf8").split(/\r?\n/);
  for (const line of lines) {
    if (line.length === 0) continue;
    if ((line[0] === " " || line[0] === "\t") && fields.length > 0) {
      fields[fields.length - 1]!.value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    // RFC 5322 §3.6.8: a field name is printable ASCII except the colon, at least one character.
    if (colon <= 0 || !/^[\x21-\x39\x3b-\x7e]+$/.test(line.slice(0, colon))) continue;
    fields.push({ name: line.slice(0, colon), value: line.slice(colon + 1).trim() });
  }
  return fields;
}

/** The first field of that name (case-insensitive), or undefined. */
export function headerValue(fields: readonly HeaderField[], name: string): string | undefined {
  const lower = name.toLowerCase();
  return fields.find((field) => field.name.toLowerCase() === lower)?.value;
}
