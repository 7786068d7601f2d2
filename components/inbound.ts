/**
 * Inbound: SES identities for the stack's domains (Easy DKIM), the receipt rule set and the rule that
 * accepts their mail: spam and virus scanning on, the configured TLS policy, one S3 action that stores
 * the raw message under `emails/` and notifies the topic.
 *
 * The notification comes from the S3 action's own `topicArn`, not from a separate SNS action: SES's SNS
 * action embeds the message and bounces anything over 150 KB (see docs/DECISIONS.md).
 *
 * SES allows one active rule set per region, so this component is careful with it (active-rule-set.ts):
 * - before anything is activated or a rule added, it reads the region's active set (an invoke, answered
 *   at preview) and refuses to take over a set it did not create, or to join a set that is not active;
 * - the activation and the stack's own rule set are never deleted by `pulumi destroy` (`retainOnDelete`):
 *   the provider's delete of an activation turns off all receiving in the region, and another stack's
 *   rule may live in the set.
 * In a shared account the test stack joins prod's active set (`ses-mail:joinExistingRuleSet`). A stack
 * deployed again after a destroy adopts the rule set it kept (`ses-mail:adoptRuleSet`).
 *
 * A domain whose SES identity already exists (`ses-mail:adoptIdentities`) is imported, not created: its
 * DKIM keys, configuration set and tags stay as they are, and `pulumi destroy` leaves it in place.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { TlsPolicy } from "../config/schema";
import { ActiveRuleSetRefusal, activeRuleSetProblem, isNoActiveRuleSet, ruleSetOf, type RuleSetIntent } from "./active-rule-set";
import { inboundSmtpEndpoint } from "./arns";
import type { StackContext } from "./context";

export interface InboundArgs {
  readonly stack: StackContext;
  /** Domains SES receives mail for; each becomes an identity and a recipient of the rule. */
  readonly domains: readonly string[];
  /** The storage bucket's name. */
  readonly bucketName: pulumi.Input<string>;
  /** Key prefix for raw messages. */
  readonly keyPrefix: string;
  /** The topic the S3 action notifies. */
  readonly topicArn: pulumi.Input<string>;
  /** The name of an active rule set to add the rule to instead of creating one. Default: create `ses-ruleset-{env}`. */
  readonly joinExistingRuleSet?: string;
  /** The name of an active rule set this stack may deactivate for its own. Default: refuse to replace any. */
  readonly replaceActiveRuleSet?: string;
  /** The stack's own rule set exists already (kept by an earlier destroy): import it. Default false. */
  readonly adoptRuleSet?: boolean;
  /** Domains whose SES identity exists already: imported as they are and kept on destroy. Default none. */
  readonly adoptIdentities?: readonly string[];
  /** The rule's TLS policy. Default `Require`. */
  readonly tlsPolicy?: TlsPolicy;
  /** Resources SES checks when the rule is created (bucket and topic policies). */
  readonly permissions: readonly pulumi.Resource[];
}

/** A DNS record the domain's owner must publish. */
export interface DnsRecord {
  readonly name: string;
  readonly type: "MX" | "CNAME" | "TXT";
  readonly value: string;
}

/** The records that make SES receive (MX) and sign/verify (Easy DKIM CNAMEs) for a domain. */
export function domainDnsRecords(domain: string, region: string, dkimTokens: readonly string[]): DnsRecord[] {
  return [
    { name: domain, type: "MX", value: `10 ${inboundSmtpEndpoint(region)}` },
    ...dkimTokens.map((token): DnsRecord => ({
      name: `${token}._domainkey.${domain}`,
      type: "CNAME",
      value: `${token}.dkim.amazonses.com`,
    })),
  ];
}

/** The rule's actions: S3 with its topic. Exported for tests that assert the departure from the seed. */
export function receiptRuleS3Action(bucketName: string, keyPrefix: string, topicArn: string): aws.types.input.ses.ReceiptRuleS3Action {
  return { position: 1, bucketName, objectKeyPrefix: keyPrefix, topicArn };
}

/** What an adopted identity keeps from before: Pulumi neither changes nor compares these. */
export const ADOPTED_IDENTITY_IGNORED_INPUTS: readonly string[] = ["dkimSigningAttributes", "configurationSetName", "tags"];

/** Easy DKIM with 2048-bit keys, for identities this stack creates. */
export const DKIM_SIGNING_ATTRIBUTES = { nextSigningKeyLength: "RSA_2048_BIT" } as const;

export class Inbound extends pulumi.ComponentResource {
  public readonly identities: aws.sesv2.EmailIdentity[];
  public readonly rule: aws.ses.ReceiptRule;
  /** The set the rule is in, once the active-rule-set check has passed. */
  public readonly ruleSetName: pulumi.Output<string>;
  public readonly dnsRecords: pulumi.Output<Record<string, DnsRecord[]>>;

  constructor(name: string, args: InboundArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:inbound:Inbound", name, {}, opts);
    const { stack } = args;
    const parent = { parent: this };
    const adopted = new Set(args.adoptIdentities ?? []);

    this.identities = args.domains.map((domain) =>
      adopted.has(domain)
        ? new aws.sesv2.EmailIdentity(
            `${name}-identity-${domain}`,
            { emailIdentity: domain },
            { parent: this, import: domain, retainOnDelete: true, ignoreChanges: [...ADOPTED_IDENTITY_IGNORED_INPUTS] },
          )
        : new aws.sesv2.EmailIdentity(
            `${name}-identity-${domain}`,
            { emailIdentity: domain, dkimSigningAttributes: { ...DKIM_SIGNING_ATTRIBUTES } },
            parent,
          ),
    );

    const intent: RuleSetIntent = {
      ownRuleSet: stack.names.ruleSet,
      ...(args.joinExistingRuleSet ? { joinExistingRuleSet: args.joinExistingRuleSet } : {}),
      ...(args.replaceActiveRuleSet ? { replaceActiveRuleSet: args.replaceActiveRuleSet } : {}),
    };
    // What is active now decides whether this stack may go on. The invoke runs at preview, so a refusal
    // stops `pulumi preview` and `pulumi up` before anything is created.
    const active = aws.ses.getActiveReceiptRuleSet({}, { parent: this }).then(
      (result): string | undefined => result.ruleSetName,
      (error: unknown) => {
        if (isNoActiveRuleSet(error)) return undefined;
        throw error;
      },
    );
    const approved = pulumi.all([active, stack.aws]).apply(([name, ctx]) => {
      const problem = activeRuleSetProblem(intent, name, ctx.region);
      if (problem) throw new ActiveRuleSetRefusal(problem);
      return ruleSetOf(intent);
    });

    const dependsOn: pulumi.Resource[] = [...args.permissions];
    if (args.joinExistingRuleSet) {
      this.ruleSetName = approved;
    } else {
      // Never deleted by `pulumi destroy`: deleting an activation turns off every rule set in the region,
      // and another stack may have joined this set (docs/DEPLOY.md says how to remove them by hand).
      const ruleSet = new aws.ses.ReceiptRuleSet(
        `${name}-rule-set`,
        { ruleSetName: stack.names.ruleSet },
        { parent: this, retainOnDelete: true, ...(args.adoptRuleSet ? { import: stack.names.ruleSet } : {}) },
      );
      this.ruleSetName = pulumi.all([approved, ruleSet.ruleSetName]).apply(([, created]) => created);
      const activation = new aws.ses.ActiveReceiptRuleSet(
        `${name}-active-rule-set`,
        { ruleSetName: this.ruleSetName },
        { parent: this, retainOnDelete: true },
      );
      dependsOn.push(ruleSet, activation);
    }

    this.rule = new aws.ses.ReceiptRule(
      `${name}-rule`,
      {
        name: stack.names.receiptRule,
        ruleSetName: this.ruleSetName,
        recipients: [...args.domains],
        enabled: true,
        scanEnabled: true,
        tlsPolicy: args.tlsPolicy ?? "Require",
        s3Actions: [
          pulumi.all([args.bucketName, args.topicArn]).apply(([bucket, topic]) => receiptRuleS3Action(bucket, args.keyPrefix, topic)),
        ],
      },
      { parent: this, dependsOn },
    );

    this.dnsRecords = pulumi
      .all([stack.aws, pulumi.all(this.identities.map((identity) => identity.dkimSigningAttributes))])
      .apply(([ctx, attributes]) =>
        Object.fromEntries(args.domains.map((domain, i) => [domain, domainDnsRecords(domain, ctx.region, attributes[i]?.tokens ?? [])])),
      );

    this.registerOutputs({ ruleSetName: this.ruleSetName, ruleName: this.rule.name, dnsRecords: this.dnsRecords });
  }
}
