/**
 * Routing rules: their patterns, their actions, and the DynamoDB item they are stored as.
 *
 * Item layout (single-table design): `PK = ROUTE#<pattern>`, `SK = RULE#v1`, `entity_type = ROUTE`,
 * `recipient`, `enabled`, `description`, `created_at`, `updated_at`, and the action, either as the seed's
 * single `action` + `target` or as an `actions` list. ses-mail writes the list form; it reads both.
 */
import { z } from "zod";
import { canonicalize, domainProblem, isAddress, parseAddress } from "./addresses";
import { errorMessage, InvalidPatternError, InvalidRuleError } from "./errors";
import { labelProblem } from "./labels";
import { MAX_ACTIONS_PER_RULE, MAX_DESCRIPTION_CHARS, MAX_LABELS_PER_TARGET } from "./limits";
import { EntityType, MANAGED_BY_ATTRIBUTE, ROUTE_KEY_PREFIX, ROUTE_SORT_KEY, type RuleManager } from "./table";
import { builtOnce } from "./built-once";

export const ActionType = {
  ForwardToGmail: "forward-to-gmail",
  Bounce: "bounce",
  Store: "store",
  Drop: "drop",
} as const;
export type ActionType = (typeof ActionType)[keyof typeof ActionType];
/** In the order the decision event lists them. */
export const ACTION_TYPES: readonly ActionType[] = ["forward-to-gmail", "bounce", "store", "drop"];

/**
 * Actions that end the message for a recipient; a rule with one of these has no other action.
 * (An array, not a Set: module-level Sets lose their contents when Pulumi serializes a closure.)
 */
const TERMINAL_ACTIONS: readonly ActionType[] = ["bounce", "drop"];

export type RuleAction =
  | { readonly type: "forward-to-gmail"; readonly target: string; readonly labels?: readonly string[] }
  | { readonly type: "bounce" }
  | { readonly type: "store" }
  | { readonly type: "drop" };

/** What the stack does when no rule matches; the seed bounces. */
export type DefaultAction = "bounce" | "drop" | "store";

export interface Rule {
  /** `user+tag@domain`, `user@domain`, `*@domain` or `*`, canonical (lower-case, NFC). */
  readonly pattern: string;
  readonly enabled: boolean;
  readonly description?: string;
  readonly actions: readonly RuleAction[];
  readonly createdAt?: string;
  readonly updatedAt?: string;
}

export type PatternKind = "address" | "domain" | "global";

/** The most specific lookup level a pattern can match at. */
export interface ParsedPattern {
  readonly pattern: string;
  readonly kind: PatternKind;
}

export const GLOBAL_PATTERN = "*";

/** Validates and canonicalizes a rule pattern. Throws InvalidPatternError. */
export function parsePattern(input: string): ParsedPattern {
  const text = canonicalize(input.trim());
  if (text === GLOBAL_PATTERN) return { pattern: text, kind: "global" };
  if (text.startsWith("*@")) {
    const domain = text.slice(2);
    const problem = domainProblem(domain);
    if (problem) throw new InvalidPatternError(input, problem);
    return { pattern: text, kind: "domain" };
  }
  if (text.includes("*")) {
    throw new InvalidPatternError(input, "a wildcard is only allowed as `*` or `*@domain`");
  }
  try {
    return { pattern: parseAddress(text).address, kind: "address" };
  } catch (error) {
    throw new InvalidPatternError(input, errorMessage(error));
  }
}

export function routeKey(pattern: string): { PK: string; SK: string } {
  return { PK: `${ROUTE_KEY_PREFIX}${pattern}`, SK: ROUTE_SORT_KEY };
}

/**
 * The zod schema of one action, as written in stack config and in the `actions` list of an item.
 * Built once per process by builtOnce (never held at module level), so that Lambda closures that import
 * this file serialize.
 */
export function ruleActionSchema() {
  return builtOnce("core/rules:ruleActionSchema", () => {
    return z.discriminatedUnion("type", [
      z
        .object({
          type: z.literal("forward-to-gmail"),
          target: z.string().refine(isAddress, { message: "not an email address" }).transform(canonicalize),
          // Names as Gmail shows them (`Shops/Receipts`) or ids (`Label_12`, `STARRED`): core/labels.ts.
          labels: z
            .array(
              z.string().superRefine((label, ctx) => {
                const problem = labelProblem(label);
                if (problem) ctx.addIssue({ code: "custom", message: problem });
              }),
            )
            .max(MAX_LABELS_PER_TARGET, `at most ${MAX_LABELS_PER_TARGET} labels per forward`)
            .optional(),
        })
        .strict(),
      z.object({ type: z.literal("bounce") }).strict(),
      z.object({ type: z.literal("store") }).strict(),
      z.object({ type: z.literal("drop") }).strict(),
    ]);
  });
}

/** The list of actions of one rule, with the rules that make a list meaningful. */
export function ruleActionsSchema() {
  return builtOnce("core/rules:ruleActionsSchema", () => {
    return z
      .array(ruleActionSchema())
      .min(1, "a rule needs at least one action")
      .max(MAX_ACTIONS_PER_RULE)
      .superRefine((actions, ctx) => {
        const problem = actionsProblem(actions);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      });
  });
}

/** Why a list of actions is not a sensible rule, or undefined. */
export function actionsProblem(actions: readonly RuleAction[]): string | undefined {
  const terminal = actions.find((action) => TERMINAL_ACTIONS.includes(action.type));
  if (terminal && actions.length > 1) return `${terminal.type} cannot be combined with other actions`;
  const targets = actions.flatMap((action) => (action.type === "forward-to-gmail" ? [action.target] : []));
  const duplicate = targets.find((target, index) => targets.indexOf(target) !== index);
  if (duplicate) return `forwards to ${duplicate} twice`;
  if (actions.filter((action) => action.type === "store").length > 1) return "store is listed twice";
  return undefined;
}

function storedRuleSchema() {
  return builtOnce("core/rules:storedRuleSchema", () => {
    const actionTypes = z.enum(["forward-to-gmail", "bounce", "store", "drop"]);
    return z
      .object({
        PK: z.string().startsWith(ROUTE_KEY_PREFIX),
        SK: z.literal(ROUTE_SORT_KEY),
        entity_type: z.literal(EntityType.Route).optional(),
        recipient: z.string().optional(),
        // The seed writes `enabled` on every rule; an item without it is treated as enabled.
        enabled: z.boolean().optional(),
        description: z.string().max(MAX_DESCRIPTION_CHARS).optional(),
        created_at: z.string().optional(),
        updated_at: z.string().optional(),
        action: actionTypes.optional(),
        target: z.string().optional(),
        labels: z.array(z.string()).optional(),
        actions: ruleActionsSchema().optional(),
      })
      .loose();
  });
}

/** One problem with a list of actions: which action (by index) and field, and what is wrong. */
export interface ActionIssue {
  readonly index?: number;
  readonly field?: string;
  readonly message: string;
}

function actionIssuesOf(error: z.ZodError): ActionIssue[] {
  return error.issues.map((issue) => {
    const [first, second] = issue.path;
    const message =
      issue.code === "invalid_union" || (issue.code === "invalid_value" && second === "type")
        ? "the type must be forward-to-gmail, bounce, store or drop"
        : issue.message;
    return {
      ...(typeof first === "number" ? { index: first } : {}),
      ...(second !== undefined ? { field: String(second) } : {}),
      message:
        issue.code === "unrecognized_keys" ? `${issue.message} (an action has type, and for forward-to-gmail target and labels)` : message,
    };
  });
}

/** An action as people write it: `forward-to-gmail me@gmail.com`, `bounce`. */
function actionWords(action: unknown): string {
  const value = (action ?? {}) as { type?: unknown; target?: unknown };
  const type = typeof value.type === "string" ? value.type : "an action";
  return typeof value.target === "string" ? `${type} ${value.target}` : type;
}

/** Issues in words, naming each action the way it was written (`action 2 (forward-to-gmail x): target: …`). */
function describeIssues(issues: readonly ActionIssue[], name: (index: number) => string): string {
  return issues
    .map((issue) => {
      if (issue.index === undefined) return issue.message;
      const field = issue.field && issue.field !== "type" && issue.field !== "target" ? ` ${issue.field}` : "";
      return `${name(issue.index)}${field}: ${issue.message}`;
    })
    .join("; ");
}

function defaultActionName(actions: unknown): (index: number) => string {
  return (index) => `action ${index + 1} (${actionWords(Array.isArray(actions) ? actions[index] : undefined)})`;
}

function formatIssues(error: z.ZodError, actions?: unknown): string {
  return error.issues
    .map((issue) => {
      // Inside an item's `actions` list: name the action, not its path.
      if (issue.path[0] === "actions" && typeof issue.path[1] === "number") {
        const [, index, field] = issue.path;
        return `${defaultActionName(actions)(index)}${field !== undefined && field !== "type" && field !== "target" ? ` ${String(field)}` : ""}: ${issue.message}`;
      }
      return issue.path.length > 0 ? `${issue.path.join(".")}: ${issue.message}` : issue.message;
    })
    .join("; ");
}

export interface RuleCodec {
  /** Reads a stored item (already unmarshalled). Throws InvalidRuleError naming the item's key. */
  fromItem(item: Readonly<Record<string, unknown>>): Rule;
  /** The item ses-mail writes for a rule (always the `actions` list form). */
  toItem(rule: Rule): Record<string, unknown>;
  /**
   * Validates a list of actions from untrusted input (CLI, config). Throws InvalidRuleError naming each
   * wrong action by `name(index)` (default `action 2 (forward-to-gmail x)`): the CLI names its flags.
   */
  parseActions(pattern: string, actions: unknown, name?: (index: number) => string): RuleAction[];
}

/**
 * Builds the codec once (at cold start, or once per CLI run): it holds zod schemas, which must
 * not be created at module level in code that Pulumi serializes into a Lambda.
 */
export function createRuleCodec(): RuleCodec {
  const itemSchema = storedRuleSchema();
  const actionSchema = ruleActionSchema();
  const actionsSchema = ruleActionsSchema();

  function fromItem(item: Readonly<Record<string, unknown>>): Rule {
    const key = typeof item.PK === "string" ? item.PK : JSON.stringify(item.PK ?? "(no PK)");
    const parsed = itemSchema.safeParse(item);
    if (!parsed.success) throw new InvalidRuleError(key, formatIssues(parsed.error, item.actions), { cause: parsed.error });
    const data = parsed.data;
    const keyPattern = data.PK.slice(ROUTE_KEY_PREFIX.length);
    let pattern: string;
    try {
      pattern = parsePattern(keyPattern).pattern;
    } catch (error) {
      throw new InvalidRuleError(key, errorMessage(error), { cause: error });
    }
    if (pattern !== keyPattern) {
      throw new InvalidRuleError(key, `the key is not canonical (lookups use ${ROUTE_KEY_PREFIX}${pattern})`);
    }
    if (data.recipient !== undefined && canonicalize(data.recipient) !== pattern) {
      throw new InvalidRuleError(key, `recipient ${JSON.stringify(data.recipient)} does not match the key`);
    }

    let actions: RuleAction[];
    if (data.actions !== undefined) {
      if (data.action !== undefined || data.target !== undefined) {
        throw new InvalidRuleError(key, "has both `actions` and `action`/`target`; keep one form");
      }
      actions = data.actions;
    } else if (data.action !== undefined) {
      // The seed's single-action form: { action, target }.
      const single = actionSchema.safeParse(
        data.action === "forward-to-gmail"
          ? { type: data.action, target: data.target, ...(data.labels ? { labels: data.labels } : {}) }
          : { type: data.action, ...(data.target !== undefined ? { target: data.target } : {}) },
      );
      if (!single.success) throw new InvalidRuleError(key, formatIssues(single.error), { cause: single.error });
      actions = [single.data];
    } else {
      throw new InvalidRuleError(key, "has no `actions` and no `action`");
    }

    return {
      pattern,
      enabled: data.enabled ?? true,
      actions,
      ...(data.description !== undefined ? { description: data.description } : {}),
      ...(data.created_at !== undefined ? { createdAt: data.created_at } : {}),
      ...(data.updated_at !== undefined ? { updatedAt: data.updated_at } : {}),
    };
  }

  function toItem(rule: Rule): Record<string, unknown> {
    return {
      ...routeKey(rule.pattern),
      entity_type: EntityType.Route,
      recipient: rule.pattern,
      enabled: rule.enabled,
      actions: rule.actions.map((action) => ({ ...action })),
      ...(rule.description !== undefined ? { description: rule.description } : {}),
      ...(rule.createdAt !== undefined ? { created_at: rule.createdAt } : {}),
      ...(rule.updatedAt !== undefined ? { updated_at: rule.updatedAt } : {}),
    };
  }

  function parseActions(pattern: string, actions: unknown, name?: (index: number) => string): RuleAction[] {
    const parsed = actionsSchema.safeParse(actions);
    if (!parsed.success) {
      throw new InvalidRuleError(
        `${ROUTE_KEY_PREFIX}${pattern}`,
        describeIssues(actionIssuesOf(parsed.error), name ?? defaultActionName(actions)),
        { cause: parsed.error },
      );
    }
    return parsed.data;
  }

  return { fromItem, toItem, parseActions };
}

/** One line for humans: `forward-to-gmail me@gmail.com [Label_1], store`. */
export function describeActions(actions: readonly RuleAction[]): string {
  return actions
    .map((action) => {
      if (action.type !== "forward-to-gmail") return action.type;
      const labels = action.labels && action.labels.length > 0 ? ` [${action.labels.join(", ")}]` : "";
      return `forward-to-gmail ${action.target}${labels}`;
    })
    .join(", ");
}

/** A rule as stack config declares it (`ses-mail:routes`), already validated. */
export interface DeclaredRule {
  readonly recipient: string;
  readonly actions: readonly RuleAction[];
  readonly enabled: boolean;
  readonly description?: string;
}

/**
 * The item of a declared rule, marked with who keeps it in sync. Pulumi passes no timestamps (they
 * would change the item on every deployment); local mode stamps them.
 */
export function declaredRuleItem(
  codec: RuleCodec,
  declared: DeclaredRule,
  manager: RuleManager,
  timestamps: { readonly createdAt?: string; readonly updatedAt?: string } = {},
): Record<string, unknown> {
  const item = codec.toItem({
    pattern: declared.recipient,
    enabled: declared.enabled,
    actions: declared.actions,
    ...(declared.description !== undefined ? { description: declared.description } : {}),
    ...timestamps,
  });
  return { ...item, [MANAGED_BY_ATTRIBUTE]: manager };
}
