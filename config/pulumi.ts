/**
 * Stack configuration as the Pulumi program sees it: `pulumi.runtime.allConfig()` gives every key as
 * `namespace:key` with structured values as JSON text. The same schema (schema.ts) validates it, so
 * `pulumi up`, the CLI and local mode agree on every key and default.
 *
 * Also the reverse, for the offline synth: a stack file's values in the form Pulumi would pass them.
 */
import * as pulumi from "@pulumi/pulumi";
import { readStackFile } from "./load";
import { CONFIG_NAMESPACE, exampleConfigProblems, parseStackConfig, type StackConfig } from "./schema";

/** Validates the `ses-mail:` keys among Pulumi config values (`{ "ses-mail:domains": "[…]", "aws:region": "eu-west-2" }`). */
export function stackConfigFromPulumiValues(all: Readonly<Record<string, string>>, environment: string): StackConfig {
  const values: Record<string, unknown> = {};
  const prefix = `${CONFIG_NAMESPACE}:`;
  for (const [fullKey, value] of Object.entries(all)) {
    if (fullKey.startsWith(prefix)) values[fullKey.slice(prefix.length)] = value;
  }
  return parseStackConfig(values, environment, all["aws:region"]);
}

/**
 * Whether the program runs under Pulumi's runtime mocks (the offline synth, the tests) rather than
 * under the engine (`pulumi preview`, `pulumi up`). The mocks install their own monitor class.
 */
export function runningUnderMocks(): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the class is not re-exported from @pulumi/pulumi/runtime
  const { MockMonitor } = require("@pulumi/pulumi/runtime/mocks") as { MockMonitor: new (...args: never[]) => unknown };
  return pulumi.runtime.getMonitor() instanceof MockMonitor;
}

/**
 * The program's stack config: every `ses-mail:` key of the current stack, validated. Under the engine,
 * a stack still carrying the shipped example domains is refused (exampleConfigProblems), so the
 * examples cannot be deployed by accident; under mocks they are what the synth and tests run.
 */
export function readPulumiStackConfig(underMocks: () => boolean = runningUnderMocks): StackConfig {
  const config = stackConfigFromPulumiValues(pulumi.runtime.allConfig(), pulumi.getStack());
  const problems = exampleConfigProblems(config);
  if (problems.length > 0 && !underMocks()) throw problems[0]!;
  return config;
}

/** A stack file's `ses-mail:` keys and `aws:region`, as Pulumi passes them to a program (strings, JSON for structures). */
export function pulumiConfigFromStackFile(file: string): Record<string, string> {
  const { values, region } = readStackFile(file);
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    config[`${CONFIG_NAMESPACE}:${key}`] = typeof value === "string" ? value : JSON.stringify(value);
  }
  if (region) config["aws:region"] = region;
  return config;
}
