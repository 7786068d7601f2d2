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
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class SesMailError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SesMailError";
    this.code = code;
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
    super(ErrorCode.MessageNotFound, `raw message s3://${location.bucket}/${location.key} does not exist (expired or already delivered)`, options);
    this.name = "MessageNotFoundError";
  }
}
