/**
 * What local mode reads from a message's header block (for the SES notification's `headers` and
 * `commonHeaders`, and the log line) and the trace header it adds. The block is parsed by the core's
 * parser (core/mail-headers.ts), bounded by HEADER_PARSE_MAX_BYTES. The message bytes themselves are
 * never changed; this only looks at them.
 */
import { headerBlockOf, headerValue, parseHeaderFields, type HeaderField } from "../core/mail-headers";
import { HEADER_PARSE_MAX_BYTES, SES_NOTIFICATION_HEADERS_MAX_BYTES } from "./limits";

export type { HeaderField };

export interface HeaderBlock {
  readonly fields: readonly HeaderField[];
  /** True when the block was longer than HEADER_PARSE_MAX_BYTES and only its start was read. */
  readonly truncated: boolean;
}

/** Parses the header block at the start of `head` (the first bytes of a message), with the core's parser. */
export function parseHeaderBlock(head: Buffer): HeaderBlock {
  const block = headerBlockOf(head, HEADER_PARSE_MAX_BYTES);
  return { fields: parseHeaderFields(block.bytes), truncated: !block.complete && head.length > HEADER_PARSE_MAX_BYTES };
}

/** Decodes RFC 2047 encoded-words (`=?utf-8?B?…?=`, `=?iso-8859-1?Q?…?=`); unknown charsets stay encoded. */
export function decodeEncodedWords(text: string): string {
  // Whitespace between two adjacent encoded-words is not displayed (RFC 2047 §6.2).
  const joined = text.replace(/(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)\s+(?==\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)/g, "$1");
  return joined.replace(/=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g, (word, charset: string, encoding: string, data: string) => {
    let bytes: Buffer;
    if (encoding.toUpperCase() === "B") {
      bytes = Buffer.from(data, "base64");
    } else {
      const qp = data.replace(/_/g, " ").replace(/=([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
      bytes = Buffer.from(qp, "latin1");
    }
    try {
      return new TextDecoder(charset.split("*")[0]!.toLowerCase()).decode(bytes);
    } catch {
      return word;
    }
  });
}

/** Splits an address list at top-level commas (not inside quotes, comments or angle brackets). */
export function splitAddressList(text: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  let depth = 0;
  let angle = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted && char === "\\") {
      current += char + (text[i + 1] ?? "");
      i++;
      continue;
    }
    if (char === '"' && depth === 0) quoted = !quoted;
    else if (!quoted && char === "(") depth++;
    else if (!quoted && char === ")" && depth > 0) depth--;
    else if (!quoted && depth === 0 && char === "<") angle = true;
    else if (!quoted && depth === 0 && char === ">") angle = false;
    if (char === "," && !quoted && depth === 0 && !angle) {
      if (current.trim()) parts.push(current.trim());
      current = "";
      continue;
    }
    current += char;
  }
  if (current.trim()) parts.push(current.trim());
  return parts;
}

/** SES's `commonHeaders`: the fields most consumers want, decoded. */
export interface CommonHeaders {
  readonly returnPath?: string;
  readonly from?: readonly string[];
  readonly sender?: string;
  readonly replyTo?: readonly string[];
  readonly to?: readonly string[];
  readonly cc?: readonly string[];
  readonly date?: string;
  readonly messageId?: string;
  readonly subject?: string;
}

export function commonHeaders(fields: readonly HeaderField[], returnPath: string): CommonHeaders {
  const list = (name: string) => {
    const value = headerValue(fields, name);
    return value === undefined ? undefined : splitAddressList(decodeEncodedWords(value));
  };
  const single = (name: string, decode = false) => {
    const value = headerValue(fields, name);
    return value === undefined ? undefined : decode ? decodeEncodedWords(value) : value;
  };
  const entries: Array<[keyof CommonHeaders, unknown]> = [
    ["returnPath", returnPath || undefined],
    ["from", list("from")],
    ["sender", single("sender", true)],
    ["replyTo", list("reply-to")],
    ["to", list("to")],
    ["cc", list("cc")],
    ["date", single("date")],
    ["messageId", single("message-id")],
    ["subject", single("subject", true)],
  ];
  return Object.fromEntries(entries.filter(([, value]) => value !== undefined)) as CommonHeaders;
}

/** The notification's `headers`: every field, in order, until SES's 10 KB budget is spent. */
export function notificationHeaders(block: HeaderBlock): { headers: HeaderField[]; truncated: boolean } {
  const headers: HeaderField[] = [];
  let bytes = 0;
  for (const field of block.fields) {
    bytes += Buffer.byteLength(field.name) + Buffer.byteLength(field.value) + 4;
    if (bytes > SES_NOTIFICATION_HEADERS_MAX_BYTES) return { headers, truncated: true };
    headers.push({ name: field.name, value: field.value });
  }
  return { headers, truncated: block.truncated };
}

/** RFC 5322 date-time in UTC: `Sat, 28 Nov 2026 10:00:00 +0000`. */
export function rfc5322Date(date: Date): string {
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${days[date.getUTCDay()]}, ${pad(date.getUTCDate())} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/**
 * What never goes into a header local mode writes: C0 and C1 control characters and DEL (CR and LF
 * would start a header line of the client's choosing), the Unicode line and paragraph separators, and
 * lone surrogates (which have no UTF-8 form).
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this finds
const UNSAFE_IN_HEADER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Text from a client (HELO name, addresses, anything mailauth read from the message) made safe for a
 * header we write: every unsafe character becomes a space, runs of whitespace one space. Non-ASCII
 * text stays, and is written as UTF-8 (RFC 6532).
 */
export function headerText(text: string): string {
  return text.replace(UNSAFE_IN_HEADER, " ").replace(/\s+/g, " ").trim();
}

/** One token of the Received header's `from` clause (the HELO name, the client's host name): no space and nothing that would end the clause or its comment. */
function receivedToken(text: string, max = 255): string {
  return (
    headerText(text)
      .replace(/[\s()<>;"\\]/g, "?")
      .slice(0, max) || "unknown"
  );
}

/**
 * The bytes of the trace headers we put in front of a message: UTF-8 (RFC 6532). Refuses (throws)
 * anything but `Name: value` lines and folded continuations without a control character, so that
 * nothing a client sent can ever reach the stored message as a header line of its own.
 */
export function traceHeaderBytes(headers: readonly string[]): Buffer {
  const text = headers.join("");
  const lines = text.endsWith("\r\n") ? text.slice(0, -2).split("\r\n") : undefined;
  for (const line of lines ?? [""]) {
    // eslint-disable-next-line no-control-regex -- control characters are what is refused
    if (!/^(?:[A-Za-z][A-Za-z0-9-]*: | )[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/.test(line)) {
      throw new Error(`refusing to write a trace header line that is not a clean header line: ${JSON.stringify(line.slice(0, 100))}`);
    }
  }
  return Buffer.from(text, "utf8");
}

export interface ReceivedInput {
  readonly helo: string;
  readonly clientHostname: string;
  readonly ip: string;
  readonly mta: string;
  /** ESMTP, ESMTPS, ESMTPSA … (RFC 3848). */
  readonly protocol: string;
  readonly messageId: string;
  readonly recipients: readonly string[];
  readonly date: Date;
}

/**
 * The `Received` trace header (RFC 5321 §4.4), as SES adds it; names the recipient only when there is
 * one. Client-chosen values keep their non-ASCII characters (UTF-8, RFC 6532) but lose anything that
 * could end the header or the clause they are in.
 */
export function receivedHeader(input: ReceivedInput): string {
  const forClause = input.recipients.length === 1 ? `\r\n for <${headerText(input.recipients[0]!).slice(0, 320)}>` : "";
  return (
    `Received: from ${receivedToken(input.helo)} (${receivedToken(input.clientHostname)} [${receivedToken(input.ip)}])\r\n` +
    ` by ${receivedToken(input.mta)} (ses-mail local) with ${receivedToken(input.protocol)} id ${receivedToken(input.messageId)}${forClause};\r\n` +
    ` ${rfc5322Date(input.date)}\r\n`
  );
}
