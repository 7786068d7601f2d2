/**
 * A message's fate as `ses-mail trace` shows it: what the router decided, every outcome since, and where
 * the message is now. Two readers build it: one from a deployed stack (the routing table's fate records,
 * the decision log, the dead-letter queues, the bucket) and one from local mode's data directory. The
 * CLI renders either the same way (text, or `--json`).
 */
import type { DecisionDetail } from "./decision";
import { canonicalize } from "./addresses";
import { decisionOutcomes, type Outcome, type OutcomeError } from "./outcomes";
import { gmailLabels } from "./verdicts";

/** Where (a copy of) the message is now. A message can be in several places at once. */
export type FatePlace =
  /** In a mailbox: Gmail (id and labels) or, in local mode, a Maildir file. */
  | {
      readonly kind: "mailbox";
      readonly account: string;
      readonly mailboxId: string;
      readonly labels: readonly string[];
      readonly file?: string;
    }
  /** Waiting in the retry queue for an operator to re-authorize the mailbox. */
  | { readonly kind: "parked"; readonly account: string; readonly since: string; readonly attempt: number; readonly reason: OutcomeError }
  /**
   * In a dead-letter queue, with the error that put it there and the command that sends it back. `queue` is
   * the name `ses-mail dlq --queue` takes (`input`, `forwarder`, `bouncer`, `retry`, `event-routing`);
   * `name` the queue's own name, `since` when it entered the queue it failed from, where known.
   */
  | {
      readonly kind: "dead-letter";
      readonly queue: string;
      readonly error: OutcomeError;
      readonly redrive: string;
      readonly name?: string;
      readonly since?: string;
    }
  /** A bounce (DSN) went to the envelope sender; in local mode, the outbox file. */
  | { readonly kind: "bounce"; readonly to: string; readonly recipients: readonly string[]; readonly file?: string }
  /** The raw message as SES stored it: kept until the lifecycle rule expires it, or already deleted. */
  | {
      readonly kind: "raw-message";
      readonly location: { readonly bucket: string; readonly key: string };
      readonly state: "kept" | "deleted";
      readonly keptUntil?: string;
    };

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

/* ------------------------------------------------------------------------------------------------
 * Building a fate from what a reader found: shared by the deployed and the local reader.
 * ---------------------------------------------------------------------------------------------- */

/**
 * Every outcome of a message, oldest first: the router's (rebuilt from the decision, at `routedAt`, since
 * the router records nothing itself) and the recorded ones. Sorting is stable, so outcomes reported in
 * one instant keep their order.
 */
export function fateOutcomes(decision: DecisionDetail | undefined, routedAt: string | undefined, recorded: readonly Outcome[]): Outcome[] {
  const routed = decision ? decisionOutcomes(decision, routedAt ?? decision.timestamp) : [];
  const others = recorded.filter((outcome) => outcome.kind !== "routed" && outcome.kind !== "stored" && outcome.kind !== "dropped");
  return [...routed, ...others]
    .map((outcome, index) => ({ outcome, index }))
    .sort((a, b) => Date.parse(a.outcome.at) - Date.parse(b.outcome.at) || a.index - b.index)
    .map(({ outcome }) => outcome);
}

/**
 * Where a message is, as its outcomes tell: each mailbox it was imported into, each delivery still parked
 * (an account whose latest delivery outcome is a park), and each bounce sent. Dead-letter queues and the
 * raw message are for the reader to add: outcomes cannot see them.
 */
export function placesFromOutcomes(outcomes: readonly Outcome[], decision?: DecisionDetail): FatePlace[] {
  const places: FatePlace[] = [];
  const labelsOf = (account: string): readonly string[] => {
    const targets =
      decision?.actions["forward-to-gmail"].targets.filter(
        (target) => target.target && canonicalize(target.target) === canonicalize(account),
      ) ?? [];
    const labels = targets.flatMap((target) => target.labels ?? []);
    return labels.length > 0 ? [...new Set(labels)] : decision ? gmailLabels(decision.verdicts.disposition) : [];
  };
  const inMailbox = new Set<string>();
  const latest = new Map<string, Outcome>();
  for (const outcome of outcomes) {
    if (outcome.kind === "imported" || outcome.kind === "already-imported") {
      const key = `${outcome.account}|${outcome.mailboxId}`;
      if (!inMailbox.has(key)) {
        inMailbox.add(key);
        const labels = outcome.kind === "imported" ? outcome.labels : labelsOf(outcome.account);
        places.push({ kind: "mailbox", account: outcome.account, mailboxId: outcome.mailboxId, labels });
      }
    }
    if (
      outcome.kind === "imported" ||
      outcome.kind === "already-imported" ||
      outcome.kind === "parked" ||
      outcome.kind === "given-up" ||
      outcome.kind === "import-failed"
    ) {
      latest.set(outcome.account, outcome);
    }
    if (outcome.kind === "bounce-sent") {
      places.push({ kind: "bounce", to: outcome.to, recipients: outcome.recipients.map((recipient) => recipient.address) });
    }
  }
  for (const outcome of latest.values()) {
    if (outcome.kind === "parked")
      places.push({
        kind: "parked",
        account: outcome.account,
        since: outcome.parkedSince,
        attempt: outcome.attempt,
        reason: outcome.reason,
      });
  }
  return places;
}
