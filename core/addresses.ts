/**
 * Envelope addresses and the keys they are routed by. Matching is case-insensitive: both the
 * local part and the domain are lower-cased and put in Unicode NFC, so `User@Example.COM` and
 * `user@example.com` reach the same rule. The `+tag` is everything after the first `+` of the local part.
 */
import { InvalidAddressError } from "./errors";
import { MAX_ADDRESS_LENGTH, MAX_DOMAIN_LENGTH, MAX_LOCAL_PART_LENGTH } from "./limits";

export interface EmailAddress {
  /** The address as routed: lower-cased, NFC, without angle brackets. */
  readonly address: string;
  readonly localPart: string;
  readonly domain: string;
  /** Text after the first `+` of the local part, or undefined when there is none. */
  readonly tag?: string;
  /** The address without its `+tag` (equal to `address` when there is no tag). */
  readonly normalized: string;
}

/** Control characters, space and the characters that can never appear unquoted in an address. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what this rejects
const FORBIDDEN_CHARS = /[\u0000-\u0020\u007f<>()[\]\\,;:"]/u;
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
 * Parses one envelope recipient (`RCPT TO`). Accepts surrounding angle brackets and whitespace.
 * Throws InvalidAddressError naming the address for anything that cannot be routed.
 */
export function parseAddress(input: string): EmailAddress {
  let text = input.trim();
  if (text.startsWith("<") && text.endsWith(">")) text = text.slice(1, -1);
  const address = canonicalize(text);
  if (address.length === 0) throw new InvalidAddressError(input, "it is empty");
  if (address.length > MAX_ADDRESS_LENGTH) {
    throw new InvalidAddressError(input, `it is longer than ${MAX_ADDRESS_LENGTH} characters`);
  }
  const at = address.lastIndexOf("@");
  if (at <= 0) throw new InvalidAddressError(input, at === 0 ? "the local part is empty" : "it has no @");
  const localPart = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (localPart.includes("@")) throw new InvalidAddressError(input, "it has more than one @");
  if (FORBIDDEN_CHARS.test(localPart)) {
    throw new InvalidAddressError(input, "the local part has a space, control or special character");
  }
  if (Buffer.byteLength(localPart, "utf8") > MAX_LOCAL_PART_LENGTH) {
    throw new InvalidAddressError(input, `the local part is longer than ${MAX_LOCAL_PART_LENGTH} octets`);
  }
  const domainError = domainProblem(domain);
  if (domainError) throw new InvalidAddressError(input, domainError);

  const plus = localPart.indexOf("+");
  const base = plus === -1 ? localPart : localPart.slice(0, plus);
  const tag = plus === -1 ? undefined : localPart.slice(plus + 1);
  // "+news@d" has no base to normalize to; it is routed by its exact form and its domain only.
  const normalized = base.length > 0 ? `${base}@${domain}` : address;
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
