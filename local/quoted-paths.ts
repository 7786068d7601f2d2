/**
 * Quoted local parts in MAIL FROM and RCPT TO (`<"john doe"@example.com>`, RFC 5321 §4.1.2).
 *
 * smtp-server 3.21 splits the argument of MAIL FROM and RCPT TO at whitespace and refuses a local part
 * holding an `@`, so it answers 501 to addresses RFC 5321 allows. This reads a quoted local part
 * itself and hands smtp-server the same command with a plain stand-in in its place, so that
 * everything else (the domain, source routes, ESMTP parameters) is still checked by smtp-server.
 */
import type { SMTPServer } from "smtp-server";
import { MAX_LOCAL_PART_LENGTH } from "../core/limits";

type SmtpConnection = SMTPServer["connections"] extends Set<infer Connection> ? Connection : never;

/**
 * `MAIL FROM:<` or `RCPT TO:<` (with an optional source route), a quoted local part, then `@domain>`.
 * The quoted part holds qtextSMTP and quoted pairs (RFC 5321) and non-ASCII (RFC 6531), but never a
 * control character or the invisible characters smtp-server refuses in addresses.
 */
const QUOTED_PATH =
  // eslint-disable-next-line no-control-regex -- control characters are what the quoted part must not hold
  /^((?:MAIL\s+FROM|RCPT\s+TO)\s*:\s*<(?:@[^<>:\s]+(?:,@[^<>:\s]+)*:)?)("(?:[^"\\\u0000-\u001f\u007f-\u009f\u200b\u2060\ufeff]|\\[\x20-\x7e])*")(@[^<>\s]+>)/i;

/** What smtp-server parses in the quoted local part's place: a plain atom. */
const STAND_IN = "q";

/** Lets one connection accept quoted local parts; everything else is parsed by smtp-server as before. */
export function acceptQuotedLocalParts(connection: SmtpConnection): void {
  const parse = connection._parseAddressCommand.bind(connection);
  connection._parseAddressCommand = (name, command) => {
    const text = command.toString();
    const match = QUOTED_PATH.exec(text);
    if (!match) return parse(name, command);
    const [whole, prefix, quoted, rest] = match as unknown as [string, string, string, string];
    if (Buffer.byteLength(quoted) > MAX_LOCAL_PART_LENGTH) return false;
    const parsed = parse(name, `${prefix}${STAND_IN}${rest}${text.slice(whole.length)}`);
    if (!parsed || !parsed.address.startsWith(`${STAND_IN}@`)) return parsed;
    return { ...parsed, address: `${quoted}${parsed.address.slice(STAND_IN.length)}` };
  };
}
