/**
 * The stack configuration: every `ses-mail:` key, typed and validated once, with its default.
 * One source for the Pulumi program (index.ts), the CLI and local mode. A wrong value fails with
 * an error naming the key; an unknown `ses-mail:` key fails too (a typo must not be ignored).
 */
import { z } from "zod";
import { canonicalize, domainProblem, isAddress } from "../core/addresses";
import { ErrorCode, errorMessage, SesMailError } from "../core/errors";
import { MAX_DESCRIPTION_CHARS } from "../core/limits";
import { describeLongestReference, MIN_EMAIL_RETENTION_DAYS } from "../core/retention";
import { parsePattern, ruleActionsSchema, type DefaultAction, type RuleAction } from "../core/rules";
import { verdictPolicySchema, type VerdictPolicy } from "../core/verdicts";
import { closestMatch } from "./suggest";

/** The Pulumi project name, hence the config namespace: keys are `ses-mail:<key>`. */
export const CONFIG_NAMESPACE = "ses-mail";

/** The stack whose data is deletion-protected by default (`ses-mail:deletionProtection`). */
export const PRODUCTION_STACK = "prod";

/** Retention periods CloudWatch Logs accepts (PutRetentionPolicy), in days. */
export const CLOUDWATCH_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** A rule declared in stack config: the same shape the CLI writes. */
export interface DeclaredRoute {
  readonly recipient: string;
  readonly actions: readonly RuleAction[];
  readonly enabled: boolean;
  readonly description?: string;
}

export interface StackConfig {
  /** The stack name (`test`, `prod`, …): the `{env}` of every resource name. */
  readonly environment: string;
  /** `aws:region` of the stack, when set. */
  readonly region?: string;
  /** Domains SES receives mail for. At least one. */
  readonly domains: readonly string[];
  /** Rules kept as code, managed by Pulumi beside the ad-hoc rules the CLI writes. Default none. */
  readonly routes: readonly DeclaredRoute[];
  /** What happens when no rule matches a recipient. Default `bounce` (as in the seed). */
  readonly defaultAction: DefaultAction;
  /** What failed security verdicts lead to. Defaults: virus drop, spam quarantine, DMARC quarantine/reject → quarantine/drop. */
  readonly verdictPolicy: VerdictPolicy;
  /**
   * Days a raw message nobody deleted (stored, dropped, or still waiting for delivery) stays in the bucket
   * before the lifecycle rule expires it. At least, and by default, MIN_EMAIL_RETENTION_DAYS: the longest a
   * queue, dead-letter queue or parked delivery can still refer to it (core/retention.ts).
   */
  readonly emailRetentionDays: number;
  /** Days CloudWatch keeps logs; one of the values CloudWatch accepts. Default 30. */
  readonly logRetentionDays: number;
  /** Where alarm notifications are emailed; none when unset. */
  readonly alarmEmail?: string;
  /**
   * Shared account: the name of an active receipt rule set (prod's) that this stack adds its rule to,
   * instead of creating and activating its own. SES allows one active rule set per region.
   */
  readonly joinExistingRuleSet?: string;

  /* Deploying next to what exists, and protecting what must survive (docs/DEPLOY.md). */
  /**
   * The name of a receipt rule set, active in the region and not created by this stack, that this stack
   * may deactivate to activate its own. Without it the program refuses (at preview) to take over an
   * active rule set: that would stop all mail the other set receives.
   */
  readonly replaceActiveRuleSet?: string;
  /**
   * The stack's own rule set (`ses-ruleset-{env}`) exists already, kept by an earlier `pulumi destroy`:
   * import it rather than create it. Harmless to leave on afterwards. Default false.
   */
  readonly adoptRuleSet: boolean;
  /** Domains whose SES identity already exists (verified earlier, e.g. for sending): adopted, not created. Default none. */
  readonly adoptIdentities: readonly string[];
  /** Deletion protection on the routing table, the bucket and the credential key. Default on for `prod`, off otherwise. */
  readonly deletionProtection: boolean;
  /** The receipt rule's TLS policy: `Require` refuses senders that will not use TLS. Default `Require`. */
  readonly tlsPolicy: TlsPolicy;
  /** Whether the Pipe and state machine logs carry message data (addresses, subjects). Default false: ids, outcomes and errors only. */
  readonly logExecutionData: boolean;
  /** MTA-STS (RFC 8461) for the stack's domains, served from CloudFront; none when unset. */
  readonly mtaSts?: MtaStsConfig;
}

/** SES receipt rule TLS policies. */
export const TLS_POLICIES = ["Require", "Optional"] as const;
export type TlsPolicy = (typeof TLS_POLICIES)[number];

/** MTA-STS policy modes ses-mail publishes (`none` is expressed by leaving `mtaSts` unset). */
export const MTA_STS_MODES = ["testing", "enforce"] as const;
export type MtaStsMode = (typeof MTA_STS_MODES)[number];

/** RFC 8461 §3.2: `max_age` is at most 31557600 seconds (about a year). */
export const MTA_STS_MAX_AGE_DAYS_LIMIT = 365;

export interface MtaStsConfig {
  /** `testing` (report only) or `enforce` (senders that support MTA-STS refuse to deliver without valid TLS). */
  readonly mode: MtaStsMode;
  /** How long senders cache the policy, days. Default 7. */
  readonly maxAgeDays: number;
  /**
   * An issued ACM certificate in us-east-1 (CloudFront's requirement) covering `mta-sts.<domain>` for
   * every domain of the stack.
   */
  readonly certificateArn: string;
  /** Where TLS reports (RFC 8460) are mailed; no TLS-RPT record when unset. */
  readonly reportingAddress?: string;
}

export class ConfigError extends SesMailError {
  readonly key: string;

  constructor(key: string, message: string) {
    super(ErrorCode.InvalidConfig, `${CONFIG_NAMESPACE}:${key}: ${message}`);
    this.name = "ConfigError";
    this.key = key;
  }
}

/** Pulumi hands structured values over as JSON text; YAML files hold them as values. Accept both. */
function jsonText(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function keySchemas() {
  const domain = z
    .string()
    .transform((text) => canonicalize(text.trim()))
    .superRefine((text, ctx) => {
      const problem = domainProblem(text);
      if (problem) ctx.addIssue({ code: "custom", message: `${JSON.stringify(text)}: ${problem}` });
    });
  const route = z
    .object({
      recipient: z.string().transform((text, ctx) => {
        try {
          return parsePattern(text).pattern;
        } catch (error) {
          ctx.addIssue({ code: "custom", message: errorMessage(error) });
          return z.NEVER;
        }
      }),
      actions: ruleActionsSchema(),
      enabled: z.preprocess(jsonText, z.boolean()).default(true),
      description: z.string().max(MAX_DESCRIPTION_CHARS).optional(),
    })
    .strict();
  const days = z.preprocess(jsonText, z.number().int().positive());
  return {
    domains: z.preprocess(
      jsonText,
      z
        .array(domain)
        .min(1, "list at least one domain")
        .refine((list) => new Set(list).size === list.length, "a domain is listed twice"),
    ),
    routes: z.preprocess(
      jsonText,
      z
        .array(route)
        .default([])
        .superRefine((list, ctx) => {
          const seen = new Set<string>();
          for (const [index, entry] of list.entries()) {
            if (seen.has(entry.recipient)) {
              ctx.addIssue({ code: "custom", path: [index, "recipient"], message: `${entry.recipient} is declared twice` });
            }
            seen.add(entry.recipient);
          }
        }),
    ),
    defaultAction: z.enum(["bounce", "drop", "store"]).default("bounce"),
    verdictPolicy: z.preprocess(jsonText, verdictPolicySchema()).default(verdictPolicySchema().parse({})),
    emailRetentionDays: days
      .refine((n) => n >= MIN_EMAIL_RETENTION_DAYS, {
        message:
          `must be at least ${MIN_EMAIL_RETENTION_DAYS}: a raw message must outlive every reference to it, and the longest is ` +
          `${describeLongestReference()}; with less, a redrive or a re-authorized mailbox finds the message gone`,
      })
      .default(MIN_EMAIL_RETENTION_DAYS),
    logRetentionDays: z
      .preprocess(jsonText, z.number().int())
      .refine((n) => (CLOUDWATCH_RETENTION_DAYS as readonly number[]).includes(n), {
        message: `must be one of ${CLOUDWATCH_RETENTION_DAYS.join(", ")}`,
      })
      .default(30),
    alarmEmail: z.string().refine(isAddress, "must be an email address").optional(),
    joinExistingRuleSet: z.string().min(1).optional(),
    ...deploymentKeySchemas(domain),
  };
}

/** The keys for deploying next to what exists, protection, logs and transport security. */
function deploymentKeySchemas(domain: z.ZodType<string>) {
  const flag = z.preprocess(jsonText, z.boolean());
  return {
    replaceActiveRuleSet: z.string().min(1).optional(),
    adoptRuleSet: flag.default(false),
    adoptIdentities: z.preprocess(jsonText, z.array(domain).default([])),
    deletionProtection: flag.optional(),
    tlsPolicy: z.enum(TLS_POLICIES).default("Require"),
    logExecutionData: flag.default(false),
    mtaSts: z.preprocess(
      jsonText,
      z
        .object({
          mode: z.enum(MTA_STS_MODES),
          maxAgeDays: z.preprocess(jsonText, z.number().int().min(1).max(MTA_STS_MAX_AGE_DAYS_LIMIT)).default(7),
          certificateArn: z
            .string()
            .regex(
              /^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate\/[A-Za-z0-9-]+$/,
              "must be the ARN of an ACM certificate in us-east-1 (CloudFront uses only those)",
            ),
          reportingAddress: z.string().refine(isAddress, "must be an email address").optional(),
        })
        .strict()
        .optional(),
    ),
  };
}

/** The domain part of a route's recipient pattern; undefined for `*`. */
export function patternDomain(pattern: string): string | undefined {
  const at = pattern.lastIndexOf("@");
  return at === -1 ? undefined : pattern.slice(at + 1);
}

/** Checks across keys; returns the key and problem of the first violation. */
function crossKeyProblem(config: {
  domains: readonly string[];
  routes: readonly DeclaredRoute[];
  adoptIdentities: readonly string[];
  adoptRuleSet: boolean;
  joinExistingRuleSet?: string;
  replaceActiveRuleSet?: string;
}): [string, string] | undefined {
  const stray = config.adoptIdentities.find((domain) => !config.domains.includes(domain));
  if (stray) return ["adoptIdentities", `${stray} is not one of ses-mail:domains`];
  // A route for a domain the stack does not receive can never match: SES refuses that mail at RCPT.
  for (const [index, route] of config.routes.entries()) {
    const domain = patternDomain(route.recipient);
    if (domain !== undefined && !config.domains.includes(domain)) {
      return [
        "routes",
        `route ${index + 1} (${route.recipient}) is for ${domain}, which is not one of ses-mail:domains (${config.domains.join(", ")}): ` +
          `SES refuses mail for it, so the route could never match. Add ${domain} to ses-mail:domains, or remove the route`,
      ];
    }
  }
  if (config.joinExistingRuleSet && config.replaceActiveRuleSet) {
    return ["replaceActiveRuleSet", "a stack either joins an active rule set (joinExistingRuleSet) or replaces it with its own, not both"];
  }
  if (config.joinExistingRuleSet && config.adoptRuleSet) {
    return ["adoptRuleSet", "a stack that joins another stack's rule set (joinExistingRuleSet) has no rule set of its own to adopt"];
  }
  return undefined;
}

/** Every key ses-mail reads. */
export const CONFIG_KEYS = Object.keys(keySchemas()) as ReadonlyArray<keyof ReturnType<typeof keySchemas>>;

/**
 * Validates raw config values (keys without the `ses-mail:` prefix). Values may be YAML values or
 * the JSON strings Pulumi's runtime passes. Throws ConfigError naming the first wrong key.
 */
export function parseStackConfig(values: Readonly<Record<string, unknown>>, environment: string, region?: string): StackConfig {
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(environment)) {
    throw new ConfigError(
      "(stack)",
      `stack name ${JSON.stringify(environment)} must be lower-case letters, digits and -, at most 31 characters (it is part of every resource name)`,
    );
  }
  // An unknown key first: a typo (`domain`) would otherwise surface as the real key missing.
  const unknownKey = Object.keys(values).find((key) => !(CONFIG_KEYS as readonly string[]).includes(key));
  if (unknownKey !== undefined) {
    const suggestion = closestMatch(unknownKey, CONFIG_KEYS);
    throw new ConfigError(
      unknownKey,
      suggestion
        ? `unknown key; did you mean ${CONFIG_NAMESPACE}:${suggestion}?`
        : `unknown key (known keys: ${CONFIG_KEYS.join(", ")}; docs/DEPLOY.md, "Configuration keys")`,
    );
  }
  if (values.domains === undefined) {
    throw new ConfigError(
      "domains",
      "is required: the domains SES receives mail for, e.g. `pulumi config set --path 'ses-mail:domains[0]' mail.example.net`",
    );
  }
  const result = z.object(keySchemas()).strict().safeParse(values);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? "?");
    const where = issue.path.length > 1 ? ` at ${issue.path.slice(1).join(".")}` : "";
    throw new ConfigError(key, `${issue.message}${where}`);
  }
  const config = result.data;
  const problem = crossKeyProblem(config);
  if (problem) throw new ConfigError(problem[0], problem[1]);
  return {
    environment,
    ...(region ? { region } : {}),
    domains: config.domains,
    routes: config.routes,
    defaultAction: config.defaultAction,
    verdictPolicy: config.verdictPolicy,
    emailRetentionDays: config.emailRetentionDays,
    logRetentionDays: config.logRetentionDays,
    ...(config.alarmEmail ? { alarmEmail: config.alarmEmail } : {}),
    ...(config.joinExistingRuleSet ? { joinExistingRuleSet: config.joinExistingRuleSet } : {}),
    ...(config.replaceActiveRuleSet ? { replaceActiveRuleSet: config.replaceActiveRuleSet } : {}),
    adoptRuleSet: config.adoptRuleSet,
    adoptIdentities: config.adoptIdentities,
    // Production data is protected unless the stack says otherwise.
    deletionProtection: config.deletionProtection ?? environment === PRODUCTION_STACK,
    tlsPolicy: config.tlsPolicy,
    logExecutionData: config.logExecutionData,
    ...(config.mtaSts ? { mtaSts: config.mtaSts } : {}),
  };
}

/**
 * Domains reserved for documentation and testing (RFC 2606, RFC 6761): `example.com`, `example.net`,
 * `example.org` and their subdomains, and the `.example`, `.test`, `.invalid` and `.localhost` top-level
 * domains. Nobody can receive mail for them, so a stack that lists one was copied from an example.
 */
const RESERVED_DOMAINS: readonly string[] = ["example.com", "example.net", "example.org"];
const RESERVED_TOP_LEVEL_DOMAINS: readonly string[] = ["example", "test", "invalid", "localhost"];

/** Whether a domain is one of those reserved for examples (RFC 2606, RFC 6761). */
export function isReservedExampleDomain(domain: string): boolean {
  const name = canonicalize(domain).replace(/\.$/, "");
  if (RESERVED_DOMAINS.some((reserved) => name === reserved || name.endsWith(`.${reserved}`))) return true;
  return RESERVED_TOP_LEVEL_DOMAINS.includes(name.slice(name.lastIndexOf(".") + 1));
}

/**
 * What keeps a stack from being deployed as shipped: domains, forward targets of declared routes and the
 * alarm address at domains reserved for examples. `pulumi up` (and `pulumi preview`) refuse them; the offline synth and tests, which run
 * the shipped example stacks under mocks, only warn (config/pulumi.ts).
 */
export function exampleConfigProblems(config: StackConfig): ConfigError[] {
  const problems: ConfigError[] = [];
  const domains = config.domains.filter(isReservedExampleDomain);
  if (domains.length > 0) {
    problems.push(
      new ConfigError(
        "domains",
        `${domains.join(", ")} ${domains.length === 1 ? "is" : "are"} reserved for examples (RFC 2606): nobody can receive mail there. ` +
          `This is the shipped example stack: set your own domains first (docs/DEPLOY.md, "Deploy a first stack")`,
      ),
    );
  }
  for (const [index, route] of config.routes.entries()) {
    const target = route.actions.find(
      (action) => action.type === "forward-to-gmail" && isReservedExampleDomain(action.target.slice(action.target.lastIndexOf("@") + 1)),
    );
    if (target?.type === "forward-to-gmail") {
      problems.push(
        new ConfigError(
          "routes",
          `route ${index + 1} (${route.recipient}) forwards to ${target.target}, at a domain reserved for examples: it cannot be a Gmail mailbox`,
        ),
      );
    }
  }
  const alarmDomain = config.alarmEmail ? config.alarmEmail.slice(config.alarmEmail.lastIndexOf("@") + 1) : undefined;
  if (alarmDomain !== undefined && isReservedExampleDomain(alarmDomain)) {
    problems.push(
      new ConfigError(
        "alarmEmail",
        `${config.alarmEmail} is at a domain reserved for examples: alarms would go nowhere. Set an address you read`,
      ),
    );
  }
  return problems;
}
