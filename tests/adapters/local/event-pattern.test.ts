import * as fc from "fast-check";
import { DECISION_DETAIL_TYPE, DECISION_SOURCE } from "../../../core/decision";
import { ALL_DECISIONS_PATTERN, BOUNCER_PATTERN, GMAIL_FORWARDER_PATTERN, type EventPattern } from "../../../core/event-patterns";
import { compileEventPattern, InvalidEventPatternError, matchesEventPattern } from "../../../adapters/local/event-pattern";
import { decisionDetail } from "../../helpers/factories";

/** The sample event of AWS's and event-ruler's documentation. */
const EC2_EVENT = {
  version: "0",
  id: "ddddd4-aaaa-7777-4444-345dd43cc333",
  "detail-type": "EC2 Instance State-change Notification",
  source: "aws.ec2",
  account: "012345679012",
  time: "2017-10-02T16:24:49Z",
  region: "us-east-1",
  resources: ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
  detail: {
    "c-count": 5,
    "d-count": 3,
    "x-limit": 301.8,
    "source-ip": "10.0.0.33",
    "instance-id": "i-000000aaaaaa00000",
    state: "running",
  },
};

function busEvent(detail: unknown, overrides: Record<string, unknown> = {}) {
  return {
    version: "0",
    id: "1",
    "detail-type": DECISION_DETAIL_TYPE,
    source: DECISION_SOURCE,
    time: "2026-11-28T10:00:00Z",
    detail,
    ...overrides,
  };
}

describe("event-pattern matcher: AWS's documented semantics, for what the deployed patterns use", () => {
  describe.each<[string, EventPattern, boolean]>([
    [
      "exact values, ANDed fields and ORed values",
      { "detail-type": ["EC2 Instance State-change Notification"], detail: { state: ["initializing", "running"] } },
      true,
    ],
    ["an exact value that differs", { detail: { state: ["stopped"] } }, false],
    [
      "an event array matches when it intersects",
      { resources: ["arn:other", "arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"] },
      true,
    ],
    ["numeric range", { detail: { "c-count": [{ numeric: [">", 0, "<=", 5] }], "d-count": [{ numeric: ["<", 10] }] } }, true],
    ["numeric range excluding the value", { detail: { "c-count": [{ numeric: [">", 5] }] } }, false],
    ["numeric equality in another notation", { detail: { "x-limit": [{ numeric: ["=", 3.018e2] }] } }, true],
    ["a number literal compares numerically", { detail: { "x-limit": [3.018e2] } }, true],
    ["numeric never matches a string", { detail: { state: [{ numeric: [">", 0] }] } }, false],
    ["numeric never matches a missing field", { detail: { "e-count": [{ numeric: [">", 0] }] } }, false],
    ["a number never equals its string", { detail: { "c-count": ["5"] } }, false],
    ["a field the event lacks fails the whole pattern", { detail: { state: ["running"], other: ["x"] } }, false],
    ["a nested pattern where the event has a value, not an object", { source: { inner: ["aws.ec2"] } }, false],
  ])("%s", (_name, pattern, expected) => {
    it(expected ? "matches" : "does not match", () => {
      // Act / Assess
      expect(matchesEventPattern(pattern, EC2_EVENT)).toBe(expected);
    });
  });

  it("matches null and the empty string as values", () => {
    // Prepare
    const event = { detail: { userId: null, lastName: "" } };

    // Act / Assess
    expect(matchesEventPattern({ detail: { userId: [null] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { lastName: [""] } }, event)).toBe(true);
    expect(matchesEventPattern({ detail: { lastName: [null] } }, event)).toBe(false);
  });

  it.each<[string, EventPattern]>([
    ["prefix", { time: [{ prefix: "2017-10-02" }] }],
    ["suffix", { source: [{ suffix: "ec2" }] }],
    ["equals-ignore-case", { source: [{ "equals-ignore-case": "AWS.EC2" }] }],
    ["wildcard", { detail: { "instance-id": [{ wildcard: "i-*" }] } }],
    ["anything-but", { detail: { state: [{ "anything-but": "initializing" }] } }],
    ["exists", { detail: { "c-count": [{ exists: true }] } }],
    ["cidr", { detail: { "source-ip": [{ cidr: "10.0.0.0/24" }] } }],
  ])("refuses the %s operator when compiling, naming it", (operator, pattern) => {
    // Act / Assess
    expect(() => compileEventPattern(pattern)).toThrow(InvalidEventPatternError);
    expect(() => compileEventPattern(pattern)).toThrow(`the operator "${operator}" is not supported by local mode's matcher`);
  });

  it.each<[string, EventPattern, RegExp]>([
    [
      "$or",
      { $or: [{ source: ["aws.s3"] }, { detail: { state: ["running"] } }] } as unknown as EventPattern,
      /at \$or: \$or is not supported/,
    ],
    ["an empty value list", { source: [] }, /at source: a list of values must not be empty/],
    [
      "a bare string instead of a list",
      { source: "aws.ec2" } as unknown as EventPattern,
      /at source: must be a list of values or a nested object/,
    ],
    ["a numeric operator it does not know", { n: [{ numeric: ["!=", 1] }] }, /unknown numeric operator "!="/],
    ["a numeric bound that is not a number", { n: [{ numeric: [">", "1"] }] }, /a numeric bound must be a finite number/],
    ["an odd numeric list", { n: [{ numeric: [">", 0, "<"] }] }, /numeric takes one or two \[operator, number\] pairs/],
    ["an object with two operators", { n: [{ numeric: [">", 0], prefix: "x" }] }, /a value matcher is a string, number, boolean, null or/],
  ])("refuses %s when compiling", (_name, pattern, message) => {
    // Act / Assess
    expect(() => compileEventPattern(pattern)).toThrow(message);
  });
});

describe("event-pattern matcher: ses-mail's deployed patterns", () => {
  it("sends a decision to the forwarder and the bouncer by its action counts", () => {
    // Prepare
    const forward = busEvent(decisionDetail({ "forward-to-gmail": [{ recipient: "a@x.example", target: "a@gmail.com", match: "exact" }] }));
    const bounce = busEvent(decisionDetail({ bounce: [{ recipient: "b@x.example", match: "default" }] }));
    const dropped = busEvent(decisionDetail({ drop: [{ recipient: "c@x.example", match: "policy" }] }));

    // Act / Assess
    expect([forward, bounce, dropped].map((event) => matchesEventPattern(GMAIL_FORWARDER_PATTERN, event))).toEqual([true, false, false]);
    expect([forward, bounce, dropped].map((event) => matchesEventPattern(BOUNCER_PATTERN, event))).toEqual([false, true, false]);
    expect([forward, bounce, dropped].map((event) => matchesEventPattern(ALL_DECISIONS_PATTERN, event))).toEqual([true, true, true]);
  });

  it("ignores events from another source", () => {
    // Prepare
    const event = busEvent(decisionDetail({ bounce: [{ recipient: "b@x.example", match: "default" }] }), { source: "someone.else" });

    // Act / Assess
    expect(matchesEventPattern(BOUNCER_PATTERN, event)).toBe(false);
    expect(matchesEventPattern(ALL_DECISIONS_PATTERN, event)).toBe(false);
  });

  it("routes to a queue exactly when its action count is positive (property)", () => {
    const forwarder = compileEventPattern(GMAIL_FORWARDER_PATTERN);
    const bouncer = compileEventPattern(BOUNCER_PATTERN);
    fc.assert(
      fc.property(fc.nat(5), fc.nat(5), (forwards, bounces) => {
        // Prepare
        const detail = decisionDetail();
        const event = busEvent({
          ...detail,
          actions: { ...detail.actions, "forward-to-gmail": { count: forwards, targets: [] }, bounce: { count: bounces, targets: [] } },
        });

        // Act / Assess
        return forwarder(event) === forwards > 0 && bouncer(event) === bounces > 0;
      }),
    );
  });
});
