/**
 * `ses-mail synth` end to end, as a user runs it (a fresh process through bin/ses-mail.js): both shipped
 * stacks, the files a reviewer diffs, the stops at the region's active receipt rule set, and the errors
 * a user can fix. The summary printed without --out is checked in-process (synth-command.test.ts).
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { identityChanges, readIdentities, resourceIdentities } from "../helpers/identities";
import { ARCHIVES_DIR } from "../helpers/lambda-archive";
import { PROJECT_ROOT } from "../helpers/synth";

const execFileAsync = promisify(execFile);

async function sesMail(args: string[], cwd = PROJECT_ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [path.join(PROJECT_ROOT, "bin", "ses-mail.js"), ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === "number" ? failed.code : -1, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

interface ResourcesJson {
  stack: string;
  deprecations: unknown[];
  outputs: Record<string, unknown>;
  lambdas: Record<string, { files: number; unzippedBytes: number; zippedBytesEstimate: number; packages: string[] }>;
  resources: Array<{ urn: string; type: string; name: string; parent?: string; custom: boolean; inputs: Record<string, unknown>; outputs: Record<string, unknown> }>;
}

type Run = { code: number; stdout: string; stderr: string };
const outDir = (stack: string) => path.join(ARCHIVES_DIR, `synth-cli-${stack}`);
const joinFile = path.join(ARCHIVES_DIR, "Pulumi.join.yaml");
/**
 * Every synth this file checks, started together (each is a separate process, with the real handlers):
 * both shipped stacks written out, and two the active receipt rule set stops. The summary printed
 * without --out is checked in-process (synth-command.test.ts).
 */
let runs: { test: Run; prod: Run; refusedOwn: Run; refusedJoin: Run };

beforeAll(async () => {
  fs.mkdirSync(ARCHIVES_DIR, { recursive: true });
  for (const stack of ["test", "prod"]) fs.rmSync(outDir(stack), { recursive: true, force: true });
  fs.writeFileSync(joinFile, "config:\n  aws:region: eu-west-2\n  ses-mail:domains: [test.example.com]\n  ses-mail:joinExistingRuleSet: ses-ruleset-prod\n");
  const [test, prod, refusedOwn, refusedJoin] = await Promise.all([
    // From another working directory: the stack file is found in the project, DIR is relative to where we are.
    sesMail(["synth", "--stack", "test", "--out", path.relative(ARCHIVES_DIR, outDir("test"))], ARCHIVES_DIR),
    sesMail(["synth", "--stack", "prod", "--out", path.relative(ARCHIVES_DIR, outDir("prod"))], ARCHIVES_DIR),
    // test, in an account where prod's set is active, without joining it
    sesMail(["synth", "--stack", "test", "--active-rule-set", "ses-ruleset-prod"]),
    // a test stack told to join prod's set before prod exists
    sesMail(["synth", "--stack", "test", "--config", joinFile, "--active-rule-set", "none"]),
  ]);
  runs = { test, prod, refusedOwn, refusedJoin };
}, 300_000);

describe.each(["test", "prod"] as const)("ses-mail synth --stack %s --out DIR", (stack) => {
  const out = outDir(stack);
  let result: Run;
  let document: ResourcesJson;

  beforeAll(() => {
    result = runs[stack];
    document = JSON.parse(fs.readFileSync(path.join(out, "resources.json"), "utf8")) as ResourcesJson;
  });

  it("succeeds and says what it wrote", () => {
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toMatch(/^\d+ resources, 4 Lambda functions, 0 provider deprecations → /);
    expect(result.stderr).not.toMatch(/deprecated/);
  });

  it("resources.json: every resource with type, name, parent and inputs; secrets masked", () => {
    expect(document.stack).toBe(stack);
    expect(document.deprecations).toEqual([]);
    expect(document.resources.length).toBeGreaterThan(100);
    for (const resource of document.resources) {
      expect(resource).toEqual(expect.objectContaining({ urn: expect.any(String), type: expect.any(String), name: expect.any(String), inputs: expect.any(Object) }));
      if (!resource.type.startsWith("ses-mail:index:")) expect(resource.parent).toEqual(expect.stringMatching(/^urn:pulumi:/));
    }
    for (const parameter of document.resources.filter((r) => r.type === "aws:ssm/parameter:Parameter")) expect(parameter.inputs.value).toBe("[secret]");
    expect(JSON.stringify(document)).not.toContain("PLACEHOLDER");
    expect(document.outputs.bucketName).toBe(`ses-mail-storage-123456789012-${stack}`);
  });

  it("resources.json: every resource keeps the identity committed in tests/components/identities/", () => {
    expect(identityChanges(stack, readIdentities(stack), resourceIdentities(document.resources))).toBeUndefined();
  });

  it("lambdas/<function>/: each archive unpacked, with its size", () => {
    const functions = fs.readdirSync(path.join(out, "lambdas")).sort();
    expect(functions).toEqual([`ses-mail-bouncer-${stack}`, `ses-mail-credential-manager-${stack}`, `ses-mail-gmail-forwarder-${stack}`, `ses-mail-router-enrichment-${stack}`]);
    for (const fn of functions) {
      expect(fs.readFileSync(path.join(out, "lambdas", fn, "__index.js"), "utf8")).toContain("exports.handler");
      expect(fs.readdirSync(path.join(out, "lambdas", fn, "node_modules", "zod"))).toContain("package.json");
      expect(document.lambdas[fn]!.zippedBytesEstimate).toBeLessThan(document.lambdas[fn]!.unzippedBytes);
    }
  });

  it("pipeline.mmd: the flow from SES to the handlers, drawn from the graph", () => {
    const diagram = fs.readFileSync(path.join(out, "pipeline.mmd"), "utf8");
    expect(diagram).toMatch(/^flowchart LR\n/);
    for (const name of [`ses-mail-inbound-${stack}`, `ses-email-processing-${stack}`, `ses-email-input-${stack}`, `ses-email-router-${stack}`, `route-to-gmail-${stack}`, `ses-mail-gmail-forwarder-${stack}`]) {
      expect(diagram).toContain(name);
    }
    for (const label of ["notify", "raw delivery", "poll", "enrich", "put decision", "target", "invoke", "rate(1 hour)"]) expect(diagram).toContain(`|"${label}"|`);
  });
});

describe("ses-mail synth stops where pulumi preview would: the active receipt rule set", () => {
  it("refuses to take over a rule set the stack did not create, and says how to join or replace it", () => {
    const { refusedOwn } = runs;
    expect(refusedOwn.code).toBe(1);
    expect(refusedOwn.stderr).toMatch(/ses-mail refuses to deploy: the active receipt rule set in eu-west-2 is ses-ruleset-prod, which this stack did not create/);
    expect(refusedOwn.stderr).toMatch(/set ses-mail:joinExistingRuleSet: ses-ruleset-prod; to replace it on purpose, set ses-mail:replaceActiveRuleSet: ses-ruleset-prod/);
  });

  it("refuses to join a rule set that is not active", () => {
    const { refusedJoin } = runs;
    expect(refusedJoin.code).toBe(1);
    expect(refusedJoin.stderr).toMatch(/ses-mail:joinExistingRuleSet is ses-ruleset-prod, but no receipt rule set is active in eu-west-2/);
  });

});

describe("ses-mail synth errors a user can fix", () => {
  const badConfig = path.join(ARCHIVES_DIR, "Pulumi.bad.yaml");

  beforeAll(() => {
    fs.mkdirSync(ARCHIVES_DIR, { recursive: true });
    fs.writeFileSync(badConfig, "config:\n  aws:region: eu-west-2\n  ses-mail:domains: []\n");
  });

  it.each([
    [["synth"], /--stack is required/],
    [["synth", "--stack", "nope"], /no Pulumi\.nope\.yaml/],
    [["synth", "--stack", "bad", "--config", badConfig], /ses-mail:domains: list at least one domain/],
  ])("%j", async (args, message) => {
    const { code, stderr } = await sesMail(args);
    expect(code).toBe(1);
    expect(stderr).toMatch(message);
  }, 60_000);
});
