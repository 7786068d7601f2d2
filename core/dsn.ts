/**
 * Delivery status notifications (RFC 3464), built as bytes:
 *
 *   multipart/report; report-type=delivery-status                       (RFC 6522)
 *   ├── text/plain            what happened, for a person
 *   ├── message/delivery-status
 *   │     Reporting-MTA, Arrival-Date, X-SES-Message-ID                  (per message)
 *   │     Final-Recipient, Action: failed, Status, Diagnostic-Code       (per recipient)
 *   └── text/rfc822-headers   the original message's headers (bounded)
 *
 * From `MAILER-DAEMON@<recipient domain>` to the envelope sender, `Auto-Submitted: auto-replied`.
 *
 * Everything that comes from the original message or its envelope is untrusted: header text is
 * stripped of control characters (no CR/LF can start a new header), addresses are validated before
 * they get here, the quoted header block has its line endings normalized (a bare CR never becomes a
 * line break) and its size bounded, and the MIME boundary is chosen so that it occurs in no part.
 * The report is 7-bit: 8-bit text travels base64-encoded.
 */
import { DSN_MAX_ORIGINAL_HEADER_BYTES, MAX_LINE_OCTETS } from "./limits";

/** 5.1.1: bad destination mailbox address. 5.7.1: delivery not authorized, message refused (RFC 3463). */
export type DsnStatus = "5.1.1" | "5.7.1";

export interface DsnRecipient {
  /** The envelope recipient (canonical, validated by the router). */
  readonly address: string;
  readonly status: DsnStatus;
}

export interface DsnInput {
  /** The domain of the bounced recipients: the DSN comes from MAILER-DAEMON at it and names it as the reporting MTA. */
  readonly domain: string;
  /** Where the DSN goes: the original envelope sender (validated, ASCII). */
  readonly envelopeSender: string;
  /** When SES received the original. */
  readonly arrivalDate: Date;
  readonly sesMessageId: string;
  readonly originalSubject: string;
  readonly recipients: readonly DsnRecipient[];
  /** The original header block as stored; empty when unavailable (then the third part is left out). */
  readonly originalHeaders: Buffer;
  /** The DSN's own Date. */
  readonly date: Date;
  /** Random text for the Message-ID and the MIME boundary (injected so tests are deterministic). */
  readonly random: () => string;
}

export interface Dsn {
  readonly from: string;
  readonly to: string;
  readonly raw: Buffer;
}

const CRLF = "\r\n";
const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** What each status tells the sender, in the human part and the Diagnostic-Code. */
const STATUS_TEXT: Record<DsnStatus, { human: string; smtp: string }> = {
  "5.1.1": { human: "there is no such address here", smtp: "Recipient address rejected: user unknown" },
  "5.7.1": { human: "delivery to this address is refused by the recipient's policy", smtp: "Delivery not authorized, message refused" },
};

/** The status for a bounced recipient: no rule at all means an unknown address; a rule or policy that bounces is a refusal. */
export function dsnStatusFor(match: string): DsnStatus {
  return match === "default" ? "5.1.1" : "5.7.1";
}

/** RFC 5322 §3.3 date-time, in UTC. */
export function rfc5322Date(date: Date): string {
  const pad = (value: number) => String(value).padStart(2, "0");
  return `${WEEKDAYS[date.getUTCDay()]}, ${pad(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** One line of header-safe text: every control character (CR, LF, NUL, TAB, DEL…) becomes a space; at most `max` characters. */
export function sanitizeHeaderText(text: string, max = 200): string {
  const clean = text
    // eslint-disable-next-line no-control-regex -- control characters are exactly what this removes
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  const chars = Array.from(clean);
  return chars.length <= max ? clean : `${chars.slice(0, max - 1).join("")}…`;
}

/** The domain in ASCII (IDNA, as the URL parser does it), for header fields. */
export function asciiDomain(domain: string): string {
  return new URL(`http://${domain}`).hostname;
}

function isAscii(text: string): boolean {
  // eslint-disable-next-line no-control-regex -- the ASCII range, control characters included
  return /^[\u0000-\u007f]*$/.test(text);
}

/** An address for a delivery-status field: `rfc822; addr`, or RFC 6533 `utf-8; ` with non-ASCII as `\x{HEX}`. */
function statusAddress(address: string): string {
  if (isAscii(address)) return `rfc822; ${address}`;
  const escaped = Array.from(address)
    .map((char) => (/^[\x21-\x5b\x5d-\x7e]$/.test(char) ? char : `\\x{${char.codePointAt(0)!.toString(16).toUpperCase()}}`))
    .join("");
  return `utf-8; ${escaped}`;
}

/** The address as ASCII text for the Diagnostic-Code and other 7-bit places. */
function asciiAddress(address: string): string {
  return statusAddress(address).replace(/^(rfc822|utf-8); /, "");
}

function base64Lines(bytes: Buffer): string {
  return (bytes.toString("base64").match(/.{1,76}/g) ?? []).join(CRLF);
}

/** A body part: headers, a blank line, the content (7-bit when it is ASCII, base64 otherwise). */
function bodyPart(contentType: string, content: Buffer): string {
  const ascii = !content.some((byte) => byte > 0x7f);
  const encoding = ascii ? "7bit" : "base64";
  const text = ascii ? content.toString("latin1") : base64Lines(content);
  return `Content-Type: ${contentType}${CRLF}Content-Transfer-Encoding: ${encoding}${CRLF}${CRLF}${text}`;
}

/** RFC 5322 §3.6.8: a field name (printable ASCII but the colon) followed by a colon. */
const FIELD_START = /^[\x21-\x39\x3b-\x7e]+:/;

/**
 * The original header block made safe to quote: NUL removed, a bare CR (which some parsers take as a
 * line break) turned into a space, a bare LF into CRLF, each line cut at 998 octets, lines that are
 * not part of a header field dropped, and the whole cut at the last field boundary within
 * DSN_MAX_ORIGINAL_HEADER_BYTES.
 */
export function quotableHeaders(block: Buffer): Buffer {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= block.length; i++) {
    if (i < block.length && block[i] !== 0x0a) continue;
    let end = i;
    if (end > start && block[end - 1] === 0x0d) end--;
    const line = block.subarray(start, end);
    start = i + 1;
    if (line.length === 0) {
      if (i < block.length) break; // a blank line ends the header block; nothing after it is a header
      continue;
    }
    lines.push(line);
  }
  const cleaned = lines.map((line) => {
    const bytes = Buffer.from(line.filter((byte) => byte !== 0x00).map((byte) => (byte === 0x0d ? 0x20 : byte)));
    return bytes.length > MAX_LINE_OCTETS ? bytes.subarray(0, MAX_LINE_OCTETS) : bytes;
  });
  const out: Buffer[] = [];
  let size = 0;
  let fieldStart = 0; // index in `out` where the current field began
  let inField = false;
  for (const line of cleaned) {
    const continuation = line[0] === 0x20 || line[0] === 0x09;
    if (continuation && !inField) continue;
    if (!continuation) {
      // Only header fields are quoted: a line that is neither a field nor a continuation is dropped.
      inField = FIELD_START.test(line.toString("latin1"));
      if (!inField) continue;
      fieldStart = out.length;
    }
    if (size + line.length + 2 > DSN_MAX_ORIGINAL_HEADER_BYTES) {
      out.splice(fieldStart); // drop the field that does not fit whole
      break;
    }
    out.push(line, Buffer.from(CRLF));
    size += line.length + 2;
  }
  return Buffer.concat(out);
}

/** A Message-ID from the original headers, if it is one (`<…>`, printable ASCII, no spaces). */
export function safeMessageId(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const match = /^\s*(<[\x21-\x3b\x3d\x3f-\x7e]{1,250}>)\s*$/.exec(value);
  return match?.[1];
}

export function buildDsn(input: DsnInput, originalMessageId?: string): Dsn {
  if (input.recipients.length === 0) throw new Error("a DSN needs at least one recipient");
  const domain = asciiDomain(input.domain);
  const from = `MAILER-DAEMON@${domain}`;
  const to = input.envelopeSender;
  if (!/^[\x21-\x3b\x3d\x3f-\x7e]+@[\x21-\x3b\x3d\x3f-\x7e]+$/.test(to)) throw new Error("the DSN recipient must be a plain ASCII address");
  const subject = sanitizeHeaderText(input.originalSubject || "(no subject)");
  const inReplyTo = safeMessageId(originalMessageId);

  const human = [
    `This is the mail system of ${domain}.`,
    "",
    input.recipients.length === 1
      ? "Your message could not be delivered to the recipient below."
      : "Your message could not be delivered to the recipients below.",
    "",
    `  Subject:  ${subject}`,
    `  Received: ${rfc5322Date(input.arrivalDate)}`,
    "",
    ...input.recipients.map(
      (recipient) => `<${sanitizeHeaderText(recipient.address, 300)}>: ${STATUS_TEXT[recipient.status].human} (${recipient.status})`,
    ),
    "",
    "The delivery report and the headers of your message are attached.",
    "",
  ].join(CRLF);

  const status = [
    `Reporting-MTA: dns; ${domain}`,
    `X-SES-Message-ID: ${sanitizeHeaderText(input.sesMessageId, 100).replace(/[^\x21-\x7e]/g, "")}`,
    `Arrival-Date: ${rfc5322Date(input.arrivalDate)}`,
    ...input.recipients.flatMap((recipient) => [
      "",
      `Final-Recipient: ${statusAddress(recipient.address)}`,
      "Action: failed",
      `Status: ${recipient.status}`,
      `Diagnostic-Code: smtp; 550 ${recipient.status} <${asciiAddress(recipient.address)}>: ${STATUS_TEXT[recipient.status].smtp}`,
    ]),
    "",
  ].join(CRLF);

  const headers = quotableHeaders(input.originalHeaders);
  const parts = [
    bodyPart(`text/plain; charset=${isAscii(human) ? "us-ascii" : "utf-8"}`, Buffer.from(human, "utf8")),
    bodyPart("message/delivery-status", Buffer.from(status, "latin1")),
    ...(headers.length > 0 ? [bodyPart("text/rfc822-headers", headers)] : []),
  ];

  // A boundary that occurs in no part (random, so it cannot be predicted, and checked anyway).
  let boundary = "";
  for (let attempt = 0; attempt < 10 && (boundary === "" || parts.some((part) => part.includes(boundary))); attempt++) {
    boundary = `=_ses-mail-dsn-${input.random()}`;
  }
  if (parts.some((part) => part.includes(boundary))) throw new Error("could not choose a MIME boundary for the DSN");

  const head = [
    `From: Mail Delivery System <${from}>`,
    `To: <${to}>`,
    "Subject: Undelivered Mail Returned to Sender",
    `Date: ${rfc5322Date(input.date)}`,
    `Message-ID: <${input.random()}@${domain}>`,
    ...(inReplyTo ? [`In-Reply-To: ${inReplyTo}`, `References: ${inReplyTo}`] : []),
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
  ].join(CRLF);

  const body = `${parts.map((part) => `--${boundary}${CRLF}${part}${CRLF}`).join("")}--${boundary}--${CRLF}`;
  const raw = Buffer.from(`${head}${CRLF}${CRLF}This is a MIME-encapsulated delivery status notification.${CRLF}${CRLF}${body}`, "latin1");
  return { from, to, raw };
}
