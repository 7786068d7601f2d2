/**
 * Security verdicts from the SES receipt and the policy that turns them into a disposition.
 * Defaults are safe: nothing is silently lost. Virus mail and DMARC `reject` mail are dropped (the raw
 * message stays in S3 until the lifecycle expires it, for inspection); spam and DMARC `quarantine`
 * mail is still delivered, labelled SPAM instead of INBOX.
 */
import { z } from "zod";
import { builtOnce } from "./built-once";

export const VerdictStatus = {
  Pass: "PASS",
  Fail: "FAIL",
  Gray: "GRAY",
  ProcessingFailed: "PROCESSING_FAILED",
  Disabled: "DISABLED",
} as const;
export type VerdictStatus = (typeof VerdictStatus)[keyof typeof VerdictStatus];
export const VERDICT_STATUSES: readonly VerdictStatus[] = ["PASS", "FAIL", "GRAY", "PROCESSING_FAILED", "DISABLED"];

/** The sending domain's published DMARC policy; SES reports it only when DMARC failed. */
export type DmarcPolicy = "none" | "quarantine" | "reject";

export interface Verdicts {
  readonly spam: VerdictStatus;
  readonly virus: VerdictStatus;
  readonly spf: VerdictStatus;
  readonly dkim: VerdictStatus;
  readonly dmarc: VerdictStatus;
  readonly dmarcPolicy?: DmarcPolicy;
}

/** What happens to a message as a whole: delivered as the rules say, delivered as spam, or not delivered. */
export const Disposition = {
  Deliver: "deliver",
  Quarantine: "quarantine",
  Drop: "drop",
} as const;
export type Disposition = (typeof Disposition)[keyof typeof Disposition];
export const DISPOSITIONS: readonly Disposition[] = ["deliver", "quarantine", "drop"];

/** Per-stack policy (`ses-mail:verdictPolicy`); each field says what a failed check leads to. */
export interface VerdictPolicy {
  /** Virus verdict FAIL. Default `drop`. */
  readonly virus: Disposition;
  /** Spam verdict FAIL. Default `quarantine`. */
  readonly spam: Disposition;
  /** DMARC FAIL where the sender's policy is `quarantine`. Default `quarantine`. */
  readonly dmarcQuarantine: Disposition;
  /** DMARC FAIL where the sender's policy is `reject`. Default `drop`. */
  readonly dmarcReject: Disposition;
}

export const DEFAULT_VERDICT_POLICY: VerdictPolicy = {
  virus: "drop",
  spam: "quarantine",
  dmarcQuarantine: "quarantine",
  dmarcReject: "drop",
};

export interface VerdictOutcome {
  readonly disposition: Disposition;
  /** The verdicts that drove the disposition, e.g. `virus FAIL`, `dmarc FAIL (policy reject)`. */
  readonly reasons: readonly string[];
}

const SEVERITY: Record<Disposition, number> = { deliver: 0, quarantine: 1, drop: 2 };

/** Applies the policy; the most severe disposition of all failed checks wins. */
export function applyVerdictPolicy(verdicts: Verdicts, policy: VerdictPolicy): VerdictOutcome {
  const triggered: Array<{ disposition: Disposition; reason: string }> = [];
  if (verdicts.virus === "FAIL") triggered.push({ disposition: policy.virus, reason: "virus FAIL" });
  if (verdicts.spam === "FAIL") triggered.push({ disposition: policy.spam, reason: "spam FAIL" });
  if (verdicts.dmarc === "FAIL" && verdicts.dmarcPolicy === "quarantine") {
    triggered.push({ disposition: policy.dmarcQuarantine, reason: "dmarc FAIL (policy quarantine)" });
  }
  if (verdicts.dmarc === "FAIL" && verdicts.dmarcPolicy === "reject") {
    triggered.push({ disposition: policy.dmarcReject, reason: "dmarc FAIL (policy reject)" });
  }
  let disposition: Disposition = "deliver";
  for (const entry of triggered) {
    if (SEVERITY[entry.disposition] > SEVERITY[disposition]) disposition = entry.disposition;
  }
  // Only the checks that led to the outcome are reasons; a quarantine beside a drop did not decide anything.
  const reasons = disposition === "deliver" ? [] : triggered.filter((t) => t.disposition === disposition).map((t) => t.reason);
  return { disposition, reasons };
}

/** Gmail labels for a delivered message: the inbox, or the spam folder when quarantined; plus the rule's own. */
export function gmailLabels(disposition: Disposition, ruleLabels: readonly string[] = []): string[] {
  if (disposition === "quarantine") {
    // Gmail refuses a message labelled both SPAM and INBOX; the quarantine wins over a rule's INBOX.
    return [...new Set(["SPAM", ...ruleLabels.filter((label) => label !== "INBOX")])];
  }
  return [...new Set(["INBOX", "UNREAD", ...ruleLabels.filter((label) => label !== "SPAM")])];
}

/** zod schema of a (partial) policy as a stack writes it; missing fields take the defaults. Built once per process (core/built-once.ts). */
export function verdictPolicySchema() {
  return builtOnce("core/verdicts:verdictPolicySchema", () => {
    const disposition = z.enum(["deliver", "quarantine", "drop"]);
    return z
      .object({
        virus: disposition.default(DEFAULT_VERDICT_POLICY.virus),
        spam: disposition.default(DEFAULT_VERDICT_POLICY.spam),
        dmarcQuarantine: disposition.default(DEFAULT_VERDICT_POLICY.dmarcQuarantine),
        dmarcReject: disposition.default(DEFAULT_VERDICT_POLICY.dmarcReject),
      })
      .strict();
  });
}
