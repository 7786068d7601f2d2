/**
 * `ses-mail synth`: the offline stand-in for `pulumi preview`. Runs the Pulumi program under runtime
 * mocks with a stack's config (no Pulumi CLI, no AWS account) and either prints a summary or writes
 * what a reviewer diffs: resources.json, every Lambda's code unpacked, and the pipeline diagram.
 *
 * It also reports what `pulumi preview` would warn or stop on: every input or resource type the AWS
 * provider marks deprecated, and the program's own refusals (an active receipt rule set this stack may
 * not take over). `--active-rule-set` says what the mocked region has active (default: the set the
 * stack joins, else none).
 *
 * Pulumi and the components load inside `run` (require, not import(): the CLI and jest both run this
 * file as CommonJS), so other commands start quickly.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import * as fs from "node:fs";
import * as path from "node:path";
import type { SynthResult } from "../components/synth/run";
import { stackFilePath } from "../config/load";
import { exampleConfigProblems } from "../config/schema";
import { formatTable, UserError, type Command, type CommandContext } from "./framework";

const USAGE = "ses-mail synth --stack NAME [--config FILE] [--out DIR] [--active-rule-set NAME|none]";

async function runSynth(context: CommandContext): Promise<void> {
  const stack = context.values.stack;
  if (typeof stack !== "string" || stack.length === 0) throw new UserError(`--stack is required\nusage: ${USAGE}`);
  const cwd = process.cwd();
  const out = typeof context.values.out === "string" ? path.resolve(cwd, context.values.out) : undefined;

  const { pulumiConfigFromStackFile, stackConfigFromPulumiValues } = require("../config/pulumi") as typeof import("../config/pulumi");
  const configFile = typeof context.values.config === "string" ? path.resolve(cwd, context.values.config) : stackFilePath(stack);
  const config = pulumiConfigFromStackFile(configFile);
  // Validate before starting the program, so a config mistake reads as one line naming the key.
  const stackConfig = stackConfigFromPulumiValues(config, stack);
  // The shipped examples synthesize (that is what reviewers and tests look at), but would not deploy.
  for (const problem of exampleConfigProblems(stackConfig))
    context.out.note(`warning: \`pulumi up\` stops on this stack as it is: ${problem.message}`);
  // What a deployment cannot do by itself: each Gmail account of a declared route needs its own consent.
  const accounts = [
    ...new Set(
      stackConfig.routes.flatMap((route) => route.actions.flatMap((action) => (action.type === "forward-to-gmail" ? [action.target] : []))),
    ),
  ].sort();
  if (accounts.length > 0) {
    context.out.note(
      `note: the declared routes forward to ${accounts.join(", ")}: after \`pulumi up\`, each needs a Gmail token or its mail waits in the retry queue ` +
        `(ses-mail oauth refresh --account ${accounts[0]} --stack ${stack}, and so on; ses-mail oauth status --stack ${stack} shows which have one)`,
    );
  }

  const activeOption = context.values["active-rule-set"];
  const activeRuleSet = typeof activeOption === "string" ? (activeOption === "none" ? null : activeOption) : undefined;

  context.out.note(`synthesizing stack ${stack} from ${path.relative(cwd, configFile) || configFile} (offline, mocked AWS)…`);
  const { synthesize, SynthProgramError } = require("../components/synth/run") as typeof import("../components/synth/run");
  let result: SynthResult;
  try {
    result = await synthesize({ stack, config, ...(activeRuleSet !== undefined ? { activeRuleSet } : {}) });
  } catch (error) {
    // What `pulumi preview` would stop on, as a user can read and fix it.
    if (error instanceof SynthProgramError) throw new UserError(error.message, { cause: error });
    throw error;
  }
  const { findDeprecations, formatDeprecation } =
    require("../components/synth/deprecations") as typeof import("../components/synth/deprecations");
  const deprecations = findDeprecations(result.resources);
  for (const deprecation of deprecations) context.out.note(`warning: deprecated: ${formatDeprecation(deprecation)}`);

  if (!out) {
    printSummary(context, result, stackConfig.domains, deprecations.length);
    return;
  }
  const { measureArchive, unpackArchive } = require("../components/synth/archive") as typeof import("../components/synth/archive");
  const { pipelineDiagram } = require("../components/synth/diagram") as typeof import("../components/synth/diagram");
  fs.mkdirSync(out, { recursive: true });
  const lambdasDir = path.join(out, "lambdas");
  fs.rmSync(lambdasDir, { recursive: true, force: true });
  const lambdas: Record<string, unknown> = {};
  for (const [name, archive] of [...result.archives.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const dir = path.join(lambdasDir, name);
    await unpackArchive(archive, dir);
    const size = measureArchive(dir);
    lambdas[name] = {
      files: size.files,
      unzippedBytes: size.unzippedBytes,
      zippedBytesEstimate: size.zippedBytes,
      packages: size.entries.map((e) => e.path),
    };
  }
  const document = {
    stack: result.stack,
    note: "Offline synth under Pulumi runtime mocks: account, ARNs and ids are stand-ins; secrets are masked.",
    aws: result.aws,
    outputs: result.outputs,
    lambdas,
    deprecations,
    resources: result.resources,
  };
  fs.writeFileSync(path.join(out, "resources.json"), `${JSON.stringify(document, null, 2)}\n`);
  fs.writeFileSync(path.join(out, "pipeline.mmd"), pipelineDiagram(result.resources));
  context.out.line(
    `${result.resources.length} resources, ${result.archives.size} Lambda functions, ${deprecations.length} provider deprecations → ${out}`,
  );
  context.out.line("  resources.json   every resource: type, name, parent, inputs (secrets masked), mocked outputs");
  context.out.line("  lambdas/<name>/  each function's code archive, unpacked");
  context.out.line("  pipeline.mmd     the pipeline as a Mermaid flowchart");
}

function printSummary(context: CommandContext, result: SynthResult, domains: readonly string[], deprecationCount: number): void {
  const { out } = context;
  const custom = result.resources.filter((resource) => resource.custom);
  out.line(
    `stack ${result.stack}: ${custom.length} AWS resources in ${result.resources.length - custom.length} components (region ${result.aws.region}, mocked account ${result.aws.accountId})`,
  );
  out.line(`domains: ${domains.join(", ")}`);
  out.line(`provider deprecations: ${deprecationCount === 0 ? "none" : `${deprecationCount} (listed above as warnings)`}`);
  out.line();

  const counts = new Map<string, number>();
  for (const resource of custom) counts.set(resource.type, (counts.get(resource.type) ?? 0) + 1);
  out.line("resources by type:");
  for (const line of formatTable([...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([type, count]) => [`  ${count}`, type])))
    out.line(line);
  out.line();

  const functions = custom.filter((resource) => resource.type === "aws:lambda/function:Function");
  out.line("functions:");
  const rows = functions.map((fn) => {
    const code = fn.inputs.code as { archive?: string[] } | undefined;
    const packages = (code?.archive ?? []).filter((entry) => entry.startsWith("node_modules/")).length;
    return [
      `  ${String(fn.inputs.name)}`,
      `${String(fn.inputs.memorySize)} MB`,
      `${String(fn.inputs.timeout)} s`,
      String(fn.inputs.runtime),
      `${packages} packages bundled`,
    ];
  });
  for (const line of formatTable(rows)) out.line(line);
  out.line();

  // What `pulumi destroy` will not delete, and what the stack takes over rather than creates.
  const guarded = custom.flatMap((resource) => {
    const what = [
      ...(resource.inputs.deletionProtectionEnabled === true ? ["deletion protection (AWS)"] : []),
      ...(resource.options?.protect ? ["protected"] : []),
      ...(resource.options?.retainOnDelete ? ["kept on destroy"] : []),
      ...(resource.options?.import ? [`adopted (import ${resource.options.import})`] : []),
    ];
    return what.length > 0 ? [[`  ${resource.type}`, resource.name, what.join(", ")]] : [];
  });
  out.line("protected, kept or adopted:");
  for (const line of formatTable(guarded.length > 0 ? guarded : [["  none"]])) out.line(line);
  out.line();

  out.line("outputs:");
  for (const [key, value] of Object.entries(result.outputs)) {
    if (value === undefined) continue;
    out.line(`  ${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
  }
  out.note("\nwrite resources.json, the unpacked Lambdas and pipeline.mmd with --out DIR");
}

/** @public The group's commands; cli/main.ts loads them (`require`) only when a command line names the group. */
export const SYNTH_COMMANDS: readonly Command[] = [
  {
    name: "synth",
    summary: "Run the Pulumi program offline (mocked AWS) and show or write every resource it declares",
    usage: USAGE,
    options: {
      stack: {
        type: "string",
        value: "NAME",
        description: "the stack to synthesize: its name is the {env} of every resource, its Pulumi.NAME.yaml the config",
      },
      config: { type: "string", value: "FILE", description: "read the config from this stack file instead of Pulumi.NAME.yaml" },
      out: {
        type: "string",
        value: "DIR",
        description: "write resources.json, lambdas/<function>/ and pipeline.mmd there instead of printing a summary",
      },
      "active-rule-set": {
        type: "string",
        value: "NAME|none",
        description: "the receipt rule set the mocked region has active, to see what a deployment would do there",
        defaultsTo: "the set ses-mail:joinExistingRuleSet names, else none",
      },
    },
    positionals: [0, 0],
    examples: [
      "ses-mail synth --stack test",
      "ses-mail synth --stack prod --out synth-out   # what a reviewer diffs",
      "ses-mail synth --stack test --active-rule-set ses-ruleset-prod",
    ],
    run: runSynth,
  },
];
