/**
 * The pure decisions behind production hardening, without Pulumi: when a stack may touch the region's
 * active receipt rule set, how long queues ride out failures, the MTA-STS policy and its records, and
 * names that must fit tight limits.
 */
import fc from "fast-check";
import { activeRuleSetProblem, isNoActiveRuleSet, ruleSetOf } from "../../components/active-rule-set";
import { BOUNCER_THROTTLE_RIDE_OUT_SECONDS, bouncerMaxReceiveCount } from "../../components/bouncer";
import { fittedName, NAME_LIMITS, stackNames } from "../../components/naming";
import { INPUT_QUEUE_OUTAGE_SECONDS, inputQueueSettings } from "../../components/notification";
import { mtaStsDnsRecords, mtaStsPolicy, mtaStsPolicyId } from "../../components/mta-sts";
import { visibilityForFunction } from "../../components/queue";
import { invokeFailure } from "../../components/synth/mocks";
import { samplingRuleArgs, stackServicePattern } from "../../components/tracing";

const REGION = "eu-west-2";

describe("the region's active receipt rule set", () => {
  const own = { ownRuleSet: "ses-ruleset-test" };

  it.each([
    ["nothing is active (a first deploy)", undefined],
    ["its own set is active (every later deploy)", "ses-ruleset-test"],
  ])("a stack with its own set goes ahead when %s", (_why, active) => {
    expect(activeRuleSetProblem(own, active, REGION)).toBeUndefined();
    expect(ruleSetOf(own)).toBe("ses-ruleset-test");
  });

  it("a stack refuses to take over a set it did not create, and names both ways out", () => {
    expect(activeRuleSetProblem(own, "ses-ruleset-prod", REGION)).toBe(
      "the active receipt rule set in eu-west-2 is ses-ruleset-prod, which this stack did not create; activating ses-ruleset-test would stop every rule in ses-ruleset-prod from receiving mail. " +
        "To add this stack's rule to it, set ses-mail:joinExistingRuleSet: ses-ruleset-prod; to replace it on purpose, set ses-mail:replaceActiveRuleSet: ses-ruleset-prod " +
        '(docs/DEPLOY.md, "Two stacks in one AWS account").',
    );
  });

  it("replaces the active set only when replaceActiveRuleSet names exactly that set", () => {
    expect(activeRuleSetProblem({ ...own, replaceActiveRuleSet: "default-rule-set" }, "default-rule-set", REGION)).toBeUndefined();
    expect(activeRuleSetProblem({ ...own, replaceActiveRuleSet: "default-rule-set" }, "ses-ruleset-prod", REGION)).toMatch(
      /ses-mail:replaceActiveRuleSet names default-rule-set, not ses-ruleset-prod/,
    );
  });

  it("joins only the set that is active", () => {
    const joining = { ...own, joinExistingRuleSet: "ses-ruleset-prod" };
    expect(ruleSetOf(joining)).toBe("ses-ruleset-prod");
    expect(activeRuleSetProblem(joining, "ses-ruleset-prod", REGION)).toBeUndefined();
    expect(activeRuleSetProblem(joining, undefined, REGION)).toMatch(
      /^ses-mail:joinExistingRuleSet is ses-ruleset-prod, but no receipt rule set is active in eu-west-2: a rule added to an inactive set receives no mail/,
    );
    expect(activeRuleSetProblem(joining, "other", REGION)).toMatch(/but the active receipt rule set in eu-west-2 is other/);
  });

  it("tells 'nothing is active' from a failure to ask", () => {
    const token = "aws:ses/getActiveReceiptRuleSet:getActiveReceiptRuleSet";
    expect(isNoActiveRuleSet(new Error(invokeFailure(token, "reading SES Active Receipt Rule Set: empty result").message))).toBe(true);
    expect(isNoActiveRuleSet(Object.assign(new Error("Rule set does not exist"), { name: "RuleSetDoesNotExist" }))).toBe(true);
    expect(isNoActiveRuleSet(new Error("AccessDenied: not authorized to perform ses:DescribeActiveReceiptRuleSet"))).toBe(false);
    expect(isNoActiveRuleSet(new Error("no valid credential sources for Terraform AWS Provider found"))).toBe(false);
  });
});

describe("riding out failures", () => {
  it("the input queue: visibility six router timeouts, enough receives to outlast the outage, and no more", () => {
    expect(inputQueueSettings(30)).toEqual({ visibilityTimeoutSeconds: 180, maxReceiveCount: 6 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 900 }), fc.integer({ min: 60, max: 24 * 3600 }), (timeout, outage) => {
        const { visibilityTimeoutSeconds: visibility, maxReceiveCount: receives } = inputQueueSettings(timeout, outage);
        expect(visibility).toBe(visibilityForFunction(timeout));
        expect(visibility).toBeGreaterThan(timeout);
        // The last receive, (receives - 1) visibilities after the first, comes after the outage ends…
        expect((receives - 1) * visibility).toBeGreaterThanOrEqual(outage);
        // …and one receive fewer would not.
        expect((receives - 2) * visibility).toBeLessThan(outage);
      }),
    );
    expect(INPUT_QUEUE_OUTAGE_SECONDS).toBe(15 * 60);
  });

  it("the bouncer queue: a throttled bounce is retried for an hour before the DLQ", () => {
    expect(bouncerMaxReceiveCount(360)).toBe(11);
    expect((bouncerMaxReceiveCount(360) - 1) * 360).toBeGreaterThanOrEqual(BOUNCER_THROTTLE_RIDE_OUT_SECONDS);
  });
});

describe("MTA-STS", () => {
  it("the policy names SES's inbound endpoint as the only MX, in RFC 8461's CRLF lines", () => {
    expect(mtaStsPolicy({ mode: "enforce", region: REGION, maxAgeDays: 7 })).toBe(
      "version: STSv1\r\nmode: enforce\r\nmx: inbound-smtp.eu-west-2.amazonaws.com\r\nmax_age: 604800\r\n",
    );
  });

  it("the id is 32 letters and digits and changes exactly when the policy does", () => {
    const testing = mtaStsPolicy({ mode: "testing", region: REGION, maxAgeDays: 7 });
    const enforcing = mtaStsPolicy({ mode: "enforce", region: REGION, maxAgeDays: 7 });
    expect(mtaStsPolicyId(testing)).toMatch(/^[a-z0-9]{32}$/);
    expect(mtaStsPolicyId(testing)).toBe(mtaStsPolicyId(`${testing}`));
    expect(mtaStsPolicyId(testing)).not.toBe(mtaStsPolicyId(enforcing));
  });

  it("records: the policy TXT, the policy host, and TLS reporting when an address is given", () => {
    expect(
      mtaStsDnsRecords("example.com", { policyId: "abc123", policyHost: "d111.cloudfront.net", reportingAddress: "tls@example.com" }),
    ).toEqual([
      { name: "_mta-sts.example.com", type: "TXT", value: "v=STSv1; id=abc123" },
      { name: "mta-sts.example.com", type: "CNAME", value: "d111.cloudfront.net" },
      { name: "_smtp._tls.example.com", type: "TXT", value: "v=TLSRPTv1; rua=mailto:tls@example.com" },
    ]);
    expect(mtaStsDnsRecords("example.com", { policyId: "abc123", policyHost: "d111.cloudfront.net" })).toHaveLength(2);
  });
});

describe("tracing", () => {
  it("samples 1 % of the stack's own services, ahead of X-Ray's default rule", () => {
    expect(samplingRuleArgs("ses-mail-prod", "prod")).toMatchObject({
      fixedRate: 0.01,
      reservoirSize: 1,
      serviceName: "ses-*-prod",
      priority: 1000,
    });
    expect(stackServicePattern("test")).toBe("ses-*-test");
  });
});

describe("names with tight limits", () => {
  it("the sampling rule and the MTA-STS bucket fit for every stack name the config accepts, and stay distinct", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,30}$/), fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,30}$/), (a, b) => {
        const [one, two] = [stackNames(a), stackNames(b)];
        expect(one.xraySamplingRule.length).toBeLessThanOrEqual(NAME_LIMITS.xraySamplingRule);
        expect(one.mtaStsBucket("123456789012").length).toBeLessThanOrEqual(NAME_LIMITS.bucket);
        if (a !== b) expect(one.xraySamplingRule).not.toBe(two.xraySamplingRule);
      }),
    );
    expect(stackNames("prod").xraySamplingRule).toBe("ses-mail-prod");
    expect(fittedName("xraySamplingRule", "ses-mail-a-very-long-stack-name-here")).toMatch(/^ses-mail-a-very-long-st-[0-9a-f]{8}$/);
    expect(stackNames("prod").smtpUserBoundary).toBe("ses-mail-smtp-user-boundary-prod");
  });
});
