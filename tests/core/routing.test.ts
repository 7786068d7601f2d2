import fc from "fast-check";
import { parseAddress } from "../../core/addresses";
import { DecisionTooLargeError, type DecisionDetail } from "../../core/decision";
import { InvalidRuleError } from "../../core/errors";
import type { InboundMessage } from "../../core/notification";
import { decide, lookupPatterns, lookupSteps, resolveRecipient, ruleLookupFromItems, type RoutingSettings } from "../../core/routing";
import { ACTION_TYPES, createRuleCodec, type Rule } from "../../core/rules";
import { DEFAULT_VERDICT_POLICY } from "../../core/verdicts";

const codec = createRuleCodec();
const settings: RoutingSettings = { defaultAction: "bounce", verdictPolicy: DEFAULT_VERDICT_POLICY };

function lookupOf(rules: Array<Partial<Rule> & Pick<Rule, "pattern" | "actions">>) {
  const items = new Map(rules.map((rule) => [rule.pattern, codec.toItem({ enabled: true, ...rule })]));
  return ruleLookupFromItems(items, codec);
}

function message(recipients: string[], overrides: Partial<InboundMessage> = {}): InboundMessage {
  return {
    messageId: "msg-1",
    source: "sender@sender.example",
    subject: "Hello",
    timestamp: "2026-11-28T10:00:00.000Z",
    recipients,
    s3: { bucket: "bucket", key: "emails/msg-1" },
    verdicts: { spam: "PASS", virus: "PASS", spf: "PASS", dkim: "PASS", dmarc: "PASS" },
    ...overrides,
  };
}

const forward = (target: string, labels?: string[]) => [{ type: "forward-to-gmail" as const, target, ...(labels ? { labels } : {}) }];

describe("lookup plan", () => {
  it("tries exact, normalized, domain and global, most specific first", () => {
    expect(lookupSteps(parseAddress("a+b@example.com"))).toEqual([
      { level: "exact", pattern: "a+b@example.com" },
      { level: "normalized", pattern: "a@example.com" },
      { level: "domain", pattern: "*@example.com" },
      { level: "global", pattern: "*" },
    ]);
  });

  it("skips the normalized step when there is no tag", () => {
    expect(lookupSteps(parseAddress("a@example.com")).map((s) => s.level)).toEqual(["exact", "domain", "global"]);
  });

  it("fits 33 tagged recipients of one domain into one 100-key BatchGetItem", () => {
    const recipients = Array.from({ length: 33 }, (_, i) => parseAddress(`user${i}+tag@d${i}.example`));
    expect(lookupPatterns(recipients)).toHaveLength(100);
  });
});

describe("resolveRecipient", () => {
  it("explains every level: a disabled rule falls through to the next", () => {
    const lookup = lookupOf([
      { pattern: "a@example.com", enabled: false, actions: [{ type: "drop" }] },
      { pattern: "*@example.com", actions: forward("x@gmail.com") },
      { pattern: "*", actions: [{ type: "bounce" }] },
    ]);
    const resolution = resolveRecipient(parseAddress("a+t@example.com"), lookup);
    expect(resolution.match).toBe("domain");
    expect(resolution.steps.map((s) => s.outcome)).toEqual(["no rule", "disabled", "matched", "not reached"]);
  });

  it("falls back to the default when nothing enabled matches", () => {
    const resolution = resolveRecipient(
      parseAddress("a@example.com"),
      lookupOf([{ pattern: "*", enabled: false, actions: [{ type: "drop" }] }]),
    );
    expect(resolution).toMatchObject({ match: "default" });
    expect(resolution.rule).toBeUndefined();
  });

  it("fails on an invalid rule it reaches, but not on one it never reaches", () => {
    const items = new Map<string, Record<string, unknown>>([
      ["a@example.com", { ...codec.toItem({ pattern: "a@example.com", enabled: true, actions: [{ type: "drop" }] }) }],
      ["*", { PK: "ROUTE#*", SK: "RULE#v1", action: "forward-to-gmail" }],
    ]);
    const lookup = ruleLookupFromItems(items, codec);
    expect(resolveRecipient(parseAddress("a@example.com"), lookup).match).toBe("exact");
    expect(() => resolveRecipient(parseAddress("b@example.com"), lookup)).toThrow(InvalidRuleError);
  });

  it("property: the most specific enabled rule always wins", () => {
    const levels = ["exact", "normalized", "domain", "global"] as const;
    const state = fc.constantFrom("absent", "enabled", "disabled");
    fc.assert(
      fc.property(fc.tuple(state, state, state, state), (states) => {
        const address = parseAddress("user+tag@example.com");
        const steps = lookupSteps(address);
        const rules = steps.flatMap((step, i) =>
          states[i] === "absent"
            ? []
            : [{ pattern: step.pattern, enabled: states[i] === "enabled", actions: forward(`level${i}@gmail.com`) }],
        );
        const resolution = resolveRecipient(address, lookupOf(rules));
        const firstEnabled = states.indexOf("enabled");
        expect(resolution.match).toBe(firstEnabled === -1 ? "default" : levels[firstEnabled]);
        if (firstEnabled !== -1) expect(resolution.rule?.actions).toEqual(forward(`level${firstEnabled}@gmail.com`));
      }),
    );
  });
});

describe("decide", () => {
  it("lists every action type, with count 0 when unused", () => {
    const detail = decide(message(["a@example.com"]), lookupOf([]), settings);
    expect(Object.keys(detail.actions)).toEqual([...ACTION_TYPES]);
    expect(detail.actions.bounce).toEqual({
      count: 1,
      targets: [{ recipient: "a@example.com", match: "default", reason: "no rule matches this address" }],
    });
    expect(detail.actions["forward-to-gmail"]).toEqual({ count: 0, targets: [] });
  });

  it("uses the stack's default action when it is not bounce", () => {
    const detail = decide(message(["a@example.com"]), lookupOf([]), { ...settings, defaultAction: "store" });
    expect(detail.actions.store.targets).toEqual([expect.objectContaining({ recipient: "a@example.com", match: "default" })]);
    expect(detail.actions.bounce.count).toBe(0);
  });

  it("lists every recipient's forward, even to the same Gmail account (the forwarder imports once per account)", () => {
    const lookup = lookupOf([
      { pattern: "a@example.com", actions: forward("me@gmail.com", ["Label_a"]) },
      { pattern: "b@example.com", actions: forward("me@gmail.com", ["Label_b"]) },
    ]);
    const detail = decide(message(["a@example.com", "b@example.com"]), lookup, settings);
    expect(detail.actions["forward-to-gmail"].targets).toEqual([
      { recipient: "a@example.com", target: "me@gmail.com", labels: ["INBOX", "UNREAD", "Label_a"], match: "exact", rule: "a@example.com" },
      { recipient: "b@example.com", target: "me@gmail.com", labels: ["INBOX", "UNREAD", "Label_b"], match: "exact", rule: "b@example.com" },
    ]);
  });

  it("fans one rule out to several accounts and a kept copy", () => {
    const lookup = lookupOf([{ pattern: "*", actions: [...forward("a@gmail.com"), ...forward("b@gmail.com"), { type: "store" }] }]);
    const detail = decide(message(["x@example.com", "y@example.com"]), lookup, settings);
    expect(detail.actions["forward-to-gmail"].targets.map((t) => `${t.recipient}→${t.target}`)).toEqual([
      "x@example.com→a@gmail.com",
      "x@example.com→b@gmail.com",
      "y@example.com→a@gmail.com",
      "y@example.com→b@gmail.com",
    ]);
    expect(detail.actions.store.targets.map((t) => t.recipient)).toEqual(["x@example.com", "y@example.com"]);
  });

  it("de-duplicates recipients case-insensitively", () => {
    const detail = decide(message(["A@Example.com", "a@example.com"]), lookupOf([]), settings);
    expect(detail.actions.bounce.count).toBe(1);
  });

  it("labels quarantined mail SPAM and says why", () => {
    const detail = decide(
      message(["a@example.com"], { verdicts: { spam: "FAIL", virus: "PASS", spf: "PASS", dkim: "PASS", dmarc: "PASS" } }),
      lookupOf([{ pattern: "*", actions: forward("me@gmail.com") }]),
      settings,
    );
    expect(detail.actions["forward-to-gmail"].targets[0]).toMatchObject({ labels: ["SPAM"], reason: "quarantined: spam FAIL" });
    expect(detail.verdicts).toMatchObject({ disposition: "quarantine", reasons: ["spam FAIL"] });
  });

  it("drops DMARC reject mail for every recipient, by policy", () => {
    const detail = decide(
      message(["a@example.com", "b@example.com"], {
        verdicts: { spam: "PASS", virus: "PASS", spf: "FAIL", dkim: "FAIL", dmarc: "FAIL", dmarcPolicy: "reject" },
      }),
      lookupOf([{ pattern: "*", actions: forward("me@gmail.com") }]),
      settings,
    );
    expect(detail.actions.drop.targets).toEqual([
      { recipient: "a@example.com", match: "policy", reason: "dmarc FAIL (policy reject)" },
      { recipient: "b@example.com", match: "policy", reason: "dmarc FAIL (policy reject)" },
    ]);
    expect(detail.actions["forward-to-gmail"].count).toBe(0);
  });

  it("refuses to build a decision over the event budget", () => {
    const recipients = Array.from({ length: 400 }, (_, i) => `${"r".repeat(60)}${i}@${"d".repeat(60)}.example`);
    expect(() => decide(message(recipients), lookupOf([]), settings)).toThrow(DecisionTooLargeError);
  });

  const recipientArb = fc
    .tuple(fc.stringMatching(/^[a-z]{1,6}(\+[a-z]{1,4})?$/), fc.constantFrom("example.com", "example.org", "other.net"))
    .map(([local, domain]) => `${local}@${domain}`);
  const ruleArb = fc.record({
    pattern: fc.constantFrom("*", "*@example.com", "*@example.org", "ab@example.com", "a@example.com"),
    enabled: fc.boolean(),
    actions: fc.constantFrom(
      forward("one@gmail.com"),
      [{ type: "bounce" as const }],
      [{ type: "drop" as const }],
      [...forward("two@gmail.com"), { type: "store" as const }],
    ),
  });

  function recipientsIn(detail: DecisionDetail): Map<string, Set<string>> {
    const matches = new Map<string, Set<string>>();
    for (const type of ACTION_TYPES) {
      for (const target of detail.actions[type].targets) {
        const key = target.recipient;
        matches.set(key, new Set([...(matches.get(key) ?? []), `${target.match}:${target.rule ?? ""}`]));
      }
    }
    return matches;
  }

  it("property: every recipient gets exactly one decision, and the event never carries the body", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(recipientArb, { minLength: 1, maxLength: 8 }),
        fc.uniqueArray(ruleArb, { selector: (r) => r.pattern, maxLength: 5 }),
        (recipients, rules) => {
          const body = "X-Secret-Body-Marker: this text is only in the message body";
          const detail = decide(message(recipients), lookupOf(rules), settings);
          const matches = recipientsIn(detail);
          const lookup = lookupOf(rules);
          expect([...matches.keys()].sort()).toEqual(recipients.map((r) => r.toLowerCase()).sort());
          for (const recipient of recipients) {
            const expected = resolveRecipient(parseAddress(recipient), lookup);
            // All of a recipient's entries come from one resolution: its rule at its level.
            expect([...matches.get(recipient.toLowerCase())!]).toEqual([`${expected.match}:${expected.rule?.pattern ?? ""}`]);
          }
          expect(JSON.stringify(detail)).not.toContain(body);
          for (const type of ACTION_TYPES) expect(detail.actions[type].count).toBe(detail.actions[type].targets.length);
        },
      ),
    );
  });
});
