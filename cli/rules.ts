/**
 * `ses-mail rules …`: add, list, show, remove, enable, disable and test routing rules.
 *
 * `rules add` checks a rule against the stack before writing it (cli/rule-checks.ts): what can never
 * work is refused unless `--force`, what is not ready yet is a warning naming the command that fixes it.
 * `rules test` says what happens to an address now: refused by SES for a domain the stack does not
 * receive, and what a disabled rule would do once enabled.
 */
import { errorMessage, InvalidRuleError, RuleNotFoundError, RuleStoreError, SesMailError } from "../core/errors";
import { type EmailAddress, parseAddress } from "../core/addresses";
import type { StoredItem } from "../core/ports";
import { resolveRecipient, ruleLookupFromItems, lookupSteps, type Resolution, type RuleLookup } from "../core/routing";
import { createRuleCodec, describeActions, parsePattern, type Rule, type RuleAction } from "../core/rules";
import { MANAGED_BY_ATTRIBUTE, RuleManager } from "../core/table";
import { formatTable, JSON_OPTION, UserError, type Command, type CommandContext } from "./framework";
import { checkRule, DEFAULT_RULE_CHECK_DEPS, type RuleCheckDeps } from "./rule-checks";
import { explainStoreError, resolveRulesTarget, TARGET_OPTIONS, TARGET_USAGE, type RulesTarget } from "./target";
import { DEFAULT_DATA_DIR } from "../local/data-dir";
import * as path from "node:path";

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

/** The target options as the user gave them, for commands printed back (`--stack prod`, `--local --data-dir x`). */
export function targetArguments(target: RulesTarget, context: CommandContext): string {
  if (target.kind === "stack") return `--stack ${target.stack}`;
  if (target.kind === "table")
    return `--table ${String(context.values.table)}${context.values.config ? ` --config ${String(context.values.config)}` : ""}`;
  const dir = context.values["data-dir"] as string | undefined;
  return dir !== undefined && path.resolve(dir) !== path.resolve(DEFAULT_DATA_DIR) ? `--local --data-dir ${dir}` : "--local";
}

/** The actions as given on the command line, and how each was written (to name it in an error). */
export interface ActionsFromFlags {
  readonly actions: unknown[];
  readonly written: string[];
}

/** Reads `--forward A [--label L]... --forward B --store …` in order: labels belong to the forward before them. */
export function actionsFromTokens(context: CommandContext): ActionsFromFlags {
  const actions: Array<Record<string, unknown>> = [];
  const written: string[] = [];
  for (const token of context.tokens) {
    if (token.kind !== "option") continue;
    switch (token.name) {
      case "forward":
        actions.push({ type: "forward-to-gmail", target: token.value });
        written.push(`--forward ${token.value ?? ""}`);
        break;
      case "label": {
        const last = actions[actions.length - 1];
        if (!last || last.type !== "forward-to-gmail")
          throw new UserError(
            `--label ${token.value ?? ""} must follow the --forward it applies to (--forward you@gmail.com --label ${token.value ?? "NAME"})`,
          );
        last.labels = [...((last.labels as string[] | undefined) ?? []), token.value];
        break;
      }
      case "bounce":
      case "store":
      case "drop":
        actions.push({ type: token.name });
        written.push(`--${token.name}`);
        break;
      default:
        break;
    }
  }
  return { actions, written };
}

/** The reason of an InvalidRuleError, without its `invalid routing rule ROUTE#…:` prefix. */
function ruleProblem(error: InvalidRuleError): string {
  const prefix = `invalid routing rule ${error.ruleKey}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
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

const PATTERN_ARGUMENT = ["<pattern>", "user+tag@domain, user@domain, *@domain (quote it) or * (every address)"] as const;

function add(deps: RuleCheckDeps): Command {
  return {
    name: "rules add",
    summary: "Add a routing rule (or replace one with --replace), after checking it against the stack",
    usage: `ses-mail rules add <pattern> (--forward ADDR [--label NAME]...)... [--store] | --bounce | --drop [--disabled] [--description TEXT] [--replace] [--force] ${TARGET_USAGE}`,
    options: {
      forward: {
        type: "string",
        multiple: true,
        value: "ADDR",
        description: "import the message into this Gmail (or Google Workspace) mailbox",
      },
      label: {
        type: "string",
        multiple: true,
        value: "NAME",
        description:
          "apply a Gmail label to the --forward before it: as Gmail shows it (Receipts, nested Shops/Receipts; created if missing) or an id (Label_12, STARRED)",
      },
      store: { type: "boolean", description: "keep the raw message in the bucket (local: DATA_DIR/emails/); combines with --forward" },
      bounce: { type: "boolean", description: "refuse the message with a bounce (RFC 3464) to the sender; alone" },
      drop: { type: "boolean", description: "accept and discard the message; alone" },
      disabled: { type: "boolean", description: "write the rule disabled: lookups pass over it until `rules enable`" },
      description: { type: "string", value: "TEXT", description: "a note for people, shown by `rules list`" },
      replace: { type: "boolean", description: "overwrite an existing rule for the pattern (keeps its creation time)" },
      force: { type: "boolean", description: "write the rule even though a check refuses it (a domain you are about to add, say)" },
      ...JSON_OPTION,
      ...TARGET_OPTIONS,
    },
    positionals: [1, 1],
    arguments: [PATTERN_ARGUMENT],
    examples: [
      "ses-mail rules add 'shop@example.com' --forward you@gmail.com --label Shops/Receipts --forward partner@gmail.com --store --stack prod",
      "ses-mail rules add '*@example.com' --forward you@gmail.com --stack prod   # everything else at the domain",
      "ses-mail rules add 'old-newsletter@test.example.com' --drop --description 'unsubscribed long ago' --local",
    ],
    async run(context) {
      const codec = createRuleCodec();
      const pattern = patternArgument(context);
      const { actions: given, written } = actionsFromTokens(context);
      let actions: RuleAction[];
      try {
        actions = codec.parseActions(pattern, given, (index) => written[index] ?? `action ${index + 1}`);
      } catch (error) {
        if (error instanceof InvalidRuleError)
          throw new UserError(`cannot add a rule for ${pattern}: ${ruleProblem(error)}`, { cause: error });
        throw error;
      }
      const target = resolveRulesTarget(context);
      const now = new Date().toISOString();
      const replace = context.values.replace === true;
      const description = context.values.description as string | undefined;
      const draft: Rule = {
        pattern,
        enabled: context.values.disabled !== true,
        actions,
        ...(description !== undefined ? { description } : {}),
      };

      const findings = await checkRule(draft, target, context, deps);
      const force = context.values.force === true;
      const refusals = findings.filter((finding) => finding.level === "refuse");
      for (const finding of findings) {
        if (finding.level !== "refuse") context.out.note(`${finding.level === "warn" ? "warning" : "note"}: ${finding.message}`);
        else if (force) context.out.note(`warning (--force): ${finding.message}`);
      }
      if (refusals.length > 0 && !force) {
        throw new UserError(`not added: ${refusals.map((finding) => finding.message).join("; ")}. (--force adds it anyway)`);
      }

      await withStore(target, async () => {
        const existing = replace ? await target.store.getRuleItem(pattern) : undefined;
        const createdAt = typeof existing?.created_at === "string" ? existing.created_at : now;
        const rule: Rule = { ...draft, createdAt, updatedAt: now };
        codec.fromItem(codec.toItem(rule)); // the stored form must read back, or the router would fail on it
        await target.store.putRuleItem(codec.toItem(rule), { ifAbsent: !replace });
        warnIfDeclared(context, existing, "puts the declared version back");
        if (context.values.json) context.out.json(ruleJson(rule, {}));
        else
          context.out.line(
            `${existing ? "replaced" : "added"} ${pattern} → ${describeActions(actions)}${rule.enabled ? "" : " (disabled)"} in ${target.description}`,
          );
      });
    },
  };
}

const list: Command = {
  name: "rules list",
  summary: "List every routing rule",
  usage: `ses-mail rules list [--json] ${TARGET_USAGE}`,
  options: { ...JSON_OPTION, ...TARGET_OPTIONS },
  positionals: [0, 0],
  examples: ["ses-mail rules list --stack prod", "ses-mail rules list --local --json"],
  async run(context) {
    const codec = createRuleCodec();
    const target = resolveRulesTarget(context);
    const items = await withStore(target, () => target.store.listRuleItems());
    const entries = items.map((item) => {
      try {
        return { item, rule: codec.fromItem(item) };
      } catch (error) {
        return { item, error: error instanceof InvalidRuleError ? ruleProblem(error) : errorMessage(error) };
      }
    });
    if (context.values.json) {
      context.out.json(
        entries.map((entry) =>
          "rule" in entry && entry.rule ? ruleJson(entry.rule, entry.item) : { key: entry.item.PK, invalid: entry.error },
        ),
      );
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
  options: { ...JSON_OPTION, ...TARGET_OPTIONS },
  positionals: [1, 1],
  arguments: [PATTERN_ARGUMENT],
  examples: ["ses-mail rules show 'shop@example.com' --stack prod"],
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
  arguments: [PATTERN_ARGUMENT],
  examples: ["ses-mail rules rm 'old-newsletter@example.com' --stack prod"],
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
    arguments: [PATTERN_ARGUMENT],
    examples: [`ses-mail rules ${verb} 'shop@example.com' --stack prod`],
    async run(context) {
      const pattern = patternArgument(context);
      const target = resolveRulesTarget(context);
      await withStore(target, () => target.store.setRuleEnabled(pattern, enabled, new Date().toISOString()));
      context.out.line(`${verb}d ${pattern} in ${target.description}`);
    },
  };
}

/** The headline of a resolution: the actions that apply, and why. */
function resolutionHeadline(resolution: Resolution, defaultAction: string): string {
  return resolution.rule
    ? `→ ${describeActions(resolution.rule.actions)}   (rule ${resolution.rule.pattern}, ${resolution.match} match)`
    : `→ ${defaultAction}   (no enabled rule: the stack's default action)`;
}

/** The lines of `rules test` for one resolution. */
export function describeResolution(resolution: Resolution, defaultAction: string): string[] {
  const rows = resolution.steps.map((step) => [`  ${step.level}`, step.pattern, step.outcome]);
  return [`${resolution.recipient.address} ${resolutionHeadline(resolution, defaultAction)}`, ...formatTable(rows)];
}

/** The most specific disabled rule the lookup passed over: it would take the address once enabled. */
function firstDisabledRule(resolution: Resolution, lookup: RuleLookup): Rule | undefined {
  const step = resolution.steps.find((entry) => entry.outcome === "disabled");
  return step ? lookup(step.pattern) : undefined;
}

/** Why mail for this address never reaches the rules: its domain is not one the stack receives. */
function refusalOf(address: EmailAddress, target: RulesTarget): { by: "ses" | "local-mode"; reason: string } | undefined {
  const config = target.config;
  if (!config || config.domains.includes(address.domain)) return undefined;
  const domains = config.domains.join(", ");
  return target.kind === "local"
    ? {
        by: "local-mode",
        reason: `local mode refuses it at RCPT with 550 5.1.1: ${address.domain} is not a domain of stack ${config.environment} (${domains}); no rule is consulted`,
      }
    : {
        by: "ses",
        reason: `SES refuses it at SMTP time (the sender gets a 550): stack ${config.environment} does not receive mail for ${address.domain} (its domains: ${domains}); no rule is consulted`,
      };
}

const test: Command = {
  name: "rules test",
  summary: "Show what happens to mail for an address: which rule matches, at which level, and why the others did not",
  usage: `ses-mail rules test <address> [--json] ${TARGET_USAGE}`,
  options: { ...JSON_OPTION, ...TARGET_OPTIONS },
  positionals: [1, 1],
  arguments: [["<address>", "an envelope recipient, e.g. shop+orders@example.com"]],
  examples: ["ses-mail rules test 'hello+shop@example.com' --stack prod", "ses-mail rules test jane+news@test.example.com --local"],
  async run(context) {
    let address;
    try {
      address = parseAddress(context.positionals[0]!);
    } catch (error) {
      throw new UserError(errorMessage(error));
    }
    const target = resolveRulesTarget(context);
    const items = await withStore(target, () => target.store.getRuleItems(lookupSteps(address).map((step) => step.pattern)));
    const lookup = ruleLookupFromItems(items, createRuleCodec());
    let resolution: Resolution;
    let disabled: Rule | undefined;
    try {
      resolution = resolveRecipient(address, lookup);
      disabled = firstDisabledRule(resolution, lookup);
    } catch (error) {
      if (error instanceof InvalidRuleError) {
        const pattern = error.ruleKey.replace(/^ROUTE#/, "");
        throw new UserError(
          `the rule ${pattern} is invalid: ${ruleProblem(error)}\n` +
            `the router fails mail for ${address.address} (it retries, then waits in the dead-letter queue) until the rule is fixed: ` +
            `ses-mail rules rm '${pattern}' ${targetArguments(target, context)}, then add it again (or write it with rules add … --replace)`,
        );
      }
      throw error;
    }
    const refused = refusalOf(address, target);
    const defaultAction = target.settings.defaultAction;
    if (context.values.json) {
      context.out.json({
        address: address.address,
        ...(refused ? { refused } : {}),
        match: resolution.match,
        ...(resolution.rule ? { rule: resolution.rule.pattern, actions: resolution.rule.actions } : { actions: [{ type: defaultAction }] }),
        ...(disabled ? { ifEnabled: { rule: disabled.pattern, actions: disabled.actions } } : {}),
        steps: resolution.steps,
      });
      return;
    }
    const lines = describeResolution(resolution, defaultAction);
    if (refused) {
      context.out.line(`${address.address} → refused: ${refused.reason}`);
      context.out.line(`  were ${address.domain} one of the stack's domains: ${resolutionHeadline(resolution, defaultAction)}`);
      for (const line of lines.slice(1)) context.out.line(line);
    } else {
      for (const line of lines) context.out.line(line);
    }
    if (disabled) {
      context.out.line(
        `if enabled, the disabled rule ${disabled.pattern} would take it instead: → ${describeActions(disabled.actions)}   (ses-mail rules enable '${disabled.pattern}' ${targetArguments(target, context)})`,
      );
    }
  },
};

/** The `rules` commands; tests pass their own DNS and token lookups. */
export function rulesCommands(overrides: Partial<RuleCheckDeps> = {}): Command[] {
  const deps: RuleCheckDeps = { ...DEFAULT_RULE_CHECK_DEPS, ...overrides };
  return [add(deps), list, show, remove, toggle(true), toggle(false), test];
}

/** @public The group's commands; cli/main.ts loads them (`require`) only when a command line names the group. */
export const RULES_COMMANDS: readonly Command[] = rulesCommands();
