/**
 * Envelope addresses and the keys they are routed by. Matching is case-insensitive: both the
 * local part and the domain are lower-cased and put in Unicode NFC, so `User@Example.COM` and
 * `user@example.com` reach the same rule. The `+tag` is everything after the first `+` of the local part.
 * A quoted local part (`"john doe"@example.com`) is valid; `"john"@example.com` is `john@example.com`.
 */
import { InvalidAddressError } from "./errors";
import { MAX_ADDRESS_LENGTH, MAX_DOMAIN_LENGTH, MAX_LOCAL_PART_LENGTH } from "./limits";

/** Consumer Gmail's domains (googlemail.com is an alias of gmail.com): every address there is a Gmail mailbox. */
export const GMAIL_DOMAINS: readonly string[] = ["gmail.com", "googlemail.com"];

export interface EmailAddress {
  /** The address as routed: lower-cased, NFC, without angle brackets; the local part quoted only when it must be. */
  readonly address: string;
  /** As written in `address`: `john` or `"john doe"`. */
  readonly localPart: string;
  readonly domain: string;
  /** Text after the first `+` of the local part, or undefined when there is none. */
  readonly tag?: string;
  /** The address without its `+tag` (equal to `address` when there is no tag). */
  readonly normalized: string;
}

/** Control characters, space and the characters that can never appear unquoted in an address. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
const FORBIDDEN_CHARS = /[\u0000-\u0020\u007f<>()[\]\\,;:"@]/u;
/** Control characters (C0, DEL, C1): never in an address, not even quoted. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/u;
/** RFC 5321 Dot-string: atoms of atext (RFC 6531 adds every non-ASCII character) joined by single dots. */
const DOT_STRING = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10ffff}]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10ffff}]+)*$/u;
const DOMAIN_LABEL = /^(?!-)[\p{L}\p{N}-]{1,63}(?<!-)$/u;

/** Lower-case and NFC-normalize text the way every routing key is compared. */
export function canonicalize(text: string): string {
  return text.normalize("NFC").toLowerCase();
}

/** Validates a domain name (already canonical); returns a reason, or undefined when valid. */
export function domainProblem(domain: string): string | undefined {
  if (domain.length === 0) return "the domain is empty";
  if (domain.length > MAX_DOMAIN_LENGTH) return `the domain is longer than ${MAX_DOMAIN_LENGTH} characters`;
  const labels = domain.split(".");
  if (labels.length < 2) return "the domain has no dot";
  for (const label of labels) {
    if (!DOMAIN_LABEL.test(label)) return `the domain label ${JSON.stringify(label)} is not valid`;
  }
  return undefined;
}

/**
 * A local part as it is written: bare when its text is a Dot-string, else quoted (RFC 5321 §4.1.2),
 * with `"` and `\` escaped. `"john"` and `john` are the same mailbox and get the same form.
 */
export function formatLocalPart(text: string): string {
  return DOT_STRING.test(text) ? text : `"${text.replace(/["\\]/g, (char) => `\\${char}`)}"`;
}

/**
 * The text of a quoted local part (RFC 5321 Quoted-string, with RFC 6531's non-ASCII): what is between
 * the quotes, with quoted pairs (`\"`, `\\`, `\x`) resolved. Returns a reason when it is not one.
 */
function unquoteLocalPart(quoted: string): { text: string } | { problem: string } {
  if (quoted.length < 2 || !quoted.endsWith('"')) return { problem: "the quoted local part has no closing quote" };
  let text = "";
  for (let i = 1; i < quoted.length - 1; i++) {
    const char = quoted[i]!;
    if (char === "\\") {
      const next = quoted[i + 1];
      // A quoted pair escapes one printable ASCII character or a space (quoted-pairSMTP).
      if (next === undefined || i + 1 === quoted.length - 1 || !/^[\x20-\x7e]$/.test(next))
        return { problem: "the quoted local part has a backslash that escapes nothing printable" };
      text += next;
      i++;
    } else if (char === '"') {
      return { problem: "a quote inside the quoted local part is not escaped" };
    } else {
      text += char;
    }
  }
  return { text };
}

/**
 * Parses one envelope address (`RCPT TO`, `MAIL FROM`). Accepts surrounding angle brackets and
 * whitespace, and quoted local parts (`"john doe"@example.com`, RFC 5321 §4.1.2); the routed form quotes
 * the local part only when it must. Throws InvalidAddressError naming the address for anything that
 * cannot be routed.
 */
export function parseAddress(input: string): EmailAddress {
  let text = input.trim();
  if (text.startsWith("<") && text.endsWith(">")) text = text.slice(1, -1);
  const canonical = canonicalize(text);
  if (canonical.length === 0) throw new InvalidAddressError(input, "it is empty");
  const at = canonical.lastIndexOf("@");
  if (at <= 0) throw new InvalidAddressError(input, at === 0 ? "the local part is empty" : "it has no @");
  const written = canonical.slice(0, at);
  const domain = canonical.slice(at + 1);
  if (CONTROL_CHARS.test(written)) throw new InvalidAddressError(input, "the local part has a space, control or special character");

  // The local part's text (quotes and escapes resolved): the +tag is found in it. An unquoted local
  // part is kept as written (the check is lenient, as receiving MTAs are); a quoted one is written
  // in its shortest form.
  const quoted = written.startsWith('"');
  const format = (text: string) => (quoted ? formatLocalPart(text) : text);
  let localText: string;
  if (quoted) {
    const unquoted = unquoteLocalPart(written);
    if ("problem" in unquoted) throw new InvalidAddressError(input, unquoted.problem);
    if (unquoted.text.length === 0) throw new InvalidAddressError(input, "the local part is empty");
    localText = unquoted.text;
  } else {
    if (written.includes("@")) throw new InvalidAddressError(input, "it has more than one @");
    if (FORBIDDEN_CHARS.test(written)) {
      throw new InvalidAddressError(input, 'the local part has a space, control or special character (quote it: "john doe"@example.com)');
    }
    localText = written;
  }
  const localPart = format(localText);
  const address = `${localPart}@${domain}`;
  if (address.length > MAX_ADDRESS_LENGTH) {
    throw new InvalidAddressError(input, `it is longer than ${MAX_ADDRESS_LENGTH} characters`);
  }
  if (Buffer.byteLength(localPart, "utf8") > MAX_LOCAL_PART_LENGTH) {
    throw new InvalidAddressError(input, `the local part is longer than ${MAX_LOCAL_PART_LENGTH} octets`);
  }
  const domainError = domainProblem(domain);
  if (domainError) throw new InvalidAddressError(input, domainError);

  const plus = localText.indexOf("+");
  const base = plus === -1 ? localText : localText.slice(0, plus);
  const tag = plus === -1 ? undefined : localText.slice(plus + 1);
  // "+news@d" has no base to normalize to; it is routed by its exact form and its domain only.
  const normalized = base.length > 0 ? `${format(base)}@${domain}` : address;
  return tag === undefined ? { address, localPart, domain, normalized } : { address, localPart, domain, tag, normalized };
}
/** True when the text parses as an address; for validating configuration and CLI input. */
export function isAddress(text: string): boolean {
  try {
    parseAddress(text);
    return true;
  } catch {
    return false;
  }
}
