/**
 * The routing decision: what the router returns to the Pipe, and what the bus routes on.
 * It carries pointers and metadata only, never the message body, so it stays small (see
 * DECISION_DETAIL_MAX_BYTES) however large the message is.
 */
import { z } from "zod";
import { SesMailError, ErrorCode } from "./errors";
import { DECISION_DETAIL_MAX_BYTES } from "./limits";
import { ACTION_TYPES, type ActionType } from "./rules";
import { DISPOSITIONS, VERDICT_STATUSES, type Disposition, type Verdicts } from "./verdicts";
import { builtOnce } from "./built-once";

/** The Pipe puts decisions on the bus with this source and detail-type; the bus rules match on both. */
export const DECISION_SOURCE = "ses.email.router";
export const DECISION_DETAIL_TYPE = "Email Routing Decision";

/** How a recipient's action was chosen: the rule level that matched, the stack default, or the verdict policy. */
export const MATCH_LEVELS = ["exact", "normalized", "domain", "global", "default", "policy"] as const;
export type MatchLevel = (typeof MATCH_LEVELS)[number];

export interface DecisionTarget {
  /** The envelope recipient this entry is for (canonical). */
  readonly recipient: string;
  /** For forward-to-gmail: the Gmail address. */
  readonly target?: string;
  /** For forward-to-gmail: every Gmail label id to apply (INBOX/UNREAD or SPAM, plus the rule's). */
  readonly labels?: readonly string[];
  readonly match: MatchLevel;
  /** The pattern of the rule that matched, when one did. */
  readonly rule?: string;
  readonly reason?: string;
}

export interface ActionSummary {
  readonly count: number;
  readonly targets: readonly DecisionTarget[];
}

export interface VerdictSummary extends Verdicts {
  readonly disposition: Disposition;
  /** The verdicts that drove the disposition; empty when the message is delivered normally. */
  readonly reasons: readonly string[];
}

export interface DecisionDetail {
  readonly originalMessageId: string;
  readonly source: string;
  readonly subject: string;
  readonly timestamp: string;
  readonly s3: { readonly bucket: string; readonly key: string };
  readonly verdicts: VerdictSummary;
  /** Every action type is present (count 0 when unused), so event patterns can test `count > 0`. */
  readonly actions: Readonly<Record<ActionType, ActionSummary>>;
}

export class DecisionTooLargeError extends SesMailError {
  constructor(messageId: string, bytes: number) {
    super(
      ErrorCode.DecisionTooLarge,
      `the routing decision for message ${messageId} is ${bytes} bytes, over the ${DECISION_DETAIL_MAX_BYTES}-byte budget`,
    );
    this.name = "DecisionTooLargeError";
  }
}

/** Serialized size of a decision in bytes; throws DecisionTooLargeError over the budget. */
export function assertDecisionFits(detail: DecisionDetail): number {
  const bytes = Buffer.byteLength(JSON.stringify(detail), "utf8");
  if (bytes > DECISION_DETAIL_MAX_BYTES) throw new DecisionTooLargeError(detail.originalMessageId, bytes);
  return bytes;
}

/**
 * The zod schema consumers (forwarder, bouncer, local mode) validate a decision with.
 * Built once per process: see the note on ruleActionSchema in rules.ts.
 */
export function decisionDetailSchema() {
  return builtOnce("core/decision:decisionDetailSchema", () => {
    const status = z.enum(VERDICT_STATUSES as [string, ...string[]]);
    const target = z.object({
      recipient: z.string().min(1),
      target: z.string().optional(),
      labels: z.array(z.string()).optional(),
      match: z.enum(MATCH_LEVELS),
      rule: z.string().optional(),
      reason: z.string().optional(),
    });
    const summary = z.object({ count: z.number().int().nonnegative(), targets: z.array(target) });
    return z.object({
      originalMessageId: z.string().min(1),
      source: z.string(),
      subject: z.string(),
      timestamp: z.string(),
      s3: z.object({ bucket: z.string().min(1), key: z.string().min(1) }),
      verdicts: z.object({
        spam: status,
        virus: status,
        spf: status,
        dkim: status,
        dmarc: status,
        dmarcPolicy: z.enum(["none", "quarantine", "reject"]).optional(),
        disposition: z.enum(DISPOSITIONS as [Disposition, ...Disposition[]]),
        reasons: z.array(z.string()),
      }),
      actions: z.object(Object.fromEntries(ACTION_TYPES.map((type) => [type, summary])) as Record<ActionType, typeof summary>),
    });
  });
}
