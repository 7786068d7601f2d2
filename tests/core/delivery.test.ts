import {
  buildRetryMessage,
  createDeliveryParser,
  deliveryKey,
  forwardTargets,
  keepsRawMessage,
  parkingExpired,
  rawMessageConsumers,
  RETRY_MESSAGE_KIND,
  serializeRetryMessage,
} from "../../core/delivery";
import { decisionEvent } from "../helpers/delivery";
import { decisionDetail, QUARANTINED_VERDICTS as quarantined } from "../helpers/factories";

describe("delivery core", () => {
  const parser = createDeliveryParser();

  it("reads a decision event and lists one target per Gmail account, labels merged", () => {
    // Prepare
    const detail = decisionDetail({
      "forward-to-gmail": [
        { recipient: "a@example.com", target: "Me@Gmail.com", labels: ["INBOX", "UNREAD", "Label_1"], match: "exact" },
        { recipient: "b@example.com", target: "me@gmail.com", labels: ["INBOX", "Label_2"], match: "domain" },
        { recipient: "c@example.com", target: "other@gmail.com", match: "global" },
      ],
    });

    // Act
    const work = parser.parseForward(JSON.stringify(decisionEvent(detail)));

    // Assess
    expect(work.origin).toBe("event");
    expect(work.targets).toEqual([
      { account: "me@gmail.com", labels: ["INBOX", "UNREAD", "Label_1", "Label_2"], recipients: ["a@example.com", "b@example.com"] },
      { account: "other@gmail.com", labels: ["INBOX", "UNREAD"], recipients: ["c@example.com"] },
    ]);
  });

  it("falls back to SPAM when a quarantined decision carries no labels", () => {
    const detail = decisionDetail(
      { "forward-to-gmail": [{ recipient: "a@example.com", target: "me@gmail.com", match: "exact" }] },
      { verdicts: quarantined },
    );
    expect(forwardTargets(detail)[0]!.labels).toEqual(["SPAM"]);
  });

  it("round-trips a retry message: attempt count and first time carried over, only its target delivered", () => {
    const detail = decisionDetail({
      "forward-to-gmail": [
        { recipient: "a@example.com", target: "one@gmail.com", match: "exact" },
        { recipient: "b@example.com", target: "two@gmail.com", match: "exact" },
      ],
    });
    const event = decisionEvent(detail);
    const first = buildRetryMessage(
      { event },
      "two@gmail.com",
      { code: "MAILBOX_AUTHORIZATION", message: "expired" },
      new Date("2026-11-28T10:00:00Z"),
    );
    const work = parser.parseForward(serializeRetryMessage(first));
    const second = buildRetryMessage(
      work,
      "two@gmail.com",
      { code: "MAILBOX_AUTHORIZATION", message: "still expired" },
      new Date("2026-11-28T11:00:00Z"),
    );

    expect(first).toMatchObject({ kind: RETRY_MESSAGE_KIND, attempt: 1, firstQueuedAt: "2026-11-28T10:00:00.000Z" });
    expect(work).toMatchObject({ origin: "retry", targets: [{ account: "two@gmail.com" }], event });
    expect(second).toMatchObject({ attempt: 2, firstQueuedAt: "2026-11-28T10:00:00.000Z", lastQueuedAt: "2026-11-28T11:00:00.000Z" });
    expect(parkingExpired(work.retry, new Date("2026-12-12T09:59:59Z"))).toBe(false);
    expect(parkingExpired(work.retry, new Date("2026-12-12T10:00:00Z"))).toBe(true);
  });

  it.each([
    ["a retry message with an unknown version", { kind: RETRY_MESSAGE_KIND, version: 2 }, /not a valid retry message at version/],
    [
      "an event from another source",
      { source: "aws.s3", "detail-type": "Email Routing Decision", detail: {} },
      /not a routing decision event at source/,
    ],
    ["a decision with a Gmail target but no address", null, /has no Gmail address/],
  ])("refuses %s, naming the problem", (_name, value, message) => {
    const body = value ?? decisionEvent(decisionDetail({ "forward-to-gmail": [{ recipient: "a@example.com", match: "exact" }] }));
    expect(() => parser.parseForward(JSON.stringify(body))).toThrow(message);
  });

  it("keys an import by message and canonical account", () => {
    expect(deliveryKey("m1", "Me@Gmail.com")).toBe(deliveryKey("m1", "me@gmail.com"));
    expect(deliveryKey("m1", "me@gmail.com")).not.toBe(deliveryKey("m2", "me@gmail.com"));
  });

  it("names the consumers of the raw message, and keeps it for store or a policy drop", () => {
    const detail = decisionDetail({
      "forward-to-gmail": [{ recipient: "a@example.com", target: "me@gmail.com", match: "exact" }],
      bounce: [
        { recipient: "x@example.com", match: "default" },
        { recipient: "y@example.com", match: "default" },
      ],
    });
    expect(rawMessageConsumers(detail)).toEqual(["forward:me@gmail.com", "bounce"]);
    expect(keepsRawMessage(detail)).toBe(false);
    expect(
      keepsRawMessage({
        ...detail,
        actions: { ...detail.actions, store: { count: 1, targets: [{ recipient: "a@example.com", match: "exact" }] } },
      }),
    ).toBe(true);
    expect(keepsRawMessage({ ...detail, verdicts: { ...detail.verdicts, disposition: "drop" } })).toBe(true);
  });

  it("refuses a retry message that would not fit SQS", () => {
    const event = { detail: { padding: "x".repeat(300 * 1024) } };
    const message = buildRetryMessage({ event }, "me@gmail.com", { code: "X", message: "y" }, new Date());
    expect(() => serializeRetryMessage(message)).toThrow(/over the SQS limit/);
  });
});
