/**
 * SES has one active receipt rule set per region, shared by everything in the account that receives
 * mail there. Activating a set silently deactivates the one that was active, so a stack must know what
 * is active before it activates anything. These pure functions decide, from what is active now, whether
 * a stack may go ahead; the Inbound component asks AWS (an invoke, so the answer is there at preview) and
 * refuses with the problem they name.
 */
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE } from "../config/schema";

/** How a stack takes part in its region's receipt rule set. */
export interface RuleSetIntent {
  /** The set the stack creates and activates (`ses-ruleset-{env}`) when it does not join one. */
  readonly ownRuleSet: string;
  /** `ses-mail:joinExistingRuleSet`: the active set the stack adds its rule to. */
  readonly joinExistingRuleSet?: string;
  /** `ses-mail:replaceActiveRuleSet`: the active set the stack may deactivate for its own. */
  readonly replaceActiveRuleSet?: string;
}

/** The set the stack's receipt rule belongs to. */
export function ruleSetOf(intent: RuleSetIntent): string {
  return intent.joinExistingRuleSet ?? intent.ownRuleSet;
}

/**
 * Why the stack must not deploy given the region's active rule set (`undefined` when none is active),
 * or undefined when it may. Joining needs the joined set to be the active one (a rule in an inactive
 * set receives nothing). Creating may activate its own set when nothing or its own set is active, and
 * takes over another active set only when `replaceActiveRuleSet` names exactly that set.
 */
export function activeRuleSetProblem(intent: RuleSetIntent, active: string | undefined, region: string): string | undefined {
  const key = (name: string) => `${CONFIG_NAMESPACE}:${name}`;
  const activeText = active ? `the active receipt rule set in ${region} is ${active}` : `no receipt rule set is active in ${region}`;
  if (intent.joinExistingRuleSet) {
    if (active === intent.joinExistingRuleSet) return undefined;
    return (
      `${key("joinExistingRuleSet")} is ${intent.joinExistingRuleSet}, but ${activeText}: a rule added to an inactive set receives no mail. ` +
      `Deploy the stack that owns ${intent.joinExistingRuleSet} first (docs/DEPLOY.md, "Two stacks in one AWS account").`
    );
  }
  if (active === undefined || active === intent.ownRuleSet) return undefined;
  if (intent.replaceActiveRuleSet === active) return undefined;
  const replacing = intent.replaceActiveRuleSet
    ? ` (${key("replaceActiveRuleSet")} names ${intent.replaceActiveRuleSet}, not ${active})`
    : "";
  return (
    `${activeText}, which this stack did not create; activating ${intent.ownRuleSet} would stop every rule in ${active} from receiving mail${replacing}. ` +
    `To add this stack's rule to it, set ${key("joinExistingRuleSet")}: ${active}; to replace it on purpose, set ${key("replaceActiveRuleSet")}: ${active} ` +
    `(docs/DEPLOY.md, "Two stacks in one AWS account").`
  );
}

/**
 * Whether an error of the active-rule-set invoke means "no rule set is active". The AWS provider's data
 * source fails rather than answering empty: SES's DescribeActiveReceiptRuleSet returns no metadata, which
 * the provider reports as an "empty result" (or, in other versions, as RuleSetDoesNotExist / not found).
 */
export function isNoActiveRuleSet(error: unknown): boolean {
  const text = error instanceof Error ? `${error.name} ${error.message}` : String(error);
  return /empty result|RuleSetDoesNotExist|couldn't find resource|no active receipt rule set/i.test(text);
}

/**
 * Raised at preview (and before anything is created at `pulumi up`) when the stack must not take part
 * as configured. A RunError: Pulumi prints its message without a stack trace.
 */
export class ActiveRuleSetRefusal extends pulumi.RunError {
  constructor(problem: string) {
    super(`ses-mail refuses to deploy: ${problem}`);
    this.name = "ActiveRuleSetRefusal";
  }
}
