/**
 * Every limit ses-mail enforces, in one place, each with the reason it exists.
 * Sizes are in bytes unless the name says otherwise.
 */

/** SES inbound through the S3 action accepts messages up to 40 MB (headers included); larger mail is refused by SES. */
export const SES_MAX_MESSAGE_BYTES = 40 * 1024 * 1024;

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

/* Delivery: the Gmail forwarder, the bouncer and the SMTP credential manager. */

/*
 * How long parked deliveries wait, how long import records and message records live: the retention
 * model (core/retention.ts) derives them from the queues' lifetimes, so no reference outlives its raw
 * message and no redelivery outlives its import record. They live there, not here, so the model stays in
 * one file: DELIVERY_RECORD_TTL_SECONDS, MESSAGE_RECORD_TTL_SECONDS, RETRY_MAX_PARKED_SECONDS,
 * RETRY_REPARK_DELAY_SECONDS.
 */

/** SQS refuses message bodies over 256 KiB; a retry message must fit. */
export const SQS_MAX_MESSAGE_BYTES = 256 * 1024;

/**
 * An access token is refreshed when it has less than this left, so a token never expires in the middle
 * of a 40 MB upload (a forwarder run lasts at most 5 minutes).
 */
export const ACCESS_TOKEN_REFRESH_MARGIN_SECONDS = 300;

/**
 * OAuth client and refresh tokens read from SSM are reused this long per container, then read again, so a
 * token refreshed with the CLI is picked up within minutes (and at once after an `invalid_grant`).
 */
export const SECRET_CACHE_TTL_MS = 5 * 60 * 1000;

/** Gmail's upload endpoint takes messages up to 150 MB; anything larger is refused before it is streamed. */
export const GMAIL_UPLOAD_MAX_BYTES = 150 * 1024 * 1024;

/**
 * How long we wait for Google to answer one request (the token exchange, a session start). A hung
 * connection must fail the record and free the Lambda, not eat the whole timeout.
 */
export const GOOGLE_REQUEST_TIMEOUT_MS = 30_000;

/** One bounce per (envelope sender, recipient) per window: a forged-sender flood cannot turn us into a backscatter cannon. */
export const BOUNCE_THROTTLE_WINDOW_SECONDS = 60 * 60;

/**
 * How far into the raw message the bouncer reads looking for the end of the header block. An attacker
 * can send megabytes of headers; past this we stop reading and treat what we have as the headers.
 */
export const HEADER_SCAN_MAX_BYTES = 256 * 1024;

/**
 * The original headers quoted in a DSN (text/rfc822-headers) are cut at a header boundary below this
 * size (RFC 6522 allows truncation): the DSN goes to an address we do not trust, and must not amplify.
 */
export const DSN_MAX_ORIGINAL_HEADER_BYTES = 32 * 1024;

/** RFC 5322 §2.1.1: a line is at most 998 octets before CRLF; longer quoted header lines are cut. */
export const MAX_LINE_OCTETS = 998;

/** IAM user names are at most 64 characters (IAM quota). */
export const IAM_USER_NAME_MAX_CHARS = 64;

/**
 * SMTP usernames become part of the IAM user name `ses-smtp-user-{username}-{yyyymmddHHMMss}`
 * (14 + 1 + 14 characters around it), so at most 35 characters keep it within IAM's 64.
 */
export const SMTP_USERNAME_MAX_CHARS = IAM_USER_NAME_MAX_CHARS - "ses-smtp-user-".length - "-".length - 14;

/** IAM limits a user's inline policies to 2,048 characters in all (whitespace excluded): allowed_from must fit. */
export const IAM_USER_INLINE_POLICY_MAX_CHARS = 2048;
