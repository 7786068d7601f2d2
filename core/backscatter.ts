/**
 * When not to bounce. A forwarder that bounces mail with a forged envelope sender sends its DSNs to
 * innocent third parties ("backscatter"), gets reported as a spam source, and loses its SES sending
 * rights. So a bounce is sent only when the envelope sender is a real, authenticated address that
 * asked for nothing automatic. Each rule has a reason code, logged and counted when it suppresses.
 *
 * The rules, in the order they are checked (the first that applies is the reason):
 * - `null-sender`: the envelope sender is empty (`<>`): a bounce of a bounce (RFC 5321 §4.5.5).
 * - `daemon-sender`: the sender's local part is MAILER-DAEMON or postmaster: automated, never answers.
 * - `invalid-sender`: the sender is not a routable ASCII address (nothing to send a bounce to).
 * - `virus`, `spam`, `dmarc-fail`: SES judged the message malicious, spam, or failing DMARC: its
 *   sender is very likely forged.
 * - `unauthenticated`: neither SPF nor DKIM passed, so nothing shows the sender sent it.
 * - `auto-submitted`: `Auto-Submitted` is anything but `no` (RFC 3834 §2: never answer automatic mail).
 * - `bulk-precedence`: `Precedence: bulk | list | junk` (mailing lists and bulk mail).
 * - `original-unavailable`: the raw message is gone, so the header rules above cannot be checked.
 * - `throttled`: this sender and recipient already got a bounce within the hour.
 */
import { parseAddress } from "./addresses";
import { headerValue, type HeaderField } from "./mail-headers";
import type { Verdicts } from "./verdicts";

export const SuppressionReason = {
  NullSender: "null-sender",
  DaemonSender: "daemon-sender",
  InvalidSender: "invalid-sender",
  Virus: "virus",
  Spam: "spam",
  DmarcFail: "dmarc-fail",
  Unauthenticated: "unauthenticated",
  AutoSubmitted: "auto-submitted",
  BulkPrecedence: "bulk-precedence",
  OriginalUnavailable: "original-unavailable",
  Throttled: "throttled",
} as const;
export type SuppressionReason = (typeof SuppressionReason)[keyof typeof SuppressionReason];

/** Local parts that are automated and must never receive a bounce (compared case-insensitively). */
const DAEMON_LOCAL_PARTS: readonly string[] = ["mailer-daemon", "postmaster"];

/** `Precedence` values that mark bulk or list mail. */
const BULK_PRECEDENCE: readonly string[] = ["bulk", "list", "junk"];

/** Printable ASCII only: SES sends to ASCII addresses (no SMTPUTF8). */
const ASCII_ADDRESS = /^[\x21-\x7e]+$/;

/** Checks the envelope sender alone (no I/O needed). Returns the suppression reason, or undefined. */
export function senderSuppression(envelopeSender: string): SuppressionReason | undefined {
  const text = envelopeSender.trim();
  if (text === "" || text === "<>") return SuppressionReason.NullSender;
  let localPart: string;
  try {
    const address = parseAddress(text);
    if (!ASCII_ADDRESS.test(address.address)) return SuppressionReason.InvalidSender;
    localPart = address.localPart;
  } catch {
    const bare = text.replace(/^<|>$/g, "").toLowerCase();
    // A bare "MAILER-DAEMON" (no domain) is still a daemon, not merely invalid.
    return DAEMON_LOCAL_PARTS.includes(bare) ? SuppressionReason.DaemonSender : SuppressionReason.InvalidSender;
  }
  return DAEMON_LOCAL_PARTS.includes(localPart) ? SuppressionReason.DaemonSender : undefined;
}

/** Checks SES's verdicts. Returns the suppression reason, or undefined. */
export function verdictSuppression(verdicts: Verdicts): SuppressionReason | undefined {
  if (verdicts.virus === "FAIL") return SuppressionReason.Virus;
  if (verdicts.spam === "FAIL") return SuppressionReason.Spam;
  if (verdicts.dmarc === "FAIL") return SuppressionReason.DmarcFail;
  if (verdicts.spf !== "PASS" && verdicts.dkim !== "PASS") return SuppressionReason.Unauthenticated;
  return undefined;
}

/** The token of a structured header value: up to the first `;`, `(` or whitespace, lower-cased. */
function firstToken(value: string): string {
  return (value.split(/[;(\s]/, 1)[0] ?? "").toLowerCase();
}

/** Checks the original message's headers. Returns the suppression reason, or undefined. */
export function headerSuppression(fields: readonly HeaderField[]): SuppressionReason | undefined {
  const autoSubmitted = headerValue(fields, "Auto-Submitted");
  if (autoSubmitted !== undefined && firstToken(autoSubmitted) !== "no") return SuppressionReason.AutoSubmitted;
  const precedence = headerValue(fields, "Precedence");
  if (precedence !== undefined && BULK_PRECEDENCE.includes(firstToken(precedence))) return SuppressionReason.BulkPrecedence;
  return undefined;
}
