/**
 * Every limit ses-mail enforces, in one place, each with the reason it exists.
 * Sizes are in bytes unless the name says otherwise.
 */

/** SES inbound through the S3 action accepts messages up to 40 MB (headers included); larger mail is refused by SES. */
export const SES_MAX_MESSAGE_BYTES = 40 * 1024 * 1024;

/** EventBridge rejects events whose entry is larger than 256 KB (detail plus envelope). */
export const EVENTBRIDGE_MAX_EVENT_BYTES = 256 * 1024;

/**
 * The routing decision travels as the `detail` of an EventBridge event and then inside an SQS message
 * (also 256 KB). We stop at a quarter of that so the Pipe's envelope, the bus's envelope and SQS
 * attributes always fit, and a decision for the largest message we accept can never be refused by
 * the bus. A decision over this budget fails the message (it retries, then the DLQ keeps it).
 */
export const DECISION_DETAIL_MAX_BYTES = 64 * 1024;

/**
 * RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients per message. We route at most
 * that many; with addresses capped below, 100 targets stay far inside DECISION_DETAIL_MAX_BYTES.
 */
export const MAX_RECIPIENTS_PER_MESSAGE = 100;

/** RFC 5321 §4.5.3.1.3: a forward-path is at most 256 octets including the angle brackets. */
export const MAX_ADDRESS_LENGTH = 254;

/** RFC 5321 §4.5.3.1.1: a local part is at most 64 octets. */
export const MAX_LOCAL_PART_LENGTH = 64;

/** RFC 1035: a domain name is at most 253 characters in text form. */
export const MAX_DOMAIN_LENGTH = 253;

/**
 * The subject is carried for logs and operators only. Capping it keeps an attacker's 900 KB header
 * from inflating every decision, log line and X-Ray annotation.
 */
export const MAX_SUBJECT_CHARS = 256;

/** One rule may fan out to this many actions; more is a mistake, and each one costs event bytes. */
export const MAX_ACTIONS_PER_RULE = 10;

/** Gmail label ids per forward target; Gmail itself allows many more, but a rule needing more is a mistake. */
export const MAX_LABELS_PER_TARGET = 20;

/** A rule description is for humans; keep it bounded so a listing stays readable. */
export const MAX_DESCRIPTION_CHARS = 500;

/** DynamoDB BatchGetItem takes at most 100 keys per request (AWS limit). */
export const DYNAMODB_BATCH_GET_MAX_KEYS = 100;

/**
 * BatchGetItem may return UnprocessedKeys under throttling. We retry them with exponential backoff
 * this many times (about 3 s in all) before failing the message, which then retries through the queue.
 */
export const DYNAMODB_UNPROCESSED_MAX_ATTEMPTS = 6;

/** First backoff delay for UnprocessedKeys; doubled on each attempt, with full jitter. */
export const DYNAMODB_UNPROCESSED_BASE_DELAY_MS = 50;
