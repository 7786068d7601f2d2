/**
 * `ses-mail rules …`: add, list, show, remove, enable, disable and test routing rules.
 */
import { errorMessage, InvalidRuleError, RuleNotFoundError, RuleStoreError, SesMailError } from "../core/errors";
import { parseAddress } from "../core/addresses";
import type { StoredItem } from "../core/ports";
import { resolveRecipient, ruleLookupFromItems, lookupSteps, type Resolution } from "../core/routing";
import { createRuleCodec, describeActions, parsePattern, type Rule, type RuleAction } from "../core/rules";
import { MANAGED_BY_ATTRIBUTE, RuleManager } from "../core/table";
import { formatTable, UserError, type Command, type CommandContext } from "./framework";
import { explainStoreError, resolveRulesTarget, TARGET_OPTIONS, TARGET_USAGE, type RulesTarget } from "./target";


async function withStore<T>(target: RulesTarget, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if ((error instanceof SesMailError && !(error instanceof RuleStoreError)) || error instanceof UserError) throw error;
    return explainStoreError(error, target);
  }
}

function patternArgument(context: CommandContext): string {
  return parsePattern(context.positionals[0]!).pattern;
}

/** Reads `--forward A [--label L]... --forward B --store …` in order: labels belong to the forward before them. */
export function actionsFromTokens(context: CommandContext): unknown[] {
  const actions: Array<Record<string, unknown>> = [];
  for (const token of context.tokens) {
    if (token.kind !== "option") continue;
    switch (token.name) {
      case "forward":
        actions.push({ type: "forward-to-gmail", target: token.value });
        break;
      case "label": {
        const last = actions[actions.length - 1];
        if (!last || last.type !== "forward-to-gmail") throw new UserError("--label must follow the --forward it applies to");
        last.labels = [...((last.labels as string[] | undefined) ?? []), token.value];
        break;
      }
      case "bounce":
      case "store":
      case "drop":
        actions.push({ type: token.name });
        break;
      default:
        break;
    }
  }
  return actions;
}

function ruleJson(rule: Rule, item: StoredItem): Record<string, unknown> {
  return {
    pattern: rule.pattern,
    enabled: rule.enabled,
    actions: rule.actions,
    ...(rule.description !== undefined ? { description: rule.description } : {}),
    ...(rule.createdAt ? { createdAt: rule.createdAt } : {}),
    ...(rule.updatedAt ? { updatedAt: rule.updatedAt } : {}),
    ...(item[MANAGED_BY_ATTRIBUTE] ? { managedBy: item[MANAGED_BY_ATTRIBUTE] } : {}),
  };
}

/** True for a rule declared in stack config (kept in sync by Pulumi, or by local mode at its start). */
function isDeclared(item: StoredItem | undefined): boolean {
  return item?.[MANAGED_BY_ATTRIBUTE] === RuleManager.Pulumi || item?.[MANAGED_BY_ATTRIBUTE] === RuleManager.LocalConfig;
}

function warnIfDeclared(context: CommandContext, item: StoredItem | undefined, what: string): void {
  if (!isDeclared(item)) return;
  const when = item?.[MANAGED_BY_ATTRIBUTE] === RuleManager.Pulumi ? "the next `pulumi up`" : "the next start of local mode";
  context.out.note(`note: this rule is declared in the stack config (ses-mail:routes); ${when} ${what}`);
}

const add: Command = {
  name: "rules add",
  summary: "Add a routing rule (or replace one with --replace)",
  usage: `ses-mail rules add <pattern> [--forward ADDR [--label ID]...]... [--bounce] [--store] [--drop] [--disabled] [--description TEXT] [--replace] ${TARGET_USAGE}`,
  options: {
    ...TARGET_OPTIONS,
    forward: { type: "string", multiple: true },
    label: { type: "string", multiple: true },
    bounce: { type: "boolean" },
    store: { type: "boolean" },
    drop: { type: "boolean" },
    disabled: { type: "boolean" },
    description: { type: "string" },
    replace: { type: "boolean" },
    json: { type: "boolean" },
  },
  positionals: [1, 1],
  async run(context) {
    const codec = createRuleCodec();
    const pattern = patternArgument(context);
    const actions: RuleAction[] = codec.parseActions(pattern, actionsFromTokens(context));
    const target = resolveRulesTarget(context);
    const now = new Date().toISOString();
    const replace = context.values.replace === true;
    await withStore(target, async () => {
      const existing = replace ? await target.store.getRuleItem(pattern) : undefined;
      const createdAt = typeof existing?.created_at === "string" ? existing.created_at : now;
      const description = context.values.description as string | undefined;
      const rule: Rule = {
        pattern,
        enabled: context.values.disabled !== true,
        actions,
        ...(description !== undefined ? { description } : {}),
        createdAt,
        updatedAt: now,
      };
      codec.fromItem(codec.toItem(rule)); // the stored form must read back, or the router would fail on it
      await target.store.putRuleItem(codec.toItem(rule), { ifAbsent: !replace });
      warnIfDeclared(context, existing, "puts the declared version back");
      if (context.values.json) context.out.json(ruleJson(rule, {}));
      else context.out.line(`${existing ? "replaced" : "added"} ${pattern} → ${describeActions(actions)}${rule.enabled ? "" : " (disabled)"} in ${target.description}`);
    });
  },
};

const list: Command = {
  name: "rules list",
  summary: "List every routing rule",
  usage: `ses-mail rules list [--json] ${TARGET_USAGE}`,
  options: { ...TARGET_OPTIONS, json: { type: "boolean" } },
  positionals: [0, 0],
  async run(context) {
    const codec = createRuleCodec();
    const target = resolveRulesTarget(context);
    const items = await withStore(target, () => target.store.listRuleItems());
    const entries = items.map((item) => {
      try {
        return { item, rule: codec.fromItem(item) };
      } catch (error) {
        return { item, error: errorMessage(error) };
      }
    });
    if (context.values.json) {
      context.out.json(entries.map((entry) => ("rule" in entry && entry.rule ? ruleJson(entry.rule, entry.item) : { key: entry.item.PK, invalid: entry.error })));
      return;
    }
    if (entries.length === 0) {
      context.out.line(`no rules in ${target.description}; every recipient gets the default action (${target.settings.defaultAction})`);
      return;
    }
    const rows = entries.map((entry) =>
      "rule" in entry && entry.rule
        ? [
            entry.rule.pattern,
            entry.rule.enabled ? "enabled" : "disabled",
            describeActions(entry.rule.actions),
            [entry.rule.description ?? "", isDeclared(entry.item) ? "(declared in stack config)" : ""].filter(Boolean).join(" "),
          ]
        : [String(entry.item.PK), "INVALID", entry.error ?? "", ""],
    );
    for (const line of formatTable([["PATTERN", "STATE", "ACTIONS", "DESCRIPTION"], ...rows])) context.out.line(line);
    context.out.line(`${entries.length} rule(s) in ${target.description}; default action: ${target.settings.defaultAction}`);
  },
};

const show: Command = {
  name: "rules show",
  summary: "Show one routing rule",
  usage: `ses-mail rules show <pattern> [--json] ${TARGET_USAGE}`,
  options: { ...TARGET_OPTIONS, json: { type: "boolean" } },
  positionals: [1, 1],
  async run(context) {
    const pattern = patternArgument(context);
    const target = resolveRulesTarget(context);
    const item = await withStore(target, () => target.store.getRuleItem(pattern));
    if (!item) throw new RuleNotFoundError(pattern);
    const rule = createRuleCodec().fromItem(item);
    if (context.values.json) {
      context.out.json(ruleJson(rule, item));
      return;
    }
    const rows: string[][] = [
      ["pattern", rule.pattern],
      ["state", rule.enabled ? "enabled" : "disabled"],
      ...rule.actions.map((action, i) => [i === 0 ? "actions" : "", describeActions([action])]),
      ["description", rule.description ?? ""],
      ["created", rule.createdAt ?? ""],
      ["updated", rule.updatedAt ?? ""],
    ];
    if (item[MANAGED_BY_ATTRIBUTE]) rows.push(["managed by", String(item[MANAGED_BY_ATTRIBUTE])]);
    for (const line of formatTable(rows)) context.out.line(line);
  },
};

const remove: Command = {
  name: "rules rm",
  summary: "Remove a routing rule",
  usage: `ses-mail rules rm <pattern> ${TARGET_USAGE}`,
  options: { ...TARGET_OPTIONS },
  positionals: [1, 1],
  async run(context) {
    const pattern = patternArgument(context);
    const target = resolveRulesTarget(context);
    await withStore(target, async () => {
      const item = await target.store.getRuleItem(pattern);
      if (!item || !(await target.store.deleteRuleItem(pattern))) throw new RuleNotFoundError(pattern);
      warnIfDeclared(context, item, "adds it again");
      context.out.line(`removed ${pattern} from ${target.description}`);
    });
  },
};

function toggle(enabled: boolean): Command {
  const verb = enabled ? "enable" : "disable";
  return {
    name: `rules ${verb}`,
    summary: enabled ? "Enable a routing rule" : "Disable a routing rule (lookups fall through to the next level)",
    usage: `ses-mail rules ${verb} <pattern> ${TARGET_USAGE}`,
    options: { ...TARGET_OPTIONS },
    positionals: [1, 1],
    async run(context) {
      const pattern = patternArgument(context);
      const target = resolveRulesTarget(context);
      await withStore(target, () => target.store.setRuleEnabled(pattern, enabled, new Date().toISOString()));
      context.out.line(`${verb}d ${pattern} in ${target.description}`);
    },
  };
}

/** The lines of `rules test` for one resolution. */
export function describeResolution(resolution: Resolution, defaultAction: string): string[] {
  const address = resolution.recipient.address;
  const headline = resolution.rule
    ? `${address} → ${describeActions(resolution.rule.actions)}   (rule ${resolution.rule.pattern}, ${resolution.match} match)`
    : `${address} → ${defaultAction}   (no enabled rule: the stack's default action)`;
  const rows = resolution.steps.map((step) => [`  ${step.level}`, step.pattern, step.outcome]);
  return [headline, ...formatTable(rows)];
}

const test: Command = {
  name: "rules test",
  summary: "Show which rule an address matches, at which level, and why the others did not",
  usage: `ses-mail rules test <address> [--json] ${TARGET_USAGE}`,
  options: { ...TARGET_OPTIONS, json: { type: "boolean" } },
  positionals: [1, 1],
  async run(context) {
    let address;
    try {
      address = parseAddress(context.positionals[0]!);
    } catch (error) {
      throw new UserError(errorMessage(error));
    }
    const target = resolveRulesTarget(context);
    const items = await withStore(target, () => target.store.getRuleItems(lookupSteps(address).map((step) => step.pattern)));
    let resolution: Resolution;
    try {
      resolution = resolveRecipient(address, ruleLookupFromItems(items, createRuleCodec()));
    } catch (error) {
      if (error instanceof InvalidRuleError) {
        throw new UserError(`${error.message}\nthe router fails mail for ${address.address} (it retries, then waits in the dead-letter queue) until the rule is fixed`);
      }
      throw error;
    }
    if (context.values.json) {
      context.out.json({
        address: address.address,
        match: resolution.match,
        ...(resolution.rule ? { rule: resolution.rule.pattern, actions: resolution.rule.actions } : { actions: [{ type: target.settings.defaultAction }] }),
        steps: resolution.steps,
      });
      return;
    }
    for (const line of describeResolution(resolution, target.settings.defaultAction)) context.out.line(line);
  },
};

export const RULES_COMMANDS: readonly Command[] = [add, list, show, remove, toggle(true), toggle(false), test];
