import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { configValuesFromYaml, loadStackConfig, loadStackConfigFile } from "../../config/load";
import { ConfigError, parseStackConfig } from "../../config/schema";
import { MIN_EMAIL_RETENTION_DAYS } from "../../core/retention";
import { DEFAULT_VERDICT_POLICY } from "../../core/verdicts";

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("stack config schema", () => {
  it("fills every default from the seed when only domains are given", () => {
    expect(parseStackConfig({ domains: ["Example.COM"] }, "test", "eu-west-2")).toEqual({
      environment: "test",
      region: "eu-west-2",
      domains: ["example.com"],
      routes: [],
      defaultAction: "bounce",
      verdictPolicy: DEFAULT_VERDICT_POLICY,
      emailRetentionDays: MIN_EMAIL_RETENTION_DAYS,
      logRetentionDays: 30,
      adoptRuleSet: false,
      adoptIdentities: [],
      deletionProtection: false,
      tlsPolicy: "Require",
      logExecutionData: false,
    });
  });

  it("reads the JSON strings Pulumi's runtime passes as well as YAML values", () => {
    const config = parseStackConfig(
      {
        domains: '["example.com"]',
        routes: '[{"recipient":"*@example.com","actions":[{"type":"forward-to-gmail","target":"Me@Gmail.com"}]}]',
        emailRetentionDays: "45",
        verdictPolicy: '{"spam":"drop"}',
      },
      "prod",
    );
    expect(config.routes).toEqual([
      { recipient: "*@example.com", enabled: true, actions: [{ type: "forward-to-gmail", target: "me@gmail.com" }] },
    ]);
    expect(config.emailRetentionDays).toBe(45);
    expect(config.verdictPolicy).toEqual({ ...DEFAULT_VERDICT_POLICY, spam: "drop" });
  });

  it.each([
    [{}, "domains", /required/],
    [{ domains: [] }, "domains", /at least one domain/],
    [{ domains: ["localhost"] }, "domains", /no dot/],
    [{ domains: ["a.com"], defaultAction: "forward" }, "defaultAction", /bounce|drop|store/],
    [{ domains: ["a.com"], logRetentionDays: 31 }, "logRetentionDays", /must be one of 1, 3, 5/],
    [{ domains: ["a.com"], emailRetentionDays: 0 }, "emailRetentionDays", /.+/],
    [{ domains: ["a.com"], alarmEmail: "ops" }, "alarmEmail", /email address/],
    [{ domains: ["a.com"], verdictPolicy: { spam: "burn" } }, "verdictPolicy", /spam/],
    [
      { domains: ["a.com"], routes: [{ recipient: "x@a.com", actions: [{ type: "bounce" }, { type: "drop" }] }] },
      "routes",
      /cannot be combined/,
    ],
    [
      {
        domains: ["a.com"],
        routes: [
          { recipient: "x@a.com", actions: [{ type: "drop" }] },
          { recipient: "X@a.com", actions: [{ type: "drop" }] },
        ],
      },
      "routes",
      /declared twice/,
    ],
    [{ domains: ["a.com"], routes: [{ recipient: "x*@a.com", actions: [{ type: "drop" }] }] }, "routes", /wildcard/],
    // A typo names the key meant, not the real key it leaves missing.
    [{ domain: ["a.com"] }, "domain", /^ses-mail:domain: unknown key; did you mean ses-mail:domains\?$/],
    [{ domains: ["a.com"], defaultActoin: "drop" }, "defaultActoin", /did you mean ses-mail:defaultAction\?/],
    [{ domains: ["a.com"], colour: "red" }, "colour", /unknown key \(known keys: domains, routes, /],
    [
      {},
      "domains",
      /is required: the domains SES receives mail for, e\.g\. `pulumi config set --path 'ses-mail:domains\[0\]' mail\.example\.net`/,
    ],
    // A declared route for a domain SES never receives for this stack could never match.
    [
      {
        domains: ["a.com"],
        routes: [
          { recipient: "*@a.com", actions: [{ type: "drop" }] },
          { recipient: "sales@b.com", actions: [{ type: "drop" }] },
        ],
      },
      "routes",
      /route 2 \(sales@b.com\) is for b\.com, which is not one of ses-mail:domains \(a\.com\): SES refuses mail for it, so the route could never match/,
    ],
    [
      {
        domains: ["a.com"],
        routes: [{ recipient: "x@a.com", actions: [{ type: "forward-to-gmail", target: "me@gmail.com", labels: ["/Receipts"] }] }],
      },
      "routes",
      /empty level/,
    ],
  ])("refuses %j, naming the key", (values, key, reason) => {
    const error = configError(() => parseStackConfig(values, "test"));
    expect(error.key).toBe(key);
    expect(error.message).toMatch(new RegExp(`^ses-mail:${key}: `));
    expect(error.message).toMatch(reason);
  });

  it("refuses a stack name that cannot be part of resource names", () => {
    expect(configError(() => parseStackConfig({ domains: ["a.com"] }, "Prod_EU")).message).toMatch(/lower-case letters, digits and -/);
  });
});

describe("stack config files", () => {
  it("loads the shipped test and prod stacks", () => {
    expect(loadStackConfig("test")).toMatchObject({ environment: "test", domains: ["test.example.com"], region: "eu-west-2" });
    expect(loadStackConfig("prod").routes.map((route) => route.recipient)).toEqual(["*@example.com", "postmaster@example.org", "*"]);
  });

  it("reads only ses-mail keys and aws:region, and says how to write a key without its namespace", () => {
    const yaml = "config:\n  aws:region: us-east-1\n  aws:profile: work\n  other:thing: 1\n  ses-mail:domains: [a.com]\n";
    expect(configValuesFromYaml(yaml, "Pulumi.x.yaml")).toEqual({ values: { domains: ["a.com"] }, region: "us-east-1" });
    expect(configError(() => configValuesFromYaml("config:\n  domains: [a.com]\n", "Pulumi.x.yaml")).message).toMatch(
      /write the key as ses-mail:domains/,
    );
  });

  it("says a secret cannot be read offline, and names a file it cannot read", () => {
    const secret = "config:\n  ses-mail:domains: [a.com]\n  ses-mail:alarmEmail:\n    secure: v1:abc\n";
    expect(configError(() => configValuesFromYaml(secret, "Pulumi.x.yaml")).message).toMatch(/alarmEmail: .*Pulumi secret/);
    expect(configError(() => loadStackConfigFile("/nonexistent/Pulumi.x.yaml")).message).toMatch(
      /cannot read \/nonexistent\/Pulumi.x.yaml/,
    );
  });

  it("takes the environment from the file name", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-config-"));
    try {
      const file = path.join(dir, "Pulumi.staging.yaml");
      fs.writeFileSync(file, "config:\n  ses-mail:domains: [staging.example.com]\n");
      expect(loadStackConfigFile(file).environment).toBe("staging");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
