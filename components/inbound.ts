/**
 * Inbound: SES identities for the stack's domains (Easy DKIM), the receipt rule set and the rule that
 * accepts their mail: spam and virus scanning on, TLS required, one S3 action that stores the raw message
 * under `emails/` and notifies the topic.
 *
 * The notification comes from the S3 action's own `topicArn`, not from a separate SNS action: SES's SNS
 * action embeds the message and bounces anything over 150 KB (see docs/DECISIONS.md).
 *
 * SES allows one active rule set per region. In a shared account the test stack joins prod's active set
 * (`ses-mail:joinExistingRuleSet`) instead of creating and activating its own; deploy prod first.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
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
  /** Resources SES checks when the rule is created (bucket and topic policies). */
  readonly permissions: readonly pulumi.Resource[];
}

/** A DNS record the domain's owner must publish. */
export interface DnsRecord {
  readonly name: string;
  readonly type: "MX" | "CNAME";
  readonly value: string;
}

/** The records that make SES receive (MX) and sign/verify (Easy DKIM CNAMEs) for a domain. */
export function domainDnsRecords(domain: string, region: string, dkimTokens: readonly string[]): DnsRecord[] {
  return [
    { name: domain, type: "MX", value: `10 ${inboundSmtpEndpoint(region)}` },
    ...dkimTokens.map((token): DnsRecord => ({ name: `${token}._domainkey.${domain}`, type: "CNAME", value: `${token}.dkim.amazonses.com` })),
  ];
}

/** The rule's actions: S3 with its topic. Exported for tests that assert the departure from the seed. */
export function receiptRuleS3Action(bucketName: string, keyPrefix: string, topicArn: string): aws.types.input.ses.ReceiptRuleS3Action {
  return { position: 1, bucketName, objectKeyPrefix: keyPrefix, topicArn };
}

export class Inbound extends pulumi.ComponentResource {
  public readonly identities: aws.sesv2.EmailIdentity[];
  public readonly rule: aws.ses.ReceiptRule;
  public readonly ruleSetName: string;
  public readonly dnsRecords: pulumi.Output<Record<string, DnsRecord[]>>;

  constructor(name: string, args: InboundArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:inbound:Inbound", name, {}, opts);
    const { stack } = args;
    const parent = { parent: this };

    this.identities = args.domains.map(
      (domain) =>
        new aws.sesv2.EmailIdentity(`${name}-identity-${domain}`, { emailIdentity: domain, dkimSigningAttributes: { nextSigningKeyLength: "RSA_2048_BIT" } }, parent),
    );

    const dependsOn: pulumi.Resource[] = [...args.permissions];
    if (args.joinExistingRuleSet) {
      this.ruleSetName = args.joinExistingRuleSet;
    } else {
      this.ruleSetName = stack.names.ruleSet;
      const ruleSet = new aws.ses.ReceiptRuleSet(`${name}-rule-set`, { ruleSetName: this.ruleSetName }, parent);
      const active = new aws.ses.ActiveReceiptRuleSet(`${name}-active-rule-set`, { ruleSetName: ruleSet.ruleSetName }, parent);
      dependsOn.push(ruleSet, active);
    }

    this.rule = new aws.ses.ReceiptRule(
      `${name}-rule`,
      {
        name: stack.names.receiptRule,
        ruleSetName: this.ruleSetName,
        recipients: [...args.domains],
        enabled: true,
        scanEnabled: true,
        tlsPolicy: "Require",
        s3Actions: [pulumi.all([args.bucketName, args.topicArn]).apply(([bucket, topic]) => receiptRuleS3Action(bucket, args.keyPrefix, topic))],
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
