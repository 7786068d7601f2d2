import { InvalidNotificationError } from "../../core/errors";
import { MAX_SUBJECT_CHARS } from "../../core/limits";
import { createNotificationParser } from "../../core/notification";
import { sesNotification, snsEnvelope } from "../helpers/factories";

describe("SES receipt notification parser", () => {
  const parser = createNotificationParser();

  it("reads the S3 pointer, recipients and verdicts", () => {
    const message = parser.parse(
      JSON.stringify(
        sesNotification({ messageId: "abc", recipients: ["a@example.com"], spam: "FAIL", dmarc: "FAIL", dmarcPolicy: "REJECT" }),
      ),
    );
    expect(message).toEqual({
      messageId: "abc",
      source: "sender@sender.example",
      subject: "Hello",
      timestamp: "2026-11-28T10:00:00.000Z",
      recipients: ["a@example.com"],
      s3: { bucket: "ses-mail-storage-123456789012-test", key: "emails/abc" },
      verdicts: { spam: "FAIL", virus: "PASS", spf: "PASS", dkim: "PASS", dmarc: "FAIL", dmarcPolicy: "reject" },
    });
  });

  it("unwraps an SNS envelope", () => {
    expect(parser.parse(JSON.stringify(snsEnvelope(sesNotification({ messageId: "wrapped" })))).messageId).toBe("wrapped");
  });

  it("locates the message from the configured bucket when the notification has no S3 pointer (the seed's SNS action)", () => {
    const withFallback = createNotificationParser({ bucket: "my-bucket", prefix: "emails/" });
    expect(withFallback.parse(JSON.stringify(sesNotification({ messageId: "m9", actionType: "SNS" }))).s3).toEqual({
      bucket: "my-bucket",
      key: "emails/m9",
    });
    expect(() => parser.parse(JSON.stringify(sesNotification({ actionType: "SNS" })))).toThrow(/no S3 location/);
  });

  it("caps the subject so a huge header cannot inflate the decision", () => {
    const subject = "ä".repeat(10_000);
    expect(Array.from(parser.parse(JSON.stringify(sesNotification({ subject }))).subject)).toHaveLength(MAX_SUBJECT_CHARS);
  });

  it("treats a missing verdict as GRAY and an unknown one as GRAY", () => {
    const notification = sesNotification() as { receipt: Record<string, unknown> };
    delete notification.receipt.spamVerdict;
    notification.receipt.virusVerdict = { status: "MAYBE" };
    expect(parser.parse(JSON.stringify(notification)).verdicts).toMatchObject({ spam: "GRAY", virus: "GRAY" });
  });

  it.each([
    ["not JSON", "{", /not JSON/],
    ["another notification type", JSON.stringify({ notificationType: "Bounce" }), /not an SES receipt notification at notificationType/],
    [
      "no recipients",
      JSON.stringify({ ...sesNotification(), receipt: { ...(sesNotification().receipt as object), recipients: [] } }),
      /receipt.recipients/,
    ],
    ["an SNS envelope around garbage", JSON.stringify({ Type: "Notification", Message: "nope" }), /SNS Message is not JSON/],
  ])("rejects %s with a reason", (_name, body, reason) => {
    expect(() => parser.parse(body)).toThrow(InvalidNotificationError);
    expect(() => parser.parse(body)).toThrow(reason);
  });
});
