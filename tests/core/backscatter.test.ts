import { headerSuppression, senderSuppression, verdictSuppression } from "../../core/backscatter";
import { parseHeaderFields } from "../../core/mail-headers";
import type { Verdicts } from "../../core/verdicts";
import { fixture } from "../helpers/delivery";

const PASSING: Verdicts = { spam: "PASS", virus: "PASS", spf: "PASS", dkim: "PASS", dmarc: "PASS" };

function headersOf(name: string) {
  const raw = fixture(name);
  return parseHeaderFields(raw.subarray(0, raw.indexOf("\r\n\r\n") + 2));
}

describe("backscatter rules", () => {
  it.each([
    ["", "null-sender"],
    ["<>", "null-sender"],
    ["MAILER-DAEMON@sender.example", "daemon-sender"],
    ["mailer-daemon@sender.example", "daemon-sender"],
    ["MAILER-DAEMON", "daemon-sender"],
    ["Postmaster@Sender.Example", "daemon-sender"],
    ["not an address", "invalid-sender"],
    ["a@b.example\r\nBcc: x@y.example", "invalid-sender"],
    ["jürgen@sender.example", "invalid-sender"],
    ["alice@sender.example", undefined],
    ["<alice+tag@sender.example>", undefined],
    ["postmaster-team@sender.example", undefined],
  ])("envelope sender %j → %s", (sender, reason) => {
    expect(senderSuppression(sender)).toBe(reason);
  });

  it.each([
    [{ virus: "FAIL" }, "virus"],
    [{ spam: "FAIL" }, "spam"],
    [{ dmarc: "FAIL" }, "dmarc-fail"],
    [{ spf: "FAIL", dkim: "GRAY" }, "unauthenticated"],
    [{ spf: "GRAY", dkim: "PROCESSING_FAILED" }, "unauthenticated"],
    [{ spf: "FAIL", dkim: "PASS" }, undefined],
    [{ spf: "PASS", dkim: "FAIL" }, undefined],
    [{}, undefined],
  ] as const)("verdicts %j → %s", (changes, reason) => {
    expect(verdictSuppression({ ...PASSING, ...changes })).toBe(reason);
  });

  it.each([
    ["auto-reply.eml", "auto-submitted"],
    ["list-mail.eml", "bulk-precedence"],
    ["plain-text.eml", undefined],
  ])("original headers of %s → %s", (name, reason) => {
    expect(headerSuppression(headersOf(name))).toBe(reason);
  });

  it.each([
    ["Auto-Submitted: no\r\n", undefined],
    ["Auto-Submitted: No (not automatic)\r\n", undefined],
    ["Auto-Submitted: auto-generated\r\n", "auto-submitted"],
    ["auto-submitted:auto-notified; owner-email=x@y.z\r\n", "auto-submitted"],
    ["Auto-Submitted:\r\n", "auto-submitted"],
    ["Precedence: BULK\r\n", "bulk-precedence"],
    ["Precedence: junk\r\n", "bulk-precedence"],
    ["Precedence: first-class\r\n", undefined],
  ])("header %j → %s", (header, reason) => {
    expect(headerSuppression(parseHeaderFields(Buffer.from(header)))).toBe(reason);
  });
});
