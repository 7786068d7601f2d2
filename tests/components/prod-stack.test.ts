/**
 * The shipped `prod` stack (Pulumi.prod.yaml) run under Pulumi mocks, with production extras set: one
 * domain's SES identity already exists (adopted, not created), the stack is deployed again after a
 * destroy (its kept rule set adopted) and MTA-STS is on. Proves the data is deletion-protected by
 * default, what exists is adopted and survives destroy, the MTA-STS policy is served and published,
 * and nothing deprecated is declared.
 */
import { findDeprecations, formatDeprecation } from "../../components/synth/deprecations";
import { named, ofType, synthStack, T, type SynthRun } from "../helpers/synth";

const A = "123456789012";
const R = "eu-west-2";
const CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
let run: SynthRun;

beforeAll(async () => {
  run = await synthStack("prod", {
    "ses-mail:adoptIdentities": JSON.stringify(["example.org"]),
    "ses-mail:adoptRuleSet": "true",
    "ses-mail:mtaSts": JSON.stringify({ mode: "testing", certificateArn: CERTIFICATE, reportingAddress: "tls-reports@example.com" }),
  });
}, 120_000);

describe("data that must survive mistakes", () => {
  it("prod's routing table, bucket and credential key are deletion-protected without being told", () => {
    expect(named(run.result, T.table, "ses-mail-email-routing-prod").inputs.deletionProtectionEnabled).toBe(true);
    expect(named(run.result, T.bucket, `ses-mail-storage-${A}-prod`).options).toEqual({ protect: true });
    const key = ofType(run.result, T.kmsKey)[0]!;
    expect(key.options).toEqual({ protect: true });
    expect(key.inputs).toMatchObject({ deletionWindowInDays: 30, enableKeyRotation: true });
  });
});

describe("an SES identity that already exists", () => {
  it("is imported as it is (no DKIM settings of ours), compared on nothing it keeps, and kept on destroy", () => {
    const adopted = named(run.result, T.identity, "ses-mail-inbound-identity-example.org");
    expect(adopted.inputs.emailIdentity).toBe("example.org");
    expect(adopted.inputs.dkimSigningAttributes).toBeUndefined();
    expect(adopted.options).toEqual({
      import: "example.org",
      retainOnDelete: true,
      ignoreChanges: ["dkimSigningAttributes", "configurationSetName", "tags"],
    });
    // The other domain is created by the stack, as before.
    const created = named(run.result, T.identity, "ses-mail-inbound-identity-example.com");
    expect(created.options).toBeUndefined();
    expect(created.inputs.dkimSigningAttributes).toEqual({ nextSigningKeyLength: "RSA_2048_BIT" });
  });

  it("publishes the adopted identity's existing DKIM records", () => {
    const adopted = named(run.result, T.identity, "ses-mail-inbound-identity-example.org");
    const tokens = (adopted.outputs.dkimSigningAttributes as { tokens: string[] }).tokens;
    const records = (run.result.outputs.dnsRecords as Record<string, Array<{ name: string; type: string; value: string }>>)["example.org"]!;
    expect(records.filter((record) => record.name.endsWith("._domainkey.example.org")).map((record) => record.value)).toEqual(
      tokens.map((token) => `${token}.dkim.amazonses.com`),
    );
  });
});

describe("deployed again after a destroy", () => {
  it("adopts the rule set the destroy kept, and keeps it again", () => {
    expect(ofType(run.result, T.receiptRuleSet).map((set) => [set.inputs.ruleSetName, set.options])).toEqual([
      ["ses-ruleset-prod", { retainOnDelete: true, import: "ses-ruleset-prod" }],
    ]);
    expect(ofType(run.result, T.activeRuleSet).map((set) => set.options)).toEqual([{ retainOnDelete: true }]);
  });
});

describe("MTA-STS", () => {
  const policyText = "version: STSv1\r\nmode: testing\r\nmx: inbound-smtp.eu-west-2.amazonaws.com\r\nmax_age: 604800\r\n";

  it("the policy file is a private object, served over HTTPS only by CloudFront under mta-sts.<domain>", () => {
    const bucketName = `ses-mail-mta-sts-${A}-prod`;
    const file = ofType(run.result, "aws:s3/bucketObjectv2:BucketObjectv2")[0]!;
    expect(file.inputs).toMatchObject({
      bucket: bucketName,
      key: ".well-known/mta-sts.txt",
      content: policyText,
      contentType: "text/plain",
    });
    const distribution = ofType(run.result, "aws:cloudfront/distribution:Distribution")[0]!;
    expect(distribution.inputs).toMatchObject({
      enabled: true,
      aliases: ["mta-sts.example.com", "mta-sts.example.org"],
      origins: [
        { domainName: `${bucketName}.s3.${R}.amazonaws.com`, originId: "mta-sts-policy", originAccessControlId: expect.any(String) },
      ],
      defaultCacheBehavior: { viewerProtocolPolicy: "https-only", allowedMethods: ["GET", "HEAD"], targetOriginId: "mta-sts-policy" },
      viewerCertificate: { acmCertificateArn: CERTIFICATE, sslSupportMethod: "sni-only", minimumProtocolVersion: "TLSv1.2_2021" },
    });
    const access = ofType(run.result, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").find(
      (block) => block.inputs.bucket === bucketName,
    )!;
    expect(access.inputs).toMatchObject({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    const policy = JSON.parse(String(ofType(run.result, T.bucketPolicy).find((p) => p.inputs.bucket === bucketName)!.inputs.policy)) as {
      Statement: Array<Record<string, unknown>>;
    };
    expect(policy.Statement[0]).toMatchObject({
      Principal: { Service: "cloudfront.amazonaws.com" },
      Condition: { StringEquals: { "AWS:SourceArn": distribution.outputs.arn } },
    });
  });

  it("every domain publishes the policy id, the policy host and where TLS reports go", () => {
    const distribution = ofType(run.result, "aws:cloudfront/distribution:Distribution")[0]!;
    const records = run.result.outputs.dnsRecords as Record<string, Array<{ name: string; type: string; value: string }>>;
    for (const domain of ["example.com", "example.org"]) {
      expect(records[domain]).toEqual(
        expect.arrayContaining([
          { name: `_mta-sts.${domain}`, type: "TXT", value: expect.stringMatching(/^v=STSv1; id=[a-z0-9]{32}$/) },
          { name: `mta-sts.${domain}`, type: "CNAME", value: distribution.outputs.domainName },
          { name: `_smtp._tls.${domain}`, type: "TXT", value: "v=TLSRPTv1; rua=mailto:tls-reports@example.com" },
        ]),
      );
      expect(records[domain]![0]).toMatchObject({ type: "MX", value: `10 inbound-smtp.${R}.amazonaws.com` });
    }
  });
});

describe("provider hygiene", () => {
  it("declares nothing the provider marks deprecated", () => {
    expect(findDeprecations(run.result.resources).map(formatDeprecation)).toEqual([]);
  });

  it("requires TLS of senders by default", () => {
    expect(named(run.result, T.receiptRule, "ses-mail-inbound-prod").inputs.tlsPolicy).toBe("Require");
  });
});
