/**
 * Event factories: SES receipt notifications (the documented shape, written by hand), the SQS records
 * the Pipe hands the router, decision details, and the DynamoDB stream records of SMTP users. Each takes overrides for the fields a test cares about.
 */
import { marshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord, SQSRecord } from "aws-lambda";
import type { DecisionDetail, DecisionTarget } from "../../core/decision";
import type { ImportedOutcome } from "../../core/outcomes";
import type { VerdictStatus } from "../../core/verdicts";

export interface NotificationOptions {
  messageId?: string;
  source?: string;
  subject?: string;
  recipients?: string[];
  spam?: VerdictStatus;
  virus?: VerdictStatus;
  spf?: VerdictStatus;
  dkim?: VerdictStatus;
  dmarc?: VerdictStatus;
  dmarcPolicy?: string;
  bucket?: string;
  /** `S3` (the S3 action with its topic: the pointer is in the notification) or `SNS` (the seed's SNS action). */
  actionType?: "S3" | "SNS";
}

/** An SES `Received` notification as SES publishes it for a receipt rule's S3 action. */
export function sesNotification(options: NotificationOptions = {}): Record<string, unknown> {
  const messageId = options.messageId ?? "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1";
  const recipients = options.recipients ?? ["user@example.com"];
  const source = options.source ?? "sender@sender.example";
  const bucket = options.bucket ?? "ses-mail-storage-123456789012-test";
  const action =
    (options.actionType ?? "S3") === "S3"
      ? {
          type: "S3",
          topicArn: "arn:aws:sns:eu-west-2:123456789012:ses-email-processing-test",
          bucketName: bucket,
          objectKeyPrefix: "emails/",
          objectKey: `emails/${messageId}`,
        }
      : { type: "SNS", topicArn: "arn:aws:sns:eu-west-2:123456789012:ses-email-processing-test", encoding: "UTF8" };
  return {
    notificationType: "Received",
    mail: {
      timestamp: "2026-11-28T10:00:00.000Z",
      source,
      messageId,
      destination: recipients,
      headersTruncated: false,
      headers: [
        { name: "Return-Path", value: `<${source}>` },
        { name: "From", value: `Sender <${source}>` },
        { name: "To", value: recipients.join(", ") },
        { name: "Subject", value: options.subject ?? "Hello" },
      ],
      commonHeaders: {
        returnPath: source,
        from: [`Sender <${source}>`],
        date: "Sat, 28 Nov 2026 10:00:00 +0000",
        to: recipients,
        messageId: "<CAFexample@mail.sender.example>",
        subject: options.subject ?? "Hello",
      },
    },
    receipt: {
      timestamp: "2026-11-28T10:00:00.000Z",
      processingTimeMillis: 420,
      recipients,
      spamVerdict: { status: options.spam ?? "PASS" },
      virusVerdict: { status: options.virus ?? "PASS" },
      spfVerdict: { status: options.spf ?? "PASS" },
      dkimVerdict: { status: options.dkim ?? "PASS" },
      dmarcVerdict: { status: options.dmarc ?? "PASS" },
      ...(options.dmarcPolicy ? { dmarcPolicy: options.dmarcPolicy } : {}),
      action,
    },
  };
}

let sqsCounter = 0;

/** The SQS record the Pipe hands the router: the notification as the body (SNS raw delivery). */
export function sqsRecord(body: unknown, overrides: Partial<SQSRecord> = {}): SQSRecord {
  const id = `0c6a4b1e-0000-4000-8000-${String(++sqsCounter).padStart(12, "0")}`;
  return {
    messageId: id,
    receiptHandle: `AQEB${id}`,
    body: typeof body === "string" ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: "1795860000000",
      SenderId: "AIDAEXAMPLE",
      ApproximateFirstReceiveTimestamp: "1795860000001",
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:eu-west-2:123456789012:ses-email-input-test",
    awsRegion: "eu-west-2",
    ...overrides,
  };
}

/** The SNS envelope around a notification, as SQS holds it without raw message delivery. */
export function snsEnvelope(message: unknown): Record<string, unknown> {
  return {
    Type: "Notification",
    MessageId: "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
    TopicArn: "arn:aws:sns:eu-west-2:123456789012:ses-email-processing-test",
    Subject: "Amazon SES Email Receipt Notification",
    Message: JSON.stringify(message),
    Timestamp: "2026-11-28T10:00:00.500Z",
    SignatureVersion: "1",
  };
}

/** The verdicts of a message the spam check failed, which the verdict policy quarantines. */
export const QUARANTINED_VERDICTS: DecisionDetail["verdicts"] = {
  spam: "FAIL",
  virus: "PASS",
  spf: "PASS",
  dkim: "PASS",
  dmarc: "PASS",
  disposition: "quarantine",
  reasons: ["spam FAIL"],
};

/** A decision detail with every action type present; `targets` fills the ones a test needs. */
export function decisionDetail(
  targets: Partial<Record<keyof DecisionDetail["actions"], DecisionTarget[]>> = {},
  overrides: Partial<DecisionDetail> = {},
): DecisionDetail {
  const summary = (list: DecisionTarget[] = []) => ({ count: list.length, targets: list });
  return {
    originalMessageId: "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1",
    source: "sender@sender.example",
    subject: "Hello",
    timestamp: "2026-11-28T10:00:00.000Z",
    s3: { bucket: "ses-mail-storage-123456789012-test", key: "emails/o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1" },
    verdicts: { spam: "PASS", virus: "PASS", spf: "PASS", dkim: "PASS", dmarc: "PASS", disposition: "deliver", reasons: [] },
    actions: {
      "forward-to-gmail": summary(targets["forward-to-gmail"]),
      bounce: summary(targets.bounce),
      store: summary(targets.store),
      drop: summary(targets.drop),
    },
    ...overrides,
  };
}

/** What the forwarder reports for an import into Gmail; override what a test looks at. */
export function importedOutcome(messageId: string, overrides: Partial<Omit<ImportedOutcome, "kind" | "messageId">> = {}): ImportedOutcome {
  return {
    kind: "imported",
    messageId,
    at: "2026-11-28T10:00:03.000Z",
    account: "me@gmail.com",
    mailboxId: "18c1f0a",
    labels: ["INBOX", "UNREAD"],
    bytes: 2048,
    recipients: ["user@example.com"],
    origin: "event",
    ...overrides,
  };
}

/** 2026-11-28T10:00:00Z: when a stream record was written, unless a test says otherwise. */
export const STREAM_RECORD_CREATED = 1795860000;
/** STREAM_RECORD_CREATED as the credential manager stamps it into an IAM user's name. */
export const STREAM_RECORD_STAMP = "20261128100000";

let streamSequence = 0;

/** A DynamoDB stream record of the routing table (NEW_AND_OLD_IMAGES), as the credential manager receives it. */
export function streamRecord(
  eventName: "INSERT" | "MODIFY" | "REMOVE",
  images: { newImage?: Record<string, unknown>; oldImage?: Record<string, unknown> },
  created = STREAM_RECORD_CREATED,
): DynamoDBRecord {
  const item = (images.newImage ?? images.oldImage)!;
  const toStream = (value: Record<string, unknown>) =>
    marshall(value, { removeUndefinedValues: true }) as NonNullable<DynamoDBRecord["dynamodb"]>["NewImage"];
  streamSequence += 1;
  return {
    eventID: `event-${streamSequence}`,
    eventName,
    eventVersion: "1.1",
    eventSource: "aws:dynamodb",
    awsRegion: "eu-west-2",
    dynamodb: {
      ApproximateCreationDateTime: created,
      Keys: toStream({ PK: item.PK, SK: item.SK }),
      ...(images.newImage ? { NewImage: toStream(images.newImage) } : {}),
      ...(images.oldImage ? { OldImage: toStream(images.oldImage) } : {}),
      SequenceNumber: String(1000 + streamSequence),
      SizeBytes: 200,
      StreamViewType: "NEW_AND_OLD_IMAGES",
    },
    eventSourceARN: "arn:aws:dynamodb:eu-west-2:123456789012:table/ses-mail-email-routing-test/stream/2026-11-28T00:00:00.000",
  };
}

/** An SMTP user's item in the routing table, pending until the credential manager gives it credentials. */
export function smtpUserItem(username: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    PK: `SMTP_USER#${username}`,
    SK: "CREDENTIALS#v1",
    entity_type: "SMTP_USER",
    username,
    allowed_from: ["app@example.com", "*@notify.example.com"],
    status: "pending",
    ...fields,
  };
}
