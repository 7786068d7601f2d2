/**
 * What `ses-mail rules add` checks against the stack before it writes a rule: what can never work is
 * refused (unless `--force`), what is not ready yet is a warning that says how to make it ready.
 *
 * - The pattern's domain must be one the stack receives: SES (or local mode, at RCPT) refuses mail for
 *   any other, so the rule would never match. Refused.
 * - Each forward target must be a mailbox Gmail's import can reach: gmail.com / googlemail.com, or a
 *   Google Workspace domain (its MX at Google). A domain that does not exist, or one reserved for
 *   examples, is refused (for local mode, whose Maildirs take any address, a warning); a domain whose
 *   mail goes elsewhere is a warning (a Workspace account may have its mail routed through another
 *   server). DNS that cannot be asked is a note.
 * - For a deployed stack: each target needs a stored Gmail token, or its mail waits in the retry queue;
 *   and a rule naming labels needs a token consented with label access (core/labels.ts). Warnings, with
 *   the `ses-mail oauth refresh` command that fixes them.
 */
import * as dns from "node:dns";
import { SSMClient } from "@aws-sdk/client-ssm";
import { canManageLabels } from "../adapters/gmail/credentials";
import { isReservedExampleDomain, patternDomain } from "../config/schema";
import { GMAIL_DOMAINS } from "../core/addresses";
import { errorMessage } from "../core/errors";
import { isLabelId } from "../core/labels";
import { accountParameterKey } from "../core/parameters";
import type { Rule } from "../core/rules";
import type { CommandContext } from "./framework";
import { readTokenMetadata, type TokenMetadata } from "./stack-health";
import { resolveStack } from "./stack-target";
import type { RulesTarget } from "./target";

/**
 * How long one MX lookup may take. A check that cannot finish quickly is not worth holding the command
 * for: it becomes a note, and the rule is written.
 */
export const MX_LOOKUP_TIMEOUT_MS = 3000;

export type FindingLevel = "refuse" | "warn" | "note";

export interface Finding {
  readonly level: FindingLevel;
  readonly message: string;
}

export interface RuleCheckDeps {
  /** The MX records of a domain; rejects with the resolver's code (ENOTFOUND, ENODATA, ETIMEOUT, …). */
  readonly resolveMx: (domain: string) => Promise<ReadonlyArray<{ readonly exchange: string }>>;
  /** The stack's Gmail token metadata (`oauth refresh` writes it), for `--stack` targets. */
  readonly tokenMetadata: (context: CommandContext) => Promise<readonly TokenMetadata[]>;
  readonly now: () => Date;
}

async function systemResolveMx(domain: string): Promise<ReadonlyArray<{ exchange: string }>> {
  const resolver = new dns.promises.Resolver({ timeout: MX_LOOKUP_TIMEOUT_MS, tries: 1 });
  return resolver.resolveMx(domain);
}

async function stackTokenMetadata(context: CommandContext): Promise<readonly TokenMetadata[]> {
  const stack = resolveStack(context);
  const ssm = new SSMClient(stack.clientConfig("SSM"));
  try {
    return await readTokenMetadata(ssm, stack);
  } finally {
    ssm.destroy();
  }
}

export const DEFAULT_RULE_CHECK_DEPS: RuleCheckDeps = {
  resolveMx: systemResolveMx,
  tokenMetadata: stackTokenMetadata,
  now: () => new Date(),
};

/** An MX host of Google (Workspace: `aspmx.l.google.com`, `smtp.google.com`, …). */
function isGoogleMx(host: string): boolean {
  return /(^|\.)(google|googlemail)\.com\.?$/i.test(host);
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}

/** Where mail for the pattern's domain would be refused, in the words of the target. */
function domainFinding(rule: Rule, target: RulesTarget): Finding | undefined {
  const domain = patternDomain(rule.pattern);
  if (domain === undefined) return undefined;
  const config = target.config;
  if (!config)
    return {
      level: "note",
      message: `not checking whether the stack receives mail for ${domain}: give --config FILE (or --stack NAME) to check`,
    };
  if (config.domains.includes(domain)) return undefined;
  const domains = config.domains.join(", ");
  if (target.kind === "local") {
    return {
      level: "refuse",
      message: `local mode refuses mail for ${domain} at RCPT (550 5.1.1): it is not a domain of stack ${config.environment} (${domains}), so this rule would never match`,
    };
  }
  return {
    level: "refuse",
    message:
      `stack ${config.environment} does not receive mail for ${domain} (its domains: ${domains}): SES refuses it at SMTP time, so this rule would never match. ` +
      `Add ${domain} to ses-mail:domains and run pulumi up first`,
  };
}

/** Whether a forward target is a mailbox Gmail's import can reach. */
async function mailboxFinding(account: string, deps: RuleCheckDeps): Promise<Finding | undefined> {
  const domain = domainOf(account);
  if (GMAIL_DOMAINS.includes(domain)) return undefined;
  if (isReservedExampleDomain(domain)) {
    return {
      level: "refuse",
      message: `${account} is at ${domain}, reserved for examples: it cannot be a Gmail mailbox. Forward to a real Gmail or Google Workspace address`,
    };
  }
  let hosts: string[];
  try {
    hosts = (await deps.resolveMx(domain)).map((record) => record.exchange);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOTFOUND") {
      return {
        level: "refuse",
        message: `${account}: the domain ${domain} does not exist, so it cannot be a Gmail or Google Workspace mailbox`,
      };
    }
    if (code === "ENODATA") hosts = [];
    else
      return {
        level: "note",
        message: `could not check whether ${account} is a Gmail or Google Workspace mailbox (DNS: ${code ?? String(error)})`,
      };
  }
  if (hosts.some(isGoogleMx)) return undefined;
  return {
    level: "warn",
    message:
      `${account}: mail for ${domain} ${hosts.length > 0 ? `goes to ${hosts.slice(0, 2).join(", ")}` : "has no MX record"}, not to Google. ` +
      "Forwarding imports into a Gmail mailbox: this works only if it is a Google Workspace account",
  };
}

/** For a deployed stack: each target's token, and label access when the rule names labels. */
async function tokenFindings(
  rule: Rule,
  target: RulesTarget,
  context: CommandContext,
  deps: RuleCheckDeps,
  skip: readonly string[],
): Promise<Finding[]> {
  if (target.kind !== "stack" || !target.stack) return [];
  const forwards = rule.actions.flatMap((action) => (action.type === "forward-to-gmail" && !skip.includes(action.target) ? [action] : []));
  if (forwards.length === 0) return [];
  let metadata: readonly TokenMetadata[];
  try {
    metadata = await deps.tokenMetadata(context);
  } catch (error) {
    return [{ level: "note", message: `could not check the Gmail tokens of stack ${target.stack} (${errorMessage(error)})` }];
  }
  const findings: Finding[] = [];
  const nowSeconds = deps.now().getTime() / 1000;
  for (const forward of forwards) {
    const refresh = `ses-mail oauth refresh --account ${forward.target} --stack ${target.stack}`;
    const token = metadata.find((entry) => entry.key === accountParameterKey(forward.target));
    if (!token || token.problem) {
      findings.push({
        level: "warn",
        message: `no Gmail token for ${forward.target} yet: its mail waits in the retry queue until you run \`${refresh}\``,
      });
      continue;
    }
    if (typeof token.expiresAtEpoch === "number" && token.expiresAtEpoch < nowSeconds) {
      findings.push({
        level: "warn",
        message: `the Gmail token of ${forward.target} expired ${token.expiresAt ?? ""}: its mail waits in the retry queue until you run \`${refresh}\``,
      });
      continue;
    }
    const names = (forward.labels ?? []).filter((label) => !isLabelId(label));
    if (names.length > 0 && (token.scopes === undefined || !canManageLabels(token.scopes))) {
      findings.push({
        level: "warn",
        message:
          `the Gmail token of ${forward.target} was granted without access to labels, so mail arrives without ${names.join(", ")} ` +
          `(it is still delivered) until you run \`${refresh}\` and allow "See and edit your email labels"`,
      });
    }
  }
  return findings;
}

/** Everything `rules add` has to say about a rule before writing it. */
export async function checkRule(
  rule: Rule,
  target: RulesTarget,
  context: CommandContext,
  deps: RuleCheckDeps = DEFAULT_RULE_CHECK_DEPS,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const domain = domainFinding(rule, target);
  if (domain) findings.push(domain);
  const accounts = [...new Set(rule.actions.flatMap((action) => (action.type === "forward-to-gmail" ? [action.target] : [])))];
  const mailboxes = await Promise.all(accounts.map(async (account) => ({ account, finding: await mailboxFinding(account, deps) })));
  // An address that cannot be a Gmail mailbox needs no token either: say the one thing that matters.
  const notMailboxes = mailboxes.filter((entry) => entry.finding?.level === "refuse").map((entry) => entry.account);
  for (const { finding } of mailboxes) {
    if (!finding) continue;
    // Local mode delivers to a Maildir whatever the address: what a deployed stack refuses, it only warns about.
    findings.push(
      target.kind === "local" && finding.level === "refuse"
        ? { level: "warn", message: `${finding.message} (a deployed stack refuses this; local mode delivers it to a Maildir all the same)` }
        : finding,
    );
  }
  findings.push(...(await tokenFindings(rule, target, context, deps, notMailboxes)));
  return findings;
}
