/**
 * The routing table's single-table layout: key names, key prefixes and the index the CLI lists by.
 * Shared by the infrastructure (which creates the table) and the adapters (which read and write it).
 */

export const PARTITION_KEY = "PK";
export const SORT_KEY = "SK";
/** Every item says what it is; the GSI below lists items of one type without a Scan. */
export const ENTITY_TYPE_ATTRIBUTE = "entity_type";
/** Epoch seconds after which DynamoDB's TTL removes a short-lived item (idempotency, bounce throttling). */
export const TTL_ATTRIBUTE = "expires_at";

/** GSI: partition key `entity_type`, sort key `PK`, so `rules list` is one ordered Query. */
export const ENTITY_TYPE_INDEX = "entity_type-index";

export const EntityType = {
  Route: "ROUTE",
  SmtpUser: "SMTP_USER",
} as const;
export type EntityType = (typeof EntityType)[keyof typeof EntityType];

export const ROUTE_KEY_PREFIX = "ROUTE#";
export const ROUTE_SORT_KEY = "RULE#v1";
export const SMTP_USER_KEY_PREFIX = "SMTP_USER#";
export const SMTP_USER_SORT_KEY = "CREDENTIALS#v1";

/** The table name for a stack (`ses-mail-email-routing-{env}`); local mode uses env `local`. */
export function routingTableName(environment: string): string {
  return `ses-mail-email-routing-${environment}`;
}

export const LOCAL_ENVIRONMENT = "local";

/*
 * Short-lived delivery state, expired through TTL_ATTRIBUTE. These items have no `entity_type`, so the
 * GSI never lists them. Each prefix is also what an IAM `dynamodb:LeadingKeys` condition can scope on.
 */
/** The Gmail forwarder's idempotency records (Powertools): PK = `IDEMPOTENCY#gmail-forwarder`, SK = hashed (message, target). */
export const IDEMPOTENCY_KEY_PREFIX = "IDEMPOTENCY#";
/** The forwarder's partition of the idempotency records: the one its IAM policy may reach. */
export const GMAIL_FORWARDER_IDEMPOTENCY_KEY = "gmail-forwarder";
/** Which consumers are done with a raw message: PK = `MESSAGE#<SES message id>`, SK = MESSAGE_PROGRESS_SORT_KEY. */
export const MESSAGE_KEY_PREFIX = "MESSAGE#";
export const MESSAGE_PROGRESS_SORT_KEY = "PROGRESS#v1";
/**
 * The message record's attributes besides `done` (core/ports.ts MessageProgress): the decision and the
 * outcomes as JSON text, and the latest re-park of each Gmail account (`parked#<account>`), which replaces
 * the previous one so an hourly re-park does not grow the item.
 */
export const MessageRecordAttribute = {
  Done: "done",
  Decision: "decision",
  Outcomes: "outcomes",
  UpdatedAt: "updated_at",
  LatestParkPrefix: "parked#",
} as const;
/** The bouncer's throttle: PK = `BOUNCE#<envelope sender>|<recipient>`, SK = THROTTLE_SORT_KEY. */
export const BOUNCE_THROTTLE_KEY_PREFIX = "BOUNCE#";
export const THROTTLE_SORT_KEY = "THROTTLE#v1";

/**
 * Rules declared in stack config (`ses-mail:routes`) carry who keeps them in sync: Pulumi in AWS,
 * local mode at its start. Rules the CLI writes have no such attribute.
 */
export const MANAGED_BY_ATTRIBUTE = "managed_by";
export const RuleManager = {
  Pulumi: "pulumi",
  LocalConfig: "local-config",
} as const;
export type RuleManager = (typeof RuleManager)[keyof typeof RuleManager];
