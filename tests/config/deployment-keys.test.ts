/**
 * The stack-config keys for deploying next to what exists and for protecting data (docs/DEPLOY.md):
 * their defaults, the values they accept, and the combinations they refuse with the key named.
 */
import { ConfigError, parseStackConfig } from "../../config/schema";

const CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

describe("deployment keys", () => {
  it("protects the data of prod by default, and of no other stack unless told", () => {
    expect(parseStackConfig({ domains: ["example.com"] }, "prod").deletionProtection).toBe(true);
    expect(parseStackConfig({ domains: ["example.com"] }, "test").deletionProtection).toBe(false);
    expect(parseStackConfig({ domains: ["example.com"], deletionProtection: "false" }, "prod").deletionProtection).toBe(false);
    expect(parseStackConfig({ domains: ["example.com"], deletionProtection: true }, "staging").deletionProtection).toBe(true);
  });

  it("reads tlsPolicy, logExecutionData, adoptIdentities, adoptRuleSet and replaceActiveRuleSet as Pulumi passes them", () => {
    const config = parseStackConfig(
      {
        domains: '["example.com","Example.ORG"]',
        tlsPolicy: "Optional",
        logExecutionData: "true",
        adoptIdentities: '["EXAMPLE.org"]',
        adoptRuleSet: "true",
        replaceActiveRuleSet: "default-rule-set",
      },
      "prod",
    );
    expect(config).toMatchObject({
      tlsPolicy: "Optional",
      logExecutionData: true,
      adoptIdentities: ["example.org"],
      adoptRuleSet: true,
      replaceActiveRuleSet: "default-rule-set",
    });
  });

  it("reads an MTA-STS block with its defaults", () => {
    const config = parseStackConfig({ domains: ["example.com"], mtaSts: { mode: "testing", certificateArn: CERTIFICATE } }, "prod");
    expect(config.mtaSts).toEqual({ mode: "testing", maxAgeDays: 7, certificateArn: CERTIFICATE });
    expect(parseStackConfig({ domains: ["example.com"] }, "prod").mtaSts).toBeUndefined();
  });

  it.each([
    [{ tlsPolicy: "require" }, "tlsPolicy", /Require|Optional/],
    [{ deletionProtection: "yes" }, "deletionProtection", /boolean/],
    [{ adoptIdentities: ["other.example"] }, "adoptIdentities", /other\.example is not one of ses-mail:domains/],
    [
      { joinExistingRuleSet: "ses-ruleset-prod", replaceActiveRuleSet: "ses-ruleset-prod" },
      "replaceActiveRuleSet",
      /either joins .* or replaces it/,
    ],
    [{ joinExistingRuleSet: "ses-ruleset-prod", adoptRuleSet: true }, "adoptRuleSet", /has no rule set of its own to adopt/],
    [
      { mtaSts: { mode: "enforce", certificateArn: CERTIFICATE.replace("us-east-1", "eu-west-2") } },
      "mtaSts",
      /ACM certificate in us-east-1/,
    ],
    [{ mtaSts: { mode: "none", certificateArn: CERTIFICATE } }, "mtaSts", /testing|enforce/],
    [{ mtaSts: { mode: "enforce", certificateArn: CERTIFICATE, maxAgeDays: 400 } }, "mtaSts", /365/],
    [{ mtaSts: { mode: "enforce", certificateArn: CERTIFICATE, reportingAddress: "not-an-address" } }, "mtaSts", /email address/],
    [{ mtaSts: { mode: "enforce", certificateArn: CERTIFICATE, policy: "x" } }, "mtaSts", /policy/],
  ])("refuses %j, naming %s", (values, key, message) => {
    const parse = () => parseStackConfig({ domains: ["example.com"], ...values }, "prod");
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(expect.objectContaining({ key, message: expect.stringMatching(message) }));
  });
});
