/**
 * The last step of the forwarder and the bouncer: record which consumers of the raw message are done
 * and delete the object once all are (the protocol is described in core/delivery.ts).
 */
import type { DecisionDetail } from "../core/decision";
import { keepsRawMessage, pendingConsumers, rawMessageConsumers } from "../core/delivery";
import type { MessageProgress, MessageStore } from "../core/ports";

export type RawMessageOutcome =
  /** A `store` action or a policy drop keeps it. */
  | { readonly state: "kept" }
  /** Other consumers still need it. */
  | { readonly state: "pending"; readonly waitingFor: readonly string[] }
  | { readonly state: "deleted" };

/**
 * Marks `partsDone` (parts this invocation finished) and deletes the object when nothing else needs it.
 * When this invocation finished every consumer itself, the table is not touched.
 */
export async function releaseRawMessage(
  detail: DecisionDetail,
  partsDone: readonly string[],
  stores: { readonly progress: MessageProgress; readonly messages: MessageStore },
): Promise<RawMessageOutcome> {
  if (keepsRawMessage(detail)) return { state: "kept" };
  if (partsDone.length === 0) return { state: "pending", waitingFor: pendingConsumers(detail, []) };
  const everyPartDoneHere = rawMessageConsumers(detail).every((part) => partsDone.includes(part));
  const done = everyPartDoneHere ? partsDone : await stores.progress.complete(detail.originalMessageId, partsDone);
  const waitingFor = pendingConsumers(detail, done);
  if (waitingFor.length > 0) return { state: "pending", waitingFor };
  await stores.messages.delete(detail.s3);
  return { state: "deleted" };
}
