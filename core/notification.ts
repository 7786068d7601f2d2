/**
 * The SES receipt notification (https://docs.aws.amazon.com/ses/latest/dg/receiving-email-notifications-contents.html)
 * as it reaches the router: the SQS record body, either raw (SNS raw delivery) or inside an SNS envelope.
 * Only the fields routing needs are validated; everything else is ignored.
 */
import { z } from "zod";
import { InvalidNotificationError } from "./errors";
import { MAX_SUBJECT_CHARS } from "./limits";
import { VERDICT_STATUSES, type DmarcPolicy, type VerdictStatus, type Verdicts } from "./verdicts";
import { builtOnce } from "./built-once";

/**
 * The message id of the notification SES publishes once, when a receipt rule's S3 action is created (it
 * also writes an object of that name to the bucket). It is not mail: nothing routes or delivers it.
 */
export const SES_SETUP_NOTIFICATION_ID = "AMAZON_SES_SETUP_NOTIFICATION";

/**
 * True when an SQS record body (raw, or inside an SNS envelope) is SES's setup notification. Lenient on
 * purpose: it must be recognized whatever else it holds (no recipients, an empty source), so it is never
 * mistaken for mail nor fails routing.
 */
export function isSetupNotification(body: string): boolean {
  const parse = (text: unknown): unknown => {
    if (typeof text !== "string") return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  };
  let value = parse(body) as { Type?: unknown; Message?: unknown; mail?: { messageId?: unknown } } | undefined;
  if (value?.Type === "Notification") value = parse(value.Message) as typeof value;
  return value?.mail?.messageId === SES_SETUP_NOTIFICATION_ID;
}

/** Where the raw message is, when the notification comes from the seed's separate SNS action (no S3 pointer). */
export interface MessageStoreLocation {
  readonly bucket: string;
  /** Key prefix, e.g. `emails/`. */
  readonly prefix: string;
}

export interface InboundMessage {
  readonly messageId: string;
  /** Envelope sender (MAIL FROM); empty for a null sender. */
  readonly source: string;
  readonly subject: string;
  readonly timestamp: string;
  /** Envelope recipients that the receipt rule matched, as SES lists them. */
  readonly recipients: readonly string[];
  readonly s3: { readonly bucket: string; readonly key: string };
  readonly verdicts: Verdicts;
}

function notificationSchema() {
  return builtOnce("core/notification:notificationSchema", () => {
    const verdict = z
      .object({ status: z.string() })
      .loose()
      .optional()
      .transform((value): VerdictStatus => {
        const status = value?.status.toUpperCase();
        return VERDICT_STATUSES.find((known) => known === status) ?? "GRAY";
      });
    return z
      .object({
        notificationType: z.literal("Received"),
        mail: z
          .object({
            messageId: z.string().min(1),
            source: z.string(),
            timestamp: z.string(),
            destination: z.array(z.string()).optional(),
            commonHeaders: z.object({ subject: z.string().optional() }).loose().optional(),
          })
          .loose(),
        receipt: z
          .object({
            recipients: z.array(z.string()).min(1),
            spamVerdict: verdict,
            virusVerdict: verdict,
            spfVerdict: verdict,
            dkimVerdict: verdict,
            dmarcVerdict: verdict,
            dmarcPolicy: z.string().optional(),
            action: z
              .object({
                type: z.string(),
                bucketName: z.string().optional(),
                objectKey: z.string().optional(),
              })
              .loose(),
          })
          .loose(),
      })
      .loose();
  });
}

function snsEnvelopeSchema() {
  return builtOnce("core/notification:snsEnvelopeSchema", () => {
    return z.object({ Type: z.literal("Notification"), Message: z.string() }).loose();
  });
}

export interface NotificationParser {
  /** Parses an SQS record body. Throws InvalidNotificationError with a reason. */
  parse(body: string): InboundMessage;
}

function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join("")}…`;
}

function dmarcPolicyOf(value: string | undefined): DmarcPolicy | undefined {
  const policy = value?.toLowerCase();
  return policy === "none" || policy === "quarantine" || policy === "reject" ? policy : undefined;
}

/**
 * Builds the parser (zod schemas inside, so build it at cold start, not at module level).
 * `fallbackStore` locates the message when the notification carries no S3 pointer.
 */
export function createNotificationParser(fallbackStore?: MessageStoreLocation): NotificationParser {
  const schema = notificationSchema();
  const envelope = snsEnvelopeSchema();

  function parseJson(text: string, what: string): unknown {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new InvalidNotificationError(`${what} is not JSON`, { cause: error });
    }
  }

  function parse(body: string): InboundMessage {
    let value = parseJson(body, "the record body");
    const wrapped = envelope.safeParse(value);
    if (wrapped.success) value = parseJson(wrapped.data.Message, "the SNS Message");
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      const where = first && first.path.length > 0 ? ` at ${first.path.join(".")}` : "";
      throw new InvalidNotificationError(`not an SES receipt notification${where}: ${first?.message ?? "invalid"}`, {
        cause: parsed.error,
      });
    }
    const { mail, receipt } = parsed.data;
    let s3: { bucket: string; key: string };
    if (receipt.action.type === "S3" && receipt.action.bucketName && receipt.action.objectKey) {
      s3 = { bucket: receipt.action.bucketName, key: receipt.action.objectKey };
    } else if (fallbackStore) {
      s3 = { bucket: fallbackStore.bucket, key: `${fallbackStore.prefix}${mail.messageId}` };
    } else {
      throw new InvalidNotificationError(
        `message ${mail.messageId}: the notification has no S3 location (action ${receipt.action.type}) and no message bucket is configured`,
      );
    }
    const dmarcPolicy = dmarcPolicyOf(receipt.dmarcPolicy);
    return {
      messageId: mail.messageId,
      source: mail.source,
      subject: truncate(mail.commonHeaders?.subject ?? "", MAX_SUBJECT_CHARS),
      timestamp: mail.timestamp,
      recipients: receipt.recipients,
      s3,
      verdicts: {
        spam: receipt.spamVerdict,
        virus: receipt.virusVerdict,
        spf: receipt.spfVerdict,
        dkim: receipt.dkimVerdict,
        dmarc: receipt.dmarcVerdict,
        ...(dmarcPolicy ? { dmarcPolicy } : {}),
      },
    };
  }

  return { parse };
}
