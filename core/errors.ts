/**
 * The error classes ses-mail raises on purpose. Every one carries a stable `code` (for logs, metrics and
 * CLI exit handling) and keeps the underlying `cause`. Anything that is not a `SesMailError` is a bug.
 */

/** Stable codes, one per kind of failure; logs and tests match on these, never on message text. */
export const ErrorCode = {
  InvalidAddress: "INVALID_ADDRESS",
  InvalidRule: "INVALID_RULE",
  InvalidPattern: "INVALID_PATTERN",
  InvalidNotification: "INVALID_NOTIFICATION",
  InvalidConfig: "INVALID_CONFIG",
  DecisionTooLarge: "DECISION_TOO_LARGE",
  RuleStoreUnavailable: "RULE_STORE_UNAVAILABLE",
  RuleNotFound: "RULE_NOT_FOUND",
  RuleExists: "RULE_EXISTS",
  MessageNotFound: "MESSAGE_NOT_FOUND",
  InvalidDeliveryEvent: "INVALID_DELIVERY_EVENT",
  MailboxAuthorization: "MAILBOX_AUTHORIZATION",
  MailboxUnavailable: "MAILBOX_UNAVAILABLE",
  MailboxRejected: "MAILBOX_REJECTED",
  DeliveryInProgress: "DELIVERY_IN_PROGRESS",
  DeliveryStateUnavailable: "DELIVERY_STATE_UNAVAILABLE",
  MessageStoreUnavailable: "MESSAGE_STORE_UNAVAILABLE",
  SecretUnavailable: "SECRET_UNAVAILABLE",
  BounceSendFailed: "BOUNCE_SEND_FAILED",
  BounceSendThrottled: "BOUNCE_SEND_THROTTLED",
  InvalidSmtpUser: "INVALID_SMTP_USER",
  CredentialProvisioningFailed: "CREDENTIAL_PROVISIONING_FAILED",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class SesMailError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SesMailError";
    this.code = code;
    repairAfterSerialization(this, message, options);
  }
}

/**
 * Pulumi's closure serializer rebuilds these classes as plain functions: `super(message)` becomes
 * `Error.call(this, message)`, which sets nothing on `this`, and a class without methods of its own
 * loses its prototype link. Measured in a serialized Lambda: `message`, `stack` and `cause` undefined,
 * and `instanceof SesMailError` / `instanceof Error` false. This puts back what `super` would have set.
 * In unserialized code every check below is already satisfied and nothing changes.
 */
function repairAfterSerialization(error: SesMailError, message: string, options?: { cause?: unknown }): void {
  if (!Object.prototype.hasOwnProperty.call(error, "message")) {
    if (!(SesMailError.prototype instanceof Error)) Object.setPrototypeOf(SesMailError.prototype, Error.prototype);
    const proto: object | null = Object.getPrototypeOf(error);
    if (proto && proto !== SesMailError.prototype && !(proto instanceof SesMailError)) Object.setPrototypeOf(proto, SesMailError.prototype);
    Object.defineProperty(error, "message", { value: message, writable: true, configurable: true, enumerable: false });
    if (options && "cause" in options)
      Object.defineProperty(error, "cause", { value: options.cause, writable: true, configurable: true, enumerable: false });
    Error.captureStackTrace(error, error.constructor);
  }
}

/** An envelope address that cannot be routed. Names the address so the log says which one. */
export class InvalidAddressError extends SesMailError {
  readonly address: string;

  constructor(address: string, reason: string) {
    super(ErrorCode.InvalidAddress, `invalid address ${JSON.stringify(address)}: ${reason}`);
    this.name = "InvalidAddressError";
    this.address = address;
  }
}

/** A routing pattern (`user@d`, `*@d`, `*`) that is not well formed. */
export class InvalidPatternError extends SesMailError {
  readonly pattern: string;

  constructor(pattern: string, reason: string) {
    super(ErrorCode.InvalidPattern, `invalid rule pattern ${JSON.stringify(pattern)}: ${reason}`);
    this.name = "InvalidPatternError";
    this.pattern = pattern;
  }
}

/**
 * A stored rule that does not validate. Routing throws this rather than bouncing or dropping the
 * message, so the message is retried and ends in the dead-letter queue with the rule named.
 */
export class InvalidRuleError extends SesMailError {
  readonly ruleKey: string;

  constructor(ruleKey: string, reason: string, options?: { cause?: unknown }) {
    super(ErrorCode.InvalidRule, `invalid routing rule ${ruleKey}: ${reason}`, options);
    this.name = "InvalidRuleError";
    this.ruleKey = ruleKey;
  }
}

/** An inbound SES notification (or the queue record around it) that cannot be understood. */
export class InvalidNotificationError extends SesMailError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.InvalidNotification, message, options);
    this.name = "InvalidNotificationError";
  }
}

export class RuleStoreError extends SesMailError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.RuleStoreUnavailable, message, options);
    this.name = "RuleStoreError";
  }
}

export class RuleNotFoundError extends SesMailError {
  constructor(pattern: string) {
    super(ErrorCode.RuleNotFound, `no rule for ${pattern}`);
    this.name = "RuleNotFoundError";
  }
}

export class RuleExistsError extends SesMailError {
  constructor(pattern: string) {
    super(ErrorCode.RuleExists, `a rule for ${pattern} already exists (use --replace to overwrite it)`);
    this.name = "RuleExistsError";
  }
}

/** The raw message is no longer in the store (expired by the lifecycle rule, or deleted). */
export class MessageNotFoundError extends SesMailError {
  constructor(location: { bucket: string; key: string }, options?: { cause?: unknown }) {
    super(
      ErrorCode.MessageNotFound,
      `raw message s3://${location.bucket}/${location.key} does not exist (expired or already delivered)`,
      options,
    );
    this.name = "MessageNotFoundError";
  }
}

/* Delivery (Gmail forwarder, bouncer, credential manager). */

/** A handler queue record that is neither a routing decision event nor a retry-queue message. */
export class InvalidDeliveryEventError extends SesMailError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.InvalidDeliveryEvent, message, options);
    this.name = "InvalidDeliveryEventError";
  }
}

/**
 * The mailbox cannot be written until an operator acts: the OAuth refresh token is missing, still the
 * placeholder, expired or revoked, or lacks the scope. The forwarder parks the delivery in the retry queue.
 */
export class MailboxAuthorizationError extends SesMailError {
  readonly account: string;

  constructor(account: string, message: string, options?: { cause?: unknown }) {
    super(ErrorCode.MailboxAuthorization, `mailbox ${account}: ${message}`, options);
    this.name = "MailboxAuthorizationError";
    this.account = account;
  }
}

/** A transient mailbox failure (429, 5xx, network): the delivery is retried later through the queue. */
export class MailboxUnavailableError extends SesMailError {
  readonly account: string;
  /** Seconds the mailbox asked us to wait (Retry-After), when it said. */
  readonly retryAfterSeconds?: number;

  constructor(account: string, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(ErrorCode.MailboxUnavailable, `mailbox ${account}: ${message}`, options);
    this.name = "MailboxUnavailableError";
    this.account = account;
    if (options?.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** The mailbox refused this message for good (a permanent 4xx); retrying cannot help, the DLQ keeps it. */
export class MailboxRejectedError extends SesMailError {
  readonly account: string;
  readonly status: number;

  constructor(account: string, status: number, message: string, options?: { cause?: unknown }) {
    super(ErrorCode.MailboxRejected, `mailbox ${account}: ${message}`, options);
    this.name = "MailboxRejectedError";
    this.account = account;
    this.status = status;
  }
}

/** Another invocation is importing the same (message, target) right now; this copy of the record retries later. */
export class DeliveryInProgressError extends SesMailError {
  constructor(key: string, options?: { cause?: unknown }) {
    super(ErrorCode.DeliveryInProgress, `delivery ${key} is already in progress elsewhere`, options);
    this.name = "DeliveryInProgressError";
  }
}

/** The table that records deliveries, bounce throttles and message progress could not be read or written. */
export class DeliveryStateError extends SesMailError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.DeliveryStateUnavailable, message, options);
    this.name = "DeliveryStateError";
  }
}

/** The raw message store failed for a reason other than the message being gone (throttling, permissions). */
export class MessageStoreError extends SesMailError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.MessageStoreUnavailable, message, options);
    this.name = "MessageStoreError";
  }
}

/** A secret (SSM parameter) could not be read for a reason other than its absence. */
export class SecretUnavailableError extends SesMailError {
  constructor(name: string, options?: { cause?: unknown }) {
    super(ErrorCode.SecretUnavailable, `cannot read secret ${name}`, options);
    this.name = "SecretUnavailableError";
  }
}

/**
 * SES did not send a report. `retryable` (code BOUNCE_SEND_THROTTLED) when SES refused for now (the
 * sending rate or the daily quota): the same send can succeed later, so the record is retried rather
 * than given up on; otherwise (BOUNCE_SEND_FAILED) SES refused the message itself.
 */
export class BounceSendError extends SesMailError {
  readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(options?.retryable ? ErrorCode.BounceSendThrottled : ErrorCode.BounceSendFailed, message, options);
    this.name = "BounceSendError";
    this.retryable = options?.retryable ?? false;
  }
}

/** An SMTP user item that cannot be provisioned as written (bad username or allowed_from). */
export class InvalidSmtpUserError extends SesMailError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.InvalidSmtpUser, message, options);
    this.name = "InvalidSmtpUserError";
  }
}

/** Creating, rotating or deleting an SMTP user's IAM identity failed (after rolling back what it created). */
export class CredentialProvisioningError extends SesMailError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.CredentialProvisioningFailed, message, options);
    this.name = "CredentialProvisioningError";
  }
}

/** A Lambda function's environment (set by its component) that does not parse: it fails at cold start, naming each variable. */
export class InvalidEnvironmentError extends SesMailError {
  constructor(message: string) {
    super(ErrorCode.InvalidConfig, message);
    this.name = "InvalidEnvironmentError";
  }
}

/** Any thrown value as an Error (a thrown string or object becomes one), so it can be logged with a stack or kept as a cause. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Any thrown value as `Name: message` (an AWS SDK error's name is the service's error code), for an error that wraps it. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The message of any thrown value, for text a person reads. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
