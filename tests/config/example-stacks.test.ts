import * as pulumi from "@pulumi/pulumi";
import { loadStackConfig } from "../../config/load";
import { readPulumiStackConfig, runningUnderMocks } from "../../config/pulumi";
import { ConfigError, exampleConfigProblems, isReservedExampleDomain, parseStackConfig } from "../../config/schema";

describe("the shipped example stacks cannot be deployed by accident", () => {
  it.each([
    ["example.com", true],
    ["test.example.com", true],
    ["example.org", true],
    ["mail.example.net", true],
    ["sender.example", true],
    ["box.test", true],
    ["example.co.uk", false],
    ["myexample.com", false],
    ["mail.family-smith.net", false],
  ])("%s is reserved for examples: %s", (domain, reserved) => {
    expect(isReservedExampleDomain(domain)).toBe(reserved);
  });

  it("finds the example domains and alarm address of the shipped prod and test stacks", () => {
    expect(exampleConfigProblems(loadStackConfig("prod")).map((problem) => problem.message)).toEqual([
      expect.stringMatching(
        /^ses-mail:domains: example\.com, example\.org are reserved for examples \(RFC 2606\): nobody can receive mail there\. This is the shipped example stack/,
      ),
      expect.stringMatching(/^ses-mail:alarmEmail: ops@example\.com is at a domain reserved for examples: alarms would go nowhere/),
    ]);
    expect(exampleConfigProblems(loadStackConfig("test")).map((problem) => problem.key)).toEqual(["domains", "alarmEmail"]);
    expect(exampleConfigProblems(parseStackConfig({ domains: ["mail.family-smith.net"], alarmEmail: "me@gmail.com" }, "prod"))).toEqual([]);
    // A declared forward to an example address can never reach a Gmail mailbox either.
    const forwarding = parseStackConfig(
      {
        domains: ["mail.family-smith.net"],
        routes: [{ recipient: "*@mail.family-smith.net", actions: [{ type: "forward-to-gmail", target: "you@example.com" }] }],
      },
      "prod",
    );
    expect(exampleConfigProblems(forwarding).map((problem) => problem.message)).toEqual([
      "ses-mail:routes: route 1 (*@mail.family-smith.net) forwards to you@example.com, at a domain reserved for examples: it cannot be a Gmail mailbox",
    ]);
  });

  describe("in the Pulumi program", () => {
    beforeAll(async () => {
      await pulumi.runtime.setMocks(
        { newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }), call: (args) => args.inputs },
        "ses-mail",
        "prod",
        false,
      );
      pulumi.runtime.setAllConfig({
        "ses-mail:domains": '["example.com"]',
        "ses-mail:alarmEmail": "ops@example.com",
        "aws:region": "eu-west-2",
      });
    });

    it("refuses under the engine (pulumi preview / up), naming the key and what to do", () => {
      let caught: unknown;
      try {
        readPulumiStackConfig(() => false);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as Error).message).toMatch(
        /^ses-mail:domains: example\.com is reserved for examples .*set your own domains first \(docs\/DEPLOY\.md, "Deploy a first stack"\)$/,
      );
    });

    it("runs under mocks (the offline synth and the tests), which is how it knows where it runs", () => {
      expect(runningUnderMocks()).toBe(true);
      expect(readPulumiStackConfig().domains).toEqual(["example.com"]);
    });
  });
});
