/**
 * `ses-mail synth` run in-process (the command through runCli, as tests/cli runs commands), with stub
 * handler factories: the summary printed without --out, for a stack that may replace the region's active
 * receipt rule set, and the errors a user can fix before any program runs. tests/components/synth-cli.test.ts
 * runs the command as a user does, in fresh processes with the real handlers: the files it writes and the
 * refusals at the active rule set (a refused program's rejections would fail a jest test before the
 * command could report them).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { captureOutput } from "../helpers/cli";
import { ARCHIVES_DIR } from "../helpers/lambda-archive";
import { stubHandlerFactories } from "../helpers/synth";

type Run = { code: number; stdout: string; stderr: string };

/** One `ses-mail synth …` (once per test file: Pulumi's runtime state is global). */
async function sesMailSynth(args: string[]): Promise<Run> {
  stubHandlerFactories();
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded after the stubs are in place */
  const { runCli } = require("../../cli/framework") as typeof import("../../cli/framework");
  const { SYNTH_COMMANDS } = require("../../cli/synth") as typeof import("../../cli/synth");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const out = captureOutput();
  const code = await runCli(SYNTH_COMMANDS, ["synth", ...args], out, { PATH: process.env.PATH ?? "" });
  return { code, stdout: out.stdout.join("\n"), stderr: out.stderr.join("\n") };
}

const takeoverFile = path.join(ARCHIVES_DIR, "Pulumi.command-takeover.yaml");
let replacing: Run;

beforeAll(async () => {
  fs.mkdirSync(ARCHIVES_DIR, { recursive: true });
  fs.writeFileSync(
    takeoverFile,
    "config:\n  aws:region: eu-west-2\n  ses-mail:domains: [test.example.com]\n  ses-mail:replaceActiveRuleSet: legacy-rules\n",
  );
  // a stack allowed to replace exactly the active set, without --out: the summary
  replacing = await sesMailSynth(["--stack", "takeover", "--config", takeoverFile, "--active-rule-set", "legacy-rules"]);
}, 120_000);

describe("ses-mail synth without --out", () => {
  it("prints a readable summary", () => {
    const { code, stdout } = replacing;
    expect(code).toBe(0);
    expect(stdout).toMatch(/^stack takeover: \d+ AWS resources in \d+ components \(region eu-west-2, mocked account 123456789012\)/);
    expect(stdout).toMatch(/ses-mail-gmail-forwarder-takeover\s+512 MB\s+300 s\s+nodejs24\.x/);
    expect(stdout).toContain("dnsRecords:");
    expect(stdout).toContain("provider deprecations: none");
    // A stack other than prod protects nothing; its receipt rule set and activation survive a destroy.
    expect(stdout).toMatch(
      /protected, kept or adopted:\n[\s\S]*?ActiveReceiptRuleSet\s+ses-mail-inbound-active-rule-set\s+kept on destroy\n/,
    );
    expect(stdout).not.toMatch(/protected\n|deletion protection \(AWS\)/);
  });
});

describe("ses-mail synth at the region's active receipt rule set", () => {
  it("replaces the active set when replaceActiveRuleSet names exactly it", () => {
    expect(replacing.stderr).not.toMatch(/refuses/);
    expect(replacing.code).toBe(0);
    expect(replacing.stdout).toContain("receiptRuleSetName: ses-ruleset-takeover");
  });
});

describe("ses-mail synth errors a user can fix, before any program runs", () => {
  const badConfig = path.join(ARCHIVES_DIR, "Pulumi.bad.yaml");

  beforeAll(() => {
    fs.writeFileSync(badConfig, "config:\n  aws:region: eu-west-2\n  ses-mail:domains: []\n");
  });

  it.each([
    [[], /--stack is required/],
    [["--stack", "nope"], /no Pulumi\.nope\.yaml/],
    [["--stack", "bad", "--config", badConfig], /ses-mail:domains: list at least one domain/],
  ])("%j", async (args, message) => {
    const { code, stderr } = await sesMailSynth(args);
    expect(code).toBe(1);
    expect(stderr).toMatch(message);
  });
});
