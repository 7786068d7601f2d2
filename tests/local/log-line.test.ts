/**
 * Local mode's console lines, built from outcomes: the per-message line and the retry line.
 */
import { ErrorCode } from "../../core/errors";
import type { Outcome } from "../../core/outcomes";
import { SuppressionReason } from "../../core/backscatter";
import { messageLine, retryLine } from "../../local/log-line";
import { decisionDetail } from "../helpers/factories";

const DONE = new Date("2026-11-28T10:00:00.042Z");

describe("per-message line", () => {
  const detail = decisionDetail(
    {
      "forward-to-gmail": [{ recipient: "bob@test.example.com", target: "me@gmail.com", labels: ["SPAM"], match: "domain" }],
      bounce: [
        { recipient: "nobody@test.example.com", match: "default" },
        { recipient: "ghost@other.example.com", match: "exact" },
      ],
    },
    { timestamp: "2026-11-28T10:00:00.000Z", source: "alice@sender.example" },
  );
  const id = detail.originalMessageId;
  const at = "2026-11-28T10:00:00.030Z";

  it("starts with the time and the message id trace takes, then sender → each recipient's action and the elapsed time", () => {
    // Act
    const line = messageLine(detail, [], DONE);

    // Assess
    expect(line).toBe(
      `10:00:00 ${id} alice@sender.example → bob@test.example.com: forward-to-gmail me@gmail.com (as spam); nobody@test.example.com: bounce; ghost@other.example.com: bounce (42 ms)`,
    );
  });

  it("says two bounces when the bouncer sent two DSNs (one per recipient domain)", () => {
    // Prepare
    const outcomes: Outcome[] = [
      {
        kind: "bounce-sent",
        messageId: id,
        at,
        to: "alice@sender.example",
        from: "MAILER-DAEMON@test.example.com",
        recipients: [{ address: "nobody@test.example.com", status: "5.1.1" }],
        dsnMessageId: "d1",
      },
      {
        kind: "bounce-sent",
        messageId: id,
        at,
        to: "alice@sender.example",
        from: "MAILER-DAEMON@other.example.com",
        recipients: [{ address: "ghost@other.example.com", status: "5.1.1" }],
        dsnMessageId: "d2",
      },
    ];

    // Act
    const line = messageLine(detail, outcomes, DONE);

    // Assess
    expect(line).toContain("[2 bounces sent to alice@sender.example]");
    expect(messageLine(detail, outcomes.slice(0, 1), DONE)).toContain("[bounce sent to alice@sender.example]");
  });

  it("names each suppressed bounce with its reason, a parked delivery, and a dead letter with its error and the command that shows it", () => {
    // Prepare
    const outcomes: Outcome[] = [
      { kind: "bounce-suppressed", messageId: id, at, recipient: "nobody@test.example.com", reason: SuppressionReason.NullSender },
      { kind: "bounce-suppressed", messageId: id, at, recipient: "ghost@other.example.com", reason: SuppressionReason.Throttled },
      {
        kind: "parked",
        messageId: id,
        at,
        account: "me@gmail.com",
        reason: { code: "MAILBOX_AUTHORIZATION", message: "revoked" },
        attempt: 1,
        parkedSince: at,
      },
      {
        kind: "dead-lettered",
        messageId: id,
        at,
        queue: "bouncer",
        error: { code: "BOUNCE_SEND_FAILED", message: "smarthost refused\nthe recipient" },
        attempts: 3,
      },
    ];

    // Act
    const line = messageLine(detail, outcomes, DONE, { deadLetterCommand: (queue) => `ses-mail dlq show --queue ${queue} --local` });

    // Assess
    expect(line).toContain(
      "[no bounce for nobody@test.example.com (null-sender); no bounce for ghost@other.example.com (throttled); me@gmail.com needs an operator: parked in the retry queue]",
    );
    expect(line).toContain(
      " — FAILED: dead letter in bouncer after 3 attempt(s): BOUNCE_SEND_FAILED: smarthost refused the recipient (ses-mail dlq show --queue bouncer --local) (42 ms)",
    );
    expect(line.split("\n")).toHaveLength(1);
  });

  it("stays one readable line for 100 recipients", () => {
    // Prepare
    const targets = Array.from({ length: 100 }, (_, i) => ({
      recipient: `r${i}@test.example.com`,
      target: "me@gmail.com",
      match: "domain" as const,
    }));

    // Act
    const line = messageLine(decisionDetail({ "forward-to-gmail": targets }), [], new Date());

    // Assess
    expect(line).toContain("(+95 more)");
    expect(line.split("\n")).toHaveLength(1);
  });
});

describe("retry line", () => {
  it("says in one sentence that a delivery is still locked after a crash", () => {
    // Act
    const line = retryLine(
      DONE,
      "m1",
      "forwarder",
      { code: ErrorCode.DeliveryInProgress, message: "delivery gmail-forwarder#m1#me@gmail.com is already in progress elsewhere" },
      1,
      30_000,
    );

    // Assess
    expect(line).toBe(
      "10:00:00 m1 forwarder attempt 1 failed, retrying in 30 s: delivery in progress: an attempt the last stop interrupted still holds its lock",
    );
  });

  it("gives any other error as its code and a one-line message", () => {
    // Act
    const line = retryLine(
      DONE,
      "m1",
      "bouncer",
      { code: "UNEXPECTED", message: `EACCES: permission denied\n    at open (node:fs)\n${"x".repeat(500)}` },
      2,
      500,
    );

    // Assess
    expect(line).toMatch(
      /^10:00:00 m1 bouncer attempt 2 failed, retrying in 500 ms: UNEXPECTED: EACCES: permission denied at open \(node:fs\) x+…$/,
    );
    expect(line.length).toBeLessThan(300);
  });
});
