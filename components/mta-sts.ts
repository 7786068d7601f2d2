/**
 * MTA-STS (RFC 8461), optional (`ses-mail:mtaSts`): tells sending servers that support it to deliver
 * to the stack's domains only over TLS to SES's inbound endpoint, so a network attacker cannot strip
 * STARTTLS or divert the MX. Two things make a policy: a TXT record `_mta-sts.<domain>` whose `id`
 * changes whenever the policy does, and the policy file at `https://mta-sts.<domain>/.well-known/mta-sts.txt`.
 *
 * The file is one private S3 object served by one CloudFront distribution (aliases `mta-sts.<domain>`
 * for every domain, with the ACM certificate the operator issued in us-east-1, CloudFront's region for
 * certificates), reading the bucket through origin access control. TLS reports (RFC 8460) go to
 * `reportingAddress` when set (`_smtp._tls.<domain>`).
 */
import { createHash } from "node:crypto";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { MtaStsMode } from "../config/schema";
import { inboundSmtpEndpoint } from "./arns";
import type { StackContext } from "./context";
import type { DnsRecord } from "./inbound";
import { mtaStsBucketPolicy } from "./policies";
import { privateBucketControls } from "./private-bucket";

/** Where RFC 8461 §3.3 says senders fetch the policy. */
export const MTA_STS_POLICY_PATH = ".well-known/mta-sts.txt";
/** CloudFront's managed cache policy "CachingOptimized": the file changes only with a deployment. */
export const CACHING_OPTIMIZED_POLICY_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6";
export const DAY_SECONDS = 24 * 60 * 60;

/** The policy file: CRLF-terminated `key: value` lines (RFC 8461 §3.2). SES's inbound endpoint is the only MX. */
export function mtaStsPolicy(args: { mode: MtaStsMode; region: string; maxAgeDays: number }): string {
  const lines = [
    "version: STSv1",
    `mode: ${args.mode}`,
    `mx: ${inboundSmtpEndpoint(args.region)}`,
    `max_age: ${args.maxAgeDays * DAY_SECONDS}`,
  ];
  return lines.map((line) => `${line}\r\n`).join("");
}

/** The policy's `id` (1 to 32 letters and digits): derived from the text, so it changes exactly when the policy does. */
export function mtaStsPolicyId(policy: string): string {
  return createHash("sha256").update(policy).digest("hex").slice(0, 32);
}

/** The records a domain publishes for MTA-STS (and TLS reporting when an address is given). */
export function mtaStsDnsRecords(domain: string, args: { policyId: string; policyHost: string; reportingAddress?: string }): DnsRecord[] {
  return [
    { name: `_mta-sts.${domain}`, type: "TXT", value: `v=STSv1; id=${args.policyId}` },
    { name: `mta-sts.${domain}`, type: "CNAME", value: args.policyHost },
    ...(args.reportingAddress
      ? [{ name: `_smtp._tls.${domain}`, type: "TXT" as const, value: `v=TLSRPTv1; rua=mailto:${args.reportingAddress}` }]
      : []),
  ];
}

export interface MtaStsArgs {
  readonly stack: StackContext;
  readonly domains: readonly string[];
  readonly mode: MtaStsMode;
  readonly maxAgeDays: number;
  /** An issued ACM certificate in us-east-1 covering `mta-sts.<domain>` for every domain. */
  readonly certificateArn: string;
  readonly reportingAddress?: string;
}

export class MtaSts extends pulumi.ComponentResource {
  public readonly bucket: aws.s3.Bucket;
  public readonly distribution: aws.cloudfront.Distribution;
  /** The policy file's text. */
  public readonly policy: pulumi.Output<string>;
  public readonly dnsRecords: pulumi.Output<Record<string, DnsRecord[]>>;

  constructor(name: string, args: MtaStsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:inbound:MtaSts", name, {}, opts);
    const { stack } = args;
    const parent = { parent: this };

    this.policy = stack.aws.apply((ctx) => mtaStsPolicy({ mode: args.mode, region: ctx.region, maxAgeDays: args.maxAgeDays }));
    this.bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      { bucket: stack.aws.apply((ctx) => stack.names.mtaStsBucket(ctx.accountId)) },
      parent,
    );
    const policyPrerequisites = privateBucketControls(name, this.bucket, parent);
    new aws.s3.BucketObjectv2(
      `${name}-policy-file`,
      { bucket: this.bucket.id, key: MTA_STS_POLICY_PATH, content: this.policy, contentType: "text/plain" },
      parent,
    );

    const originAccess = new aws.cloudfront.OriginAccessControl(
      `${name}-origin-access`,
      {
        name: `ses-mail-mta-sts-${stack.env}`,
        description: "CloudFront reads the MTA-STS policy from its private bucket",
        originAccessControlOriginType: "s3",
        signingBehavior: "always",
        signingProtocol: "sigv4",
      },
      parent,
    );
    const originId = "mta-sts-policy";
    this.distribution = new aws.cloudfront.Distribution(
      `${name}-distribution`,
      {
        enabled: true,
        comment: `ses-mail ${stack.env}: MTA-STS policy`,
        aliases: args.domains.map((domain) => `mta-sts.${domain}`),
        origins: [{ domainName: this.bucket.bucketRegionalDomainName, originId, originAccessControlId: originAccess.id }],
        defaultCacheBehavior: {
          targetOriginId: originId,
          // RFC 8461 §3.3: the policy is fetched over HTTPS only.
          viewerProtocolPolicy: "https-only",
          allowedMethods: ["GET", "HEAD"],
          cachedMethods: ["GET", "HEAD"],
          cachePolicyId: CACHING_OPTIMIZED_POLICY_ID,
          compress: true,
        },
        restrictions: { geoRestriction: { restrictionType: "none" } },
        viewerCertificate: { acmCertificateArn: args.certificateArn, sslSupportMethod: "sni-only", minimumProtocolVersion: "TLSv1.2_2021" },
        priceClass: "PriceClass_100",
        httpVersion: "http2and3",
      },
      parent,
    );
    new aws.s3.BucketPolicy(
      `${name}-bucket-policy`,
      {
        bucket: this.bucket.id,
        policy: pulumi
          .all([this.bucket.arn, this.distribution.arn])
          .apply(([bucketArn, distributionArn]) =>
            JSON.stringify(mtaStsBucketPolicy({ bucketArn, distributionArn, objectKey: MTA_STS_POLICY_PATH })),
          ),
      },
      { parent: this, dependsOn: policyPrerequisites },
    );

    this.dnsRecords = pulumi.all([this.policy, this.distribution.domainName]).apply(([policy, policyHost]) =>
      Object.fromEntries(
        args.domains.map((domain) => [
          domain,
          mtaStsDnsRecords(domain, {
            policyId: mtaStsPolicyId(policy),
            policyHost,
            ...(args.reportingAddress ? { reportingAddress: args.reportingAddress } : {}),
          }),
        ]),
      ),
    );
    this.registerOutputs({ distributionDomainName: this.distribution.domainName, dnsRecords: this.dnsRecords });
  }
}
