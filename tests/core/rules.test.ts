import { createRuleCodec, describeActions, parsePattern, routeKey } from "../../core/rules";
import { InvalidPatternError, InvalidRuleError } from "../../core/errors";

describe("parsePattern", () => {
  it.each([
    ["*", "*", "global"],
    ["*@Example.com", "*@example.com", "domain"],
    ["User+Tag@Example.com", "user+tag@example.com", "address"],
  ])("%j is %j (%s)", (input, pattern, kind) => {
    expect(parsePattern(input)).toEqual({ pattern, kind });
  });

  it.each(["*@", "*@localhost", "us*er@example.com", "*.example.com", "not an address"])("rejects %j", (input) => {
    expect(() => parsePattern(input)).toThrow(InvalidPatternError);
  });
});

describe("rule codec", () => {
  const codec = createRuleCodec();
  const base = { PK: "ROUTE#user@example.com", SK: "RULE#v1", entity_type: "ROUTE", recipient: "user@example.com", enabled: true };

  it("reads the seed's single action + target form", () => {
    const rule = codec.fromItem({
      ...base,
      action: "forward-to-gmail",
      target: "Me@Gmail.com",
      description: "mine",
      created_at: "2026-01-01T00:00:00Z",
    });
    expect(rule).toEqual({
      pattern: "user@example.com",
      enabled: true,
      actions: [{ type: "forward-to-gmail", target: "me@gmail.com" }],
      description: "mine",
      createdAt: "2026-01-01T00:00:00Z",
    });
  });

  it("reads and writes the actions list form, round trip", () => {
    const rule = {
      pattern: "user@example.com",
      enabled: false,
      actions: [
        { type: "forward-to-gmail" as const, target: "a@gmail.com", labels: ["Label_1"] },
        { type: "forward-to-gmail" as const, target: "b@gmail.com" },
        { type: "store" as const },
      ],
      createdAt: "2026-01-01T00:00:00Z",
      updatedAt: "2026-01-02T00:00:00Z",
    };
    const item = codec.toItem(rule);
    expect(item).toMatchObject({ ...routeKey("user@example.com"), entity_type: "ROUTE", recipient: "user@example.com", enabled: false });
    expect(codec.fromItem(item)).toEqual(rule);
  });

  it("treats a rule without `enabled` as enabled", () => {
    const { enabled: _omitted, ...withoutEnabled } = base;
    expect(codec.fromItem({ ...withoutEnabled, action: "bounce" }).enabled).toBe(true);
  });

  it.each([
    ["no action at all", {}, /no `actions` and no `action`/],
    ["forward without target", { action: "forward-to-gmail" }, /target/],
    ["forward to a non-address", { action: "forward-to-gmail", target: "nobody" }, /email address/],
    ["unknown action", { action: "teleport" }, /action/],
    ["both forms", { action: "bounce", actions: [{ type: "bounce" }] }, /both `actions` and `action`/],
    [
      "bounce combined with forward",
      { actions: [{ type: "bounce" }, { type: "forward-to-gmail", target: "a@gmail.com" }] },
      /cannot be combined/,
    ],
    [
      "the same target twice",
      {
        actions: [
          { type: "forward-to-gmail", target: "a@gmail.com" },
          { type: "forward-to-gmail", target: "A@gmail.com" },
        ],
      },
      /twice/,
    ],
    ["an empty action list", { actions: [] }, /at least one action/],
    [
      "a label with an empty level",
      { actions: [{ type: "forward-to-gmail", target: "a@gmail.com", labels: ["Shops//Receipts"] }] },
      /action 1 \(forward-to-gmail a@gmail.com\) labels: label "Shops\/\/Receipts" has an empty level/,
    ],
    ["enabled as a string", { action: "bounce", enabled: "yes" }, /enabled/],
    ["recipient disagreeing with the key", { action: "bounce", recipient: "other@example.com" }, /does not match the key/],
  ])("rejects %s, naming the rule", (_name, fields, reason) => {
    let caught: unknown;
    try {
      codec.fromItem({ ...base, ...fields });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidRuleError);
    expect((caught as InvalidRuleError).ruleKey).toBe("ROUTE#user@example.com");
    expect((caught as Error).message).toMatch(reason);
  });

  it("rejects a key that is not canonical, since lookups would never find it", () => {
    expect(() => codec.fromItem({ ...base, PK: "ROUTE#User@Example.com", recipient: undefined, action: "bounce" })).toThrow(
      /not canonical/,
    );
  });

  it("describes actions for humans", () => {
    expect(describeActions([{ type: "forward-to-gmail", target: "a@gmail.com", labels: ["L1", "L2"] }, { type: "store" }])).toBe(
      "forward-to-gmail a@gmail.com [L1, L2], store",
    );
  });
});
