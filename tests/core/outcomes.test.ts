import {
  describeOutcome,
  OUTCOME_METRIC_PREFIXES,
  OUTCOME_METRICS,
  outcomeError,
  stageMetricNames,
  UNEXPECTED_ERROR_CODE,
  type Outcome,
  type OutcomeKind,
} from "../../core/outcomes";
import { MailboxRejectedError, MessageNotFoundError } from "../../core/errors";
import { decisionDetail } from "../helpers/factories";

const at = "2026-11-28T11:00:00.000Z";
const base = { messageId: "m-1", at };
const error = { code: "MAILBOX_UNAVAILABLE", message: "Gmail answered 503" };

/** One outcome of every kind: the table below must cover the union (the compiler checks it). */
const SAMPLES: { readonly [K in OutcomeKind]: Extract<Outcome, { kind: K }> } = {
  routed: {
    ...base,
    kind: "routed",
    decision: decisionDetail(
      {
        "forward-to-gmail": [{ recipient: "a@example.com", target: "a@gmail.com", match: "exact" }],
        bounce: [{ recipient: "b@example.com", match: "default" }],
      },
      { originalMessageId: "m-1" },
    ),
  },
  "setup-notification": { ...base, messageId: "AMAZON_SES_SETUP_NOTIFICATION", kind: "setup-notification" },
  imported: {
    ...base,
    kind: "imported",
    account: "a@gmail.com",
    mailboxId: "g-1",
    labels: ["INBOX"],
    bytes: 1234,
    recipients: ["a@example.com"],
    origin: "event",
  },
  "already-imported": { ...base, kind: "already-imported", account: "a@gmail.com", mailboxId: "g-1", importedAt: at },
  "possible-duplicate": { ...base, kind: "possible-duplicate", account: "a@gmail.com", reason: "the in-progress record expired" },
  parked: { ...base, kind: "parked", account: "a@gmail.com", reason: error, attempt: 2, parkedSince: "2026-11-28T10:00:00.000Z" },
  "given-up": { ...base, kind: "given-up", account: "a@gmail.com", reason: error, attempt: 300, parkedSince: "2026-11-14T10:00:00.000Z" },
  "import-failed": { ...base, kind: "import-failed", account: "a@gmail.com", error },
  "bounce-sent": {
    ...base,
    kind: "bounce-sent",
    to: "s@sender.example",
    from: "MAILER-DAEMON@example.com",
    recipients: [{ address: "b@example.com", status: "5.1.1" }],
    dsnMessageId: "d-1",
  },
  "bounce-suppressed": { ...base, kind: "bounce-suppressed", recipient: "b@example.com", reason: "throttled" },
  "bounce-failed": { ...base, kind: "bounce-failed", recipients: ["b@example.com"], error },
  stored: { ...base, kind: "stored", recipients: ["c@example.com"] },
  dropped: { ...base, kind: "dropped", recipients: ["d@example.com"], by: "policy", reason: "virus FAIL" },
  "dead-lettered": { ...base, kind: "dead-lettered", queue: "gmail-forwarder", error, attempts: 3 },
  "raw-message-deleted": { ...base, kind: "raw-message-deleted", location: { bucket: "b", key: "emails/m-1" } },
  "routing-failed": { ...base, kind: "routing-failed", error: { code: "INVALID_RULE", message: "bad rule" } },
  "invalid-record": {
    kind: "invalid-record",
    at,
    stage: "bouncer",
    sqsMessageId: "sqs-1",
    error: { code: "INVALID_DELIVERY_EVENT", message: "not JSON" },
  },
};

describe("outcomes", () => {
  it.each(Object.values(SAMPLES))("describes $kind with metrics named only in the outcome table", (outcome) => {
    // Act
    const line = describeOutcome(outcome);

    // Assess: every metric is a fixed name of this kind, or a prefixed name with a code or reason
    const fixed: readonly string[] = OUTCOME_METRICS[outcome.kind].names;
    const prefixes: readonly string[] = Object.values(OUTCOME_METRIC_PREFIXES);
    for (const metric of line.metrics) {
      const known = fixed.includes(metric.name) || prefixes.some((prefix) => metric.name.startsWith(prefix));
      expect(`${metric.name} ${known ? "is" : "is not"} in the table`).toBe(`${metric.name} is in the table`);
    }
    expect(line.attributes).toMatchObject({ kind: outcome.kind });
    expect(line.message.length).toBeGreaterThan(0);
  });

  it("never puts the message body or subject-sized data in a line: only ids, addresses, codes and counts", () => {
    const line = describeOutcome(SAMPLES.routed);
    expect(JSON.stringify(line.attributes)).not.toMatch(/"subject"/);
  });

  it("publishes the parking age in seconds, for the parked-delivery alarm", () => {
    const line = describeOutcome(SAMPLES.parked);
    expect(line.metrics).toContainEqual({ name: "GmailParkedAgeSeconds", unit: "Seconds", value: 3600 });
  });

  it("counts a routed decision's forwards and bounces as targets", () => {
    expect(describeOutcome(SAMPLES.routed).metrics).toEqual([
      { name: "MessagesRouted", unit: "Count", value: 1 },
      { name: "Forwarded", unit: "Count", value: 1 },
      { name: "Bounced", unit: "Count", value: 1 },
    ]);
  });

  it("lists the dashboard's names per stage from the table", () => {
    expect(stageMetricNames("bouncer")).toEqual([
      "BounceSent",
      "BouncedRecipients",
      "BounceSuppressed",
      "BounceFailed",
      "RawMessageDeleted",
      "InvalidRecord",
    ]);
    expect(stageMetricNames("gmail-forwarder")).toContain("GmailParkedAgeSeconds");
  });

  it("records an error by its stable code, UNEXPECTED for anything else, and joins an AggregateError", () => {
    expect(outcomeError(new MessageNotFoundError({ bucket: "b", key: "k" }))).toMatchObject({ code: "MESSAGE_NOT_FOUND" });
    expect(outcomeError(new TypeError("boom"))).toEqual({ code: UNEXPECTED_ERROR_CODE, message: "boom" });
    expect(outcomeError("plain")).toEqual({ code: UNEXPECTED_ERROR_CODE, message: "plain" });
    const both = new AggregateError([
      new MailboxRejectedError("a@gmail.com", 400, "bad label"),
      new MailboxRejectedError("b@gmail.com", 400, "bad label"),
    ]);
    expect(outcomeError(both)).toMatchObject({ code: "MAILBOX_REJECTED", message: expect.stringMatching(/a@gmail.com.*; .*b@gmail.com/) });
  });
});
