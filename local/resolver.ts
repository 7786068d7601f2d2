/**
 * DNS for mailauth: the system resolver with a short timeout, or a hermetic zone from a JSON file
 * (`--resolver FILE`): `{ "<name>": { "<RRTYPE>": [records] } }`, records in the shape Node's
 * `dns.promises.resolve` returns (TXT records are arrays of strings). A name or type the file lacks
 * answers NXDOMAIN (ENOTFOUND), exactly like a real zone without it. The system's answers are reused
 * for a while (`cachedResolver`), as a caching resolver in front of an MTA would.
 */
import { promises as dns } from "node:dns";
import * as fs from "node:fs";
import { z } from "zod";
import { errorMessage } from "../core/errors";
import { DNS_CACHE_MAX_ENTRIES, DNS_CACHE_TTL_MS, DNS_QUERY_TIMEOUT_MS } from "./limits";
import { builtOnce } from "../core/built-once";

/** mailauth's resolver contract: `resolver(name, rrtype)` resolves to the records or rejects with a coded error. */
export type DnsResolver = (name: string, rrtype: string) => Promise<unknown[]>;

export class ResolverFileError extends Error {
  constructor(file: string, reason: string) {
    super(`resolver file ${file}: ${reason}`);
    this.name = "ResolverFileError";
  }
}

/** Record types mailauth asks for, and what Node returns for each. */
function zoneSchema() {
  return builtOnce("local/resolver:zoneSchema", () => {
    const text = z.string();
    const records = z
      .object({
        TXT: z.array(z.array(text, { error: "a TXT record is an array of strings (its character-strings), as dns.resolveTxt returns" })),
        A: z.array(z.ipv4()),
        AAAA: z.array(z.ipv6()),
        MX: z.array(z.object({ exchange: text, priority: z.number().int().nonnegative() }).strict()),
        CNAME: z.array(text),
        PTR: z.array(text),
        NS: z.array(text),
      })
      .partial()
      .strict();
    return z.record(z.string().min(1), records);
  });
}

/** DNS names compare case-insensitively and without the root dot. */
function normalizeName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/** A DNS answer, not a fault: made without a stack trace, which cost more than the lookup (measured). */
function dnsError(code: string, name: string, rrtype: string): Error {
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return Object.assign(new Error(`query${rrtype} ${code} ${name}`), { code, hostname: name, syscall: `query${rrtype}` });
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

/** A resolver over an in-memory zone. Returns copies, so mailauth cannot alter the zone. */
export function zoneResolver(zone: Readonly<Record<string, Readonly<Record<string, readonly unknown[]>>>>): DnsResolver {
  const names = new Map(Object.entries(zone).map(([name, records]) => [normalizeName(name), records]));
  return async (name, rrtype) => {
    const records = names.get(normalizeName(name))?.[rrtype.toUpperCase()];
    if (!records) throw dnsError("ENOTFOUND", name, rrtype);
    return structuredClone([...records]);
  };
}

/** Reads and validates a resolver file; throws ResolverFileError naming the first problem. */
export function loadResolverFile(file: string): DnsResolver {
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new ResolverFileError(file, errorMessage(error));
  }
  const parsed = zoneSchema().safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ResolverFileError(file, `${issue?.path.join(".") || "(top)"}: ${issue?.message ?? "invalid"}`);
  }
  return zoneResolver(parsed.data);
}

/** The system's DNS, one try per query with a bounded timeout, so no DNS means a quick temporary error. */
export function systemResolver(timeoutMs = DNS_QUERY_TIMEOUT_MS): DnsResolver {
  const resolver = new dns.Resolver({ timeout: timeoutMs, tries: 1 });
  return (name, rrtype) => resolver.resolve(name, rrtype) as Promise<unknown[]>;
}

/** Answers that say what a zone holds (it has no such name, or no such record): safe to reuse. */
const DEFINITE_ERRORS: ReadonlySet<string> = new Set(["ENOTFOUND", "ENODATA"]);

interface CachedAnswer {
  readonly expires: number;
  readonly answer: Promise<unknown[]>;
}

export interface CachedResolverOptions {
  /** How long an answer is reused; default DNS_CACHE_TTL_MS. */
  readonly ttlMs?: number;
  /** Answers kept at most (the oldest go first); default DNS_CACHE_MAX_ENTRIES. */
  readonly maxEntries?: number;
  /** Epoch milliseconds; injected by tests. */
  readonly now?: () => number;
}

/**
 * `resolver` with its answers reused for `ttlMs`: records and definite negative answers (ENOTFOUND,
 * ENODATA) are kept, temporary failures are not. Questions asked while the same one is under way share
 * its answer, so ten connections from one domain make one query.
 */
export function cachedResolver(resolver: DnsResolver, options: CachedResolverOptions = {}): DnsResolver {
  const ttlMs = options.ttlMs ?? DNS_CACHE_TTL_MS;
  const maxEntries = options.maxEntries ?? DNS_CACHE_MAX_ENTRIES;
  const now = options.now ?? Date.now;
  const answers = new Map<string, CachedAnswer>();
  return (name, rrtype) => {
    const key = `${rrtype} ${normalizeName(name)}`;
    const cached = answers.get(key);
    if (cached && cached.expires > now()) return cached.answer;
    answers.delete(key);
    const answer = resolver(name, rrtype);
    // Kept until it turns out to be a temporary failure; the expiry counts from when it was asked.
    answers.set(key, { expires: now() + ttlMs, answer });
    answer.catch((error: unknown) => {
      const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
      if (!DEFINITE_ERRORS.has(code) && answers.get(key)?.answer === answer) answers.delete(key);
    });
    while (answers.size > maxEntries) answers.delete(answers.keys().next().value!);
    return answer;
  };
}
