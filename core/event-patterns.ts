/**
 * The EventBridge event patterns of the routing bus, exactly as the seed design writes them.
 * One source of truth: the infrastructure deploys these objects, and local mode matches decisions
 * against the very same objects.
 */
import { DECISION_DETAIL_TYPE, DECISION_SOURCE } from "./decision";

/** A JSON event pattern (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html). */
export type EventPattern = { readonly [field: string]: EventPattern | readonly unknown[] };

/** Decisions with at least one Gmail forward go to the forwarder queue (rule `route-to-gmail-{env}`). */
export const GMAIL_FORWARDER_PATTERN: EventPattern = {
  source: [DECISION_SOURCE],
  "detail-type": [DECISION_DETAIL_TYPE],
  detail: { actions: { "forward-to-gmail": { count: [{ numeric: [">", 0] }] } } },
};

/** Decisions with at least one bounce go to the bouncer queue (rule `route-to-bouncer-{env}`). */
export const BOUNCER_PATTERN: EventPattern = {
  source: [DECISION_SOURCE],
  "detail-type": [DECISION_DETAIL_TYPE],
  detail: { actions: { bounce: { count: [{ numeric: [">", 0] }] } } },
};

/** Every decision, for the log group that keeps a record of each one. */
export const ALL_DECISIONS_PATTERN: EventPattern = {
  source: [DECISION_SOURCE],
  "detail-type": [DECISION_DETAIL_TYPE],
};
