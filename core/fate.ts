/**
 * A message's fate as `ses-mail trace` shows it: what the router decided, every outcome since, and where
 * the message is now. Two readers build it: one from a deployed stack (the routing table's fate records,
 * the decision log, the dead-letter queues, the bucket) and one from local mode's data directory. The
 * CLI renders either the same way (text, or `--json`).
 */
import type { DecisionDetail } from "./decision";
import type { Outcome, OutcomeError } from "./outcomes";

/** Where (a copy of) the message is now. A message can be in several places at once. */
export type FatePlace =
  /** In a mailbox: Gmail (id and labels) or, in local mode, a Maildir file. */
  | { readonly kind: "mailbox"; readonly account: string; readonly mailboxId: string; readonly labels: readonly string[]; readonly file?: string }
  /** Waiting in the retry queue for an operator to re-authorize the mailbox. */
  | { readonly kind: "parked"; readonly account: string; readonly since: string; readonly attempt: number; readonly reason: OutcomeError }
  /** In a dead-letter queue, with the error that put it there and the command that sends it back. */
  | { readonly kind: "dead-letter"; readonly queue: string; readonly error: OutcomeError; readonly redrive: string }
  /** A bounce (DSN) went to the envelope sender; in local mode, the outbox file. */
  | { readonly kind: "bounce"; readonly to: string; readonly recipients: readonly string[]; readonly file?: string }
  /** The raw message as SES stored it: kept until the lifecycle rule expires it, or already deleted. */
  | { readonly kind: "raw-message"; readonly location: { readonly bucket: string; readonly key: string }; readonly state: "kept" | "deleted"; readonly keptUntil?: string };

export interface MessageFate {
  readonly messageId: string;
  /** The routing decision (rule and level matched per recipient, verdicts), when it can still be found. */
  readonly decision?: DecisionDetail;
  /** Every outcome known for the message, oldest first. */
  readonly outcomes: readonly Outcome[];
  /** Where the message is now. */
  readonly places: readonly FatePlace[];
  /** What could not be read (a log group without access, an expired record): said, never hidden. */
  readonly gaps: readonly string[];
}

/** Finds messages' fates in one environment (a deployed stack, or local mode's data directory). */
export interface FateReader {
  /** The fate of one message by its SES message id (the id local mode's 250 reply carries); undefined when nothing is known. */
  byMessageId(messageId: string): Promise<MessageFate | undefined>;
  /** The fates of messages to an envelope recipient since a time, newest first. */
  byRecipient(address: string, since: Date): Promise<MessageFate[]>;
}
