/**
 * Stage-level mock tests, as pulumi-awsx and pulumi-eks test their components: a program builds one
 * component (or a few, under different names) with exactly the args a test gives it, under the same
 * runtime mocks and recorder as `ses-mail synth` (components/synth/run.ts), and the test asserts on what
 * was registered. One synthesis per test file: Pulumi's runtime state is global.
 */
import * as pulumi from "@pulumi/pulumi";
import type { AwsContext } from "../../components/arns";
import type { StackContext } from "../../components/context";
import { metricsNamespace, stackNames } from "../../components/naming";
import { MOCK_ACCOUNT_ID } from "../../components/synth/mocks";
import type { SynthResource, SynthResult } from "../../components/synth/run";

export const STAGE_REGION = "eu-west-2";
export const STAGE_AWS: AwsContext = { partition: "aws", region: STAGE_REGION, accountId: MOCK_ACCOUNT_ID };

/** What a stage receives from SesMail for a stack named `env`, with the stack-wide settings a test picks. */
export function stageContext(
  env: string,
  settings: Partial<Pick<StackContext, "logRetentionDays" | "logExecutionData">> = {},
): StackContext {
  return {
    env,
    names: stackNames(env),
    aws: pulumi.output(STAGE_AWS),
    logRetentionDays: settings.logRetentionDays ?? 30,
    metricsNamespace: metricsNamespace(env),
    logExecutionData: settings.logExecutionData ?? false,
  };
}

/**
 * Runs `build` under the mocks and returns every resource it registered. `build` returns the outputs to
 * resolve (a rejected one fails the synthesis, as `pulumi preview` would fail).
 */
export async function synthStages(
  build: () => Record<string, unknown>,
  options: { activeRuleSet?: string | null } = {},
): Promise<SynthResult> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded when the test starts, like the program
  const { synthesize } = require("../../components/synth/run") as typeof import("../../components/synth/run");
  return synthesize({
    stack: "stages",
    config: { "aws:region": STAGE_REGION },
    program: build,
    ...(options.activeRuleSet !== undefined ? { activeRuleSet: options.activeRuleSet } : {}),
  });
}

/** The resources under the component named `name` (its children, theirs, and so on), the component excluded. */
export function within(result: Pick<SynthResult, "resources">, name: string): { resources: SynthResource[] } {
  const roots = result.resources.filter((resource) => !resource.custom && resource.name === name);
  if (roots.length !== 1) throw new Error(`expected one component named ${name}, found ${roots.length}`);
  const byUrn = new Map(result.resources.map((resource) => [resource.urn, resource]));
  const underRoot = (resource: SynthResource): boolean => {
    for (let parent = resource.parent; parent; parent = byUrn.get(parent)?.parent) if (parent === roots[0]!.urn) return true;
    return false;
  };
  return { resources: result.resources.filter(underRoot) };
}
