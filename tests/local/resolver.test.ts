/**
 * The DNS cache local mode puts in front of the system resolver: answers and definite negative answers
 * reused for a while, temporary failures asked again, one query for questions asked together.
 */
import { cachedResolver, type DnsResolver } from "../../local/resolver";

/** A resolver that answers from `zone`, fails `failing` names with a timeout, and counts each question it gets. */
function countingResolver(zone: Record<string, unknown[]>, failing: ReadonlySet<string> = new Set()) {
  const asked: string[] = [];
  const resolver: DnsResolver = async (name, rrtype) => {
    asked.push(`${rrtype} ${name}`);
    if (failing.has(name)) throw Object.assign(new Error(`queryTxt ETIMEOUT ${name}`), { code: "ETIMEOUT" });
    const records = zone[name];
    if (!records) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: "ENOTFOUND" });
    return records;
  };
  return { resolver, asked };
}

function clock(start = 0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe("local mode's DNS cache", () => {
  it("answers a question asked again within the TTL from the cache, case and root dot aside", async () => {
    // Prepare
    const upstream = countingResolver({ "sender.example": [["v=spf1 -all"]] });
    const time = clock();
    const resolve = cachedResolver(upstream.resolver, { ttlMs: 60_000, now: time.now });

    // Act
    const first = await resolve("sender.example", "TXT");
    time.advance(59_999);
    const again = await resolve("Sender.Example.", "TXT");

    // Assess
    expect(again).toEqual(first);
    expect(upstream.asked).toEqual(["TXT sender.example"]);
  });

  it("asks again once the TTL is over", async () => {
    const upstream = countingResolver({ "sender.example": [["v=spf1 -all"]] });
    const time = clock();
    const resolve = cachedResolver(upstream.resolver, { ttlMs: 60_000, now: time.now });

    await resolve("sender.example", "TXT");
    time.advance(60_000);
    await resolve("sender.example", "TXT");

    expect(upstream.asked).toEqual(["TXT sender.example", "TXT sender.example"]);
  });

  it("keeps a name that does not exist (NXDOMAIN) as an answer, with its error code", async () => {
    const upstream = countingResolver({});
    const resolve = cachedResolver(upstream.resolver, { now: clock().now });

    await expect(resolve("_dmarc.sender.example", "TXT")).rejects.toMatchObject({ code: "ENOTFOUND" });
    await expect(resolve("_dmarc.sender.example", "TXT")).rejects.toMatchObject({ code: "ENOTFOUND" });

    expect(upstream.asked).toEqual(["TXT _dmarc.sender.example"]);
  });

  it("never keeps a temporary failure: the next question goes to the resolver", async () => {
    const upstream = countingResolver({}, new Set(["slow.example"]));
    const resolve = cachedResolver(upstream.resolver, { now: clock().now });

    await expect(resolve("slow.example", "TXT")).rejects.toMatchObject({ code: "ETIMEOUT" });
    await expect(resolve("slow.example", "TXT")).rejects.toMatchObject({ code: "ETIMEOUT" });

    expect(upstream.asked).toEqual(["TXT slow.example", "TXT slow.example"]);
  });

  it("asks once for the same question asked by ten transactions at once, and keeps types apart", async () => {
    const upstream = countingResolver({ "sender.example": [["v=spf1 -all"]] });
    const resolve = cachedResolver(upstream.resolver, { now: clock().now });

    const answers = await Promise.all(Array.from({ length: 10 }, () => resolve("sender.example", "TXT")));
    await expect(resolve("sender.example", "MX")).resolves.toEqual([["v=spf1 -all"]]);

    expect(answers).toEqual(Array.from({ length: 10 }, () => [["v=spf1 -all"]]));
    expect(upstream.asked).toEqual(["TXT sender.example", "MX sender.example"]);
  });

  it("holds at most maxEntries answers, dropping the oldest first", async () => {
    const zone = Object.fromEntries(["a", "b", "c"].map((label) => [`${label}.example`, [[label]]]));
    const upstream = countingResolver(zone);
    const resolve = cachedResolver(upstream.resolver, { maxEntries: 2, now: clock().now });

    for (const label of ["a", "b", "c"]) await resolve(`${label}.example`, "TXT");
    await resolve("c.example", "TXT"); // still kept
    await resolve("a.example", "TXT"); // dropped when c came in: asked again

    expect(upstream.asked).toEqual(["TXT a.example", "TXT b.example", "TXT c.example", "TXT a.example"]);
  });
});
