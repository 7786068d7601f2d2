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
