/**
 * The SES receipt notification local mode publishes for each accepted message: the documented shape
 * (https://docs.aws.amazon.com/ses/latest/dg/receiving-email-notifications-contents.html) of a receipt
 * rule's S3 action with an SNS topic, so the router parses exactly what it parses in AWS.
 */
import type { MessageLocation } from "../core/ports";
import type { VerdictStatus, Verdicts } from "../core/verdicts";
import { EMAIL_KEY_PREFIX } from "../adapters/local/file-message-store";
import { commonHeaders, notificationHeaders, type HeaderBlock, type HeaderField, type CommonHeaders } from "./headers";

/** Stand-ins for the account-specific parts of the ARNs SES would put in. */
export const LOCAL_ACCOUNT_ID = "000000000000";
export const LOCAL_REGION = "local";
export const LOCAL_TOPIC_ARN = `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:ses-email-processing-local`;

export interface ReceiptNotificationInput {
  readonly messageId: string;
  readonly receivedAt: Date;
  /** MAIL FROM; empty for the null sender. */
  readonly source: string;
  /** Envelope recipients (canonical). */
  readonly recipients: readonly string[];
  readonly block: HeaderBlock;
  readonly verdicts: Verdicts;
  readonly location: MessageLocation;
  readonly processingTimeMillis: number;
}

export interface ReceiptNotification {
  readonly notificationType: "Received";
  readonly mail: {
    readonly timestamp: string;
    readonly source: string;
    readonly messageId: string;
    readonly destination: readonly string[];
    readonly headersTruncated: boolean;
    readonly headers: readonly HeaderField[];
    readonly commonHeaders: CommonHeaders;
  };
  readonly receipt: {
    readonly timestamp: string;
    readonly processingTimeMillis: number;
    readonly recipients: readonly string[];
    readonly spamVerdict: { readonly status: VerdictStatus };
    readonly virusVerdict: { readonly status: VerdictStatus };
    readonly spfVerdict: { readonly status: VerdictStatus };
    readonly dkimVerdict: { readonly status: VerdictStatus };
    readonly dmarcVerdict: { readonly status: VerdictStatus };
    readonly dmarcPolicy?: string;
    readonly action: {
      readonly type: "S3";
      readonly topicArn: string;
      readonly bucketName: string;
      readonly objectKeyPrefix: string;
      readonly objectKey: string;
    };
  };
}

export function buildReceiptNotification(input: ReceiptNotificationInput): ReceiptNotification {
  const timestamp = input.receivedAt.toISOString();
  const { headers, truncated } = notificationHeaders(input.block);
  const { verdicts } = input;
  return {
    notificationType: "Received",
    mail: {
      timestamp,
      source: input.source,
      messageId: input.messageId,
      destination: [...input.recipients],
      headersTruncated: truncated,
      headers,
      commonHeaders: commonHeaders(input.block.fields, input.source),
    },
    receipt: {
      timestamp,
      processingTimeMillis: input.processingTimeMillis,
      recipients: [...input.recipients],
      spamVerdict: { status: verdicts.spam },
      virusVerdict: { status: verdicts.virus },
      spfVerdict: { status: verdicts.spf },
      dkimVerdict: { status: verdicts.dkim },
      dmarcVerdict: { status: verdicts.dmarc },
      // SES reports the sender's policy only when DMARC failed.
      ...(verdicts.dmarc === "FAIL" && verdicts.dmarcPolicy ? { dmarcPolicy: verdicts.dmarcPolicy } : {}),
      action: {
        type: "S3",
        topicArn: LOCAL_TOPIC_ARN,
        bucketName: input.location.bucket,
        objectKeyPrefix: EMAIL_KEY_PREFIX,
        objectKey: input.location.key,
      },
    },
  };
}
