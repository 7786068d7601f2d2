/**
 * Rule lookup and the routing decision, pure: the caller fetches the stored items (in one round trip)
 * and hands them in; nothing here knows where rules live.
 *
 * Lookup order per recipient: exact → normalized (`+tag` removed) → `*@domain` → `*`. The most specific
 * enabled rule wins; a disabled rule falls through to the next level; no rule at all → the stack default.
 */
import { parseAddress, type EmailAddress } from "./addresses";
import { assertDecisionFits, type DecisionDetail, type DecisionTarget, type MatchLevel } from "./decision";
import type { InboundMessage } from "./notification";
import { GLOBAL_PATTERN, type ActionType, type DefaultAction, type Rule, type RuleCodec } from "./rules";
import { applyVerdictPolicy, gmailLabels, type Disposition, type VerdictPolicy } from "./verdicts";

export type LookupLevel = "exact" | "normalized" | "domain" | "global";

export interface LookupStep {
  readonly level: LookupLevel;
  readonly pattern: string;
}

/** The patterns to try for one address, most specific first (the normalized step only when there is a tag). */
export function lookupSteps(address: EmailAddress): LookupStep[] {
  const steps: LookupStep[] = [{ level: "exact", pattern: address.address }];
  if (address.normalized !== address.address) steps.push({ level: "normalized", pattern: address.normalized });
  steps.push({ level: "domain", pattern: `*@${address.domain}` });
  steps.push({ level: "global", pattern: GLOBAL_PATTERN });
  return steps;
}

/** Every distinct pattern needed to route all these addresses: the keys of one BatchGetItem. */
export function lookupPatterns(addresses: readonly EmailAddress[]): string[] {
  return [...new Set(addresses.flatMap((address) => lookupSteps(address).map((step) => step.pattern)))];
}

/** Returns the rule stored under a pattern, or undefined. Throws InvalidRuleError for an invalid item. */
export type RuleLookup = (pattern: string) => Rule | undefined;

/** A lookup over items already fetched; each item is validated at most once, and only if reached. */
export function ruleLookupFromItems(items: ReadonlyMap<string, Readonly<Record<string, unknown>>>, codec: RuleCodec): RuleLookup {
  const parsed = new Map<string, Rule>();
  return (pattern) => {
    const known = parsed.get(pattern);
    if (known) return known;
    const item = items.get(pattern);
    if (!item) return undefined;
    const rule = codec.fromItem(item);
    parsed.set(pattern, rule);
    return rule;
  };
}

export type StepOutcome = "matched" | "no rule" | "disabled" | "not reached";

export interface Resolution {
  readonly recipient: EmailAddress;
  /** The level that matched, or `default` when no enabled rule did. */
  readonly match: Exclude<MatchLevel, "policy">;
  readonly rule?: Rule;
  /** Every level with what happened there: why the others did not match. */
  readonly steps: ReadonlyArray<LookupStep & { readonly outcome: StepOutcome }>;
}

/** Finds the rule for one recipient. */
export function resolveRecipient(recipient: EmailAddress, lookup: RuleLookup): Resolution {
  const steps: Array<LookupStep & { outcome: StepOutcome }> = [];
  let found: { level: LookupLevel; rule: Rule } | undefined;
  for (const step of lookupSteps(recipient)) {
    if (found) {
      steps.push({ ...step, outcome: "not reached" });
      continue;
    }
    const rule = lookup(step.pattern);
    if (!rule) steps.push({ ...step, outcome: "no rule" });
    else if (!rule.enabled) steps.push({ ...step, outcome: "disabled" });
    else {
      steps.push({ ...step, outcome: "matched" });
      found = { level: step.level, rule };
    }
  }
  return found ? { recipient, match: found.level, rule: found.rule, steps } : { recipient, match: "default", steps };
}

export interface RoutingSettings {
  /** What happens to a recipient no enabled rule matches. */
  readonly defaultAction: DefaultAction;
  readonly verdictPolicy: VerdictPolicy;
}

/** Parses and de-duplicates the envelope recipients (case-insensitively), keeping their order. */
export function parseRecipients(recipients: readonly string[]): EmailAddress[] {
  const seen = new Map<string, EmailAddress>();
  for (const text of recipients) {
    const address = parseAddress(text);
    if (!seen.has(address.address)) seen.set(address.address, address);
  }
  return [...seen.values()];
}

/** Collects each recipient's targets per action type, in recipient order. */
class DecisionBuilder {
  private readonly targets: Record<ActionType, DecisionTarget[]> = { "forward-to-gmail": [], bounce: [], store: [], drop: [] };

  add(type: ActionType, target: DecisionTarget): void {
    this.targets[type].push(target);
  }

  actions(): DecisionDetail["actions"] {
    const summary = (type: ActionType) => ({ count: this.targets[type].length, targets: this.targets[type] });
    return { "forward-to-gmail": summary("forward-to-gmail"), bounce: summary("bounce"), store: summary("store"), drop: summary("drop") };
  }
}

function addRuleActions(
  builder: DecisionBuilder,
  resolution: Resolution,
  disposition: Disposition,
  quarantineReason: string | undefined,
): void {
  const recipient = resolution.recipient.address;
  const rule = resolution.rule!;
  const base = { recipient, match: resolution.match, rule: rule.pattern };
  for (const action of rule.actions) {
    if (action.type === "forward-to-gmail") {
      builder.add(action.type, {
        ...base,
        target: action.target,
        labels: gmailLabels(disposition, action.labels),
        ...(quarantineReason ? { reason: quarantineReason } : {}),
      });
    } else {
      builder.add(action.type, base);
    }
  }
}

/**
 * The decision for one message: the verdict policy first (a drop overrides every rule), then each
 * recipient's rule or the stack default. Throws InvalidRuleError when a reached rule is invalid, and
 * DecisionTooLargeError when the decision would not fit an event.
 */
export function decide(message: InboundMessage, lookup: RuleLookup, settings: RoutingSettings): DecisionDetail {
  const recipients = parseRecipients(message.recipients);
  const outcome = applyVerdictPolicy(message.verdicts, settings.verdictPolicy);
  const builder = new DecisionBuilder();
  const policyReason = outcome.reasons.join(", ");

  for (const recipient of recipients) {
    if (outcome.disposition === "drop") {
      builder.add("drop", { recipient: recipient.address, match: "policy", reason: policyReason });
      continue;
    }
    const resolution = resolveRecipient(recipient, lookup);
    if (resolution.rule) {
      addRuleActions(
        builder,
        resolution,
        outcome.disposition,
        outcome.disposition === "quarantine" ? `quarantined: ${policyReason}` : undefined,
      );
    } else if (settings.defaultAction === "bounce") {
      builder.add("bounce", { recipient: recipient.address, match: "default", reason: "no rule matches this address" });
    } else {
      builder.add(settings.defaultAction, {
        recipient: recipient.address,
        match: "default",
        reason: "no rule matches this address; stack default",
      });
    }
  }

  const detail: DecisionDetail = {
    originalMessageId: message.messageId,
    source: message.source,
    subject: message.subject,
    timestamp: message.timestamp,
    s3: { bucket: message.s3.bucket, key: message.s3.key },
    verdicts: { ...message.verdicts, disposition: outcome.disposition, reasons: outcome.reasons },
    actions: builder.actions(),
  };
  assertDecisionFits(detail);
  return detail;
}
