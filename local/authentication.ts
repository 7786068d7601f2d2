/**
 * SPF, DKIM and DMARC for local mode with mailauth, mapped to the verdicts SES reports
 * (PASS / FAIL / GRAY / PROCESSING_FAILED). Never throws: a DNS failure, a mailauth error or the
 * deadline give PROCESSING_FAILED, as SES does when it cannot evaluate a check.
 *
 * Mapping (checked with mailauth 7.1):
 * - SPF: pass → PASS; fail, softfail → FAIL; neutral, none → GRAY; temperror, permerror → PROCESSING_FAILED.
 * - DKIM: any signature pass → PASS; else any temperror → PROCESSING_FAILED; else fail, neutral (a body
 *   hash that did not verify), policy, permerror → FAIL; unsigned → GRAY.
 * - DMARC: pass → PASS; fail → FAIL with the sender's policy (`sp` for a subdomain, as mailauth reports it);
 *   none → GRAY; temperror, permerror → PROCESSING_FAILED. No From domain to check → GRAY.
 *
 * Spam: local mode scans nothing itself. A spam filter in front of it (SpamAssassin, rspamd) says what
 * it found in a header, and local mode takes that as SES's spam verdict, so the verdict policy applies
 * (quarantine: delivered into the Maildir++ folder `.Spam`): `X-Spam-Flag: YES`, `X-Spam: Yes` or
 * `X-Spam-Status: Yes, …` → FAIL; the same headers saying no → PASS; none of them → DISABLED, as SES
 * reports a scan it did not run. A sender can only mark its own message as spam this way, which is also
 * how to try the spam path by hand.
 */
import type { Readable } from "node:stream";
import type { DNSResolver } from "mailauth";
import { errorMessage } from "../core/errors";
import type { DmarcPolicy, VerdictStatus } from "../core/verdicts";
import { headerText } from "./headers";
import { AUTHENTICATION_DEADLINE_MS } from "./limits";
import type { DnsResolver } from "./resolver";

export interface AuthenticationVerdicts {
  /** From an upstream filter's header; absent when there is none (SES's DISABLED stands). */
  readonly spam?: VerdictStatus;
  readonly spf: VerdictStatus;
  readonly dkim: VerdictStatus;
  readonly dmarc: VerdictStatus;
  readonly dmarcPolicy?: DmarcPolicy;
}

export interface AuthenticationResult {
  readonly verdicts: AuthenticationVerdicts;
  /** The `Authentication-Results` header (RFC 8601), folded, ending in CRLF; UTF-8 where a client sent UTF-8 (RFC 6532). */
  readonly header: string;
}

export interface AuthenticationInput {
  /** The client's IP address. */
  readonly ip: string;
  /** What the client said in HELO/EHLO. */
  readonly helo: string;
  /** MAIL FROM; empty for the null sender. */
  readonly sender: string;
  /** This server's name (the authserv-id). */
  readonly mta: string;
  readonly resolver: DnsResolver;
  readonly deadlineMs?: number;
}

/** The parts of mailauth's result we read (its typings are looser than its output). */
interface MailauthOutcome {
  spf?: { status?: { result?: string }; info?: string } | false;
  dkim?: {
    results?: Array<{ status?: { result?: string }; info?: string }>;
    headers?: { parsed?: Array<{ key?: string | null; line?: Buffer }> };
  };
  dmarc?: { status?: { result?: string }; policy?: string; info?: string } | false;
}

export function spfVerdict(result: string | undefined): VerdictStatus {
  switch (result) {
    case "pass":
      return "PASS";
    case "fail":
    case "softfail":
      return "FAIL";
    case "neutral":
    case "none":
      return "GRAY";
    default:
      return "PROCESSING_FAILED";
  }
}

export function dkimVerdict(results: readonly (string | undefined)[]): VerdictStatus {
  if (results.includes("pass")) return "PASS";
  if (results.includes("temperror")) return "PROCESSING_FAILED";
  if (results.some((result) => result === "fail" || result === "neutral" || result === "policy" || result === "permerror")) return "FAIL";
  return "GRAY";
}

export function dmarcVerdict(
  result: string | undefined,
  policy: string | undefined,
): Pick<AuthenticationVerdicts, "dmarc" | "dmarcPolicy"> {
  switch (result) {
    case "pass":
      return { dmarc: "PASS" };
    case "fail": {
      const normalized = policy?.toLowerCase();
      const dmarcPolicy = normalized === "none" || normalized === "quarantine" || normalized === "reject" ? normalized : undefined;
      return dmarcPolicy ? { dmarc: "FAIL", dmarcPolicy } : { dmarc: "FAIL" };
    }
    case "none":
    case undefined:
      return { dmarc: "GRAY" };
    default:
      return { dmarc: "PROCESSING_FAILED" };
  }
}

/** Spam filters' verdict headers: the header (lower case) and how its value starts for spam / not spam. */
const SPAM_HEADERS: ReadonlyArray<{ readonly name: string; readonly spam: RegExp; readonly ham: RegExp }> = [
  { name: "x-spam-flag", spam: /^yes\b/i, ham: /^no\b/i }, // SpamAssassin
  { name: "x-spam", spam: /^yes\b/i, ham: /^no\b/i }, // rspamd
  { name: "x-spam-status", spam: /^yes\b/i, ham: /^no\b/i }, // SpamAssassin
];

/** The spam verdict an upstream filter wrote into the header block, or undefined when none did. */
export function spamVerdict(headers: ReadonlyArray<{ key?: string | null; line?: Buffer }>): VerdictStatus | undefined {
  let verdict: VerdictStatus | undefined;
  for (const header of headers) {
    const rule = SPAM_HEADERS.find((candidate) => candidate.name === header.key);
    if (!rule || !header.line) continue;
    const text = header.line.toString("latin1");
    const value = text.slice(text.indexOf(":") + 1).trim();
    if (rule.spam.test(value)) return "FAIL";
    if (rule.ham.test(value)) verdict = "PASS";
  }
  return verdict;
}

/**
 * mailauth quotes client values (RFC 8601 pvalues) and strips C0 controls itself, but keeps C1 controls
 * and line separators; headerText removes every character that could break the header or start a new one.
 */
const clean = headerText;

function resultsHeader(mta: string, clauses: readonly string[]): string {
  return `Authentication-Results: ${clean(mta)};\r\n ${clauses.map(clean).join(";\r\n ")}\r\n`;
}

function failedResult(mta: string, reason: string): AuthenticationResult {
  const comment = `(${clean(reason).replace(/[()\\]/g, "")})`;
  return {
    verdicts: { spf: "PROCESSING_FAILED", dkim: "PROCESSING_FAILED", dmarc: "PROCESSING_FAILED" },
    header: resultsHeader(mta, [`spf=temperror ${comment}`, `dkim=temperror ${comment}`, `dmarc=temperror ${comment}`]),
  };
}

/**
 * mailauth, loaded with the first message rather than with local mode (its certificate and schema
 * libraries are half a second of each start, and a restart that only drains its queues needs none).
 */
function mailauth(): typeof import("mailauth") {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return require("mailauth") as typeof import("mailauth");
}

/** Verifies a message; `message` is its bytes or a stream of them. */
export async function authenticateMessage(message: Buffer | Readable, input: AuthenticationInput): Promise<AuthenticationResult> {
  // Loaded before the deadline starts: loading is not the sender's DNS taking too long.
  const { authenticate } = mailauth();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<"deadline">((resolve) => {
    timer = setTimeout(() => resolve("deadline"), input.deadlineMs ?? AUTHENTICATION_DEADLINE_MS);
  });
  try {
    const outcome = await Promise.race([
      authenticate(message, {
        ip: input.ip,
        helo: input.helo,
        sender: input.sender,
        mta: input.mta,
        // mailauth's typings list only string records; at run time it also reads MX objects, as Node returns them.
        resolver: input.resolver as DNSResolver,
        disableArc: true,
        disableBimi: true,
      }) as Promise<MailauthOutcome>,
      deadline,
    ]);
    if (outcome === "deadline") {
      if (typeof (message as Readable).destroy === "function" && !Buffer.isBuffer(message)) (message as Readable).destroy();
      return failedResult(input.mta, "authentication took too long");
    }
    const spf = outcome.spf ? outcome.spf : undefined;
    const dkimResults = outcome.dkim?.results ?? [];
    const dmarc = outcome.dmarc ? outcome.dmarc : undefined;
    const spam = spamVerdict(outcome.dkim?.headers?.parsed ?? []);
    const verdicts: AuthenticationVerdicts = {
      ...(spam ? { spam } : {}),
      spf: spfVerdict(spf?.status?.result),
      dkim: dkimVerdict(dkimResults.map((result) => result.status?.result)),
      ...dmarcVerdict(dmarc?.status?.result, dmarc?.policy),
    };
    const clauses = [
      ...(spf?.info ? [spf.info] : ["spf=none"]),
      ...(dkimResults.length > 0 ? dkimResults.map((result) => result.info ?? "dkim=none") : ["dkim=none"]),
      ...(dmarc?.info ? [dmarc.info] : ["dmarc=none"]),
    ];
    return { verdicts, header: resultsHeader(input.mta, clauses) };
  } catch (error) {
    return failedResult(input.mta, errorMessage(error));
  } finally {
    clearTimeout(timer);
  }
}
