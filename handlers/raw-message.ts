/**
 * The last step of the forwarder and the bouncer for each record: record what the stage did with the
 * message (its outcomes, the decision, the consumers it finished) in the message record, in one write,
 * and delete the raw object once every consumer is done (the protocol is described in core/delivery.ts),
 * recording that too. The message record is what `ses-mail trace` reads back (core/fate.ts).
 */
import type { DecisionDetail } from "../core/decision";
import { keepsRawMessage, pendingConsumers } from "../core/delivery";
import type { Outcome } from "../core/outcomes";
import type { Clock, MessageProgress, MessageStore } from "../core/ports";
import type { ReportOutcome } from "./outcomes";

export type RawMessageOutcome =
  /** A `store` action or a policy drop keeps it. */
  | { readonly state: "kept" }
  /** Other consumers still need it. */
  | { readonly state: "pending"; readonly waitingFor: readonly string[] }
  | { readonly state: "deleted" };

/** What the record did, for the message record: its outcomes, how to report the deletion, and the clock. */
export interface RecordedWork {
  readonly outcomes: readonly Outcome[];
  readonly report: ReportOutcome;
  readonly now: Clock;
}

/**
 * Records `work.outcomes` and marks `partsDone` (parts this record finished) in one write, then deletes the
 * object when nothing else needs it, and reports and records that deletion.
 */
export async function releaseRawMessage(
  detail: DecisionDetail,
  partsDone: readonly string[],
  stores: { readonly progress: MessageProgress; readonly messages: MessageStore },
  work: RecordedWork,
): Promise<RawMessageOutcome> {
  const messageId = detail.originalMessageId;
  const done = await stores.progress.record(messageId, { decision: detail, outcomes: work.outcomes, partsDone });
  if (keepsRawMessage(detail)) return { state: "kept" };
  const waitingFor = pendingConsumers(detail, partsDone.length === 0 ? [] : done);
  if (partsDone.length === 0 || waitingFor.length > 0) return { state: "pending", waitingFor };
  await stores.messages.delete(detail.s3);
  const deleted: Outcome = { kind: "raw-message-deleted", messageId, at: work.now().toISOString(), location: detail.s3 };
  work.report(deleted);
  await stores.progress.record(messageId, { outcomes: [deleted] });
  return { state: "deleted" };
}
