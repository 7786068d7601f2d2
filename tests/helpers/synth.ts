/**
 * Runs the real Pulumi program (index.ts) under runtime mocks for a stack file, with stub handler
 * factories, once per test file, and gives queries over what it
 * registered. `setMocks` happens inside synthesize(), before the program is required, as Pulumi's
 * mocks need.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { SynthResource, SynthResult } from "../../components/synth/run";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

export interface SynthRun {
  readonly result: SynthResult;
}

/**
 * Whether AWS resources of a type can be tagged, read from the provider's own declarations (independent
 * of the program's tagging): taggable resources declare a `tagsAll` output.
 */
export function isTaggable(type: string): boolean {
  const match = /^aws:([a-zA-Z0-9]+)\/([a-zA-Z0-9]+):[A-Za-z0-9]+$/.exec(type);
  if (!match) return false;
  const declarations = path.join(PROJECT_ROOT, "node_modules", "@pulumi", "aws", match[1]!, `${match[2]!}.d.ts`);
  return fs.readFileSync(declarations, "utf8").includes("readonly tagsAll:");
}

/**
 * The handler modules whose callback factories index.ts passes to the stack, and each factory's export.
 * Paths are relative to this file (jest resolves `jest.doMock` paths from the calling module).
 */
const HANDLER_FACTORIES: ReadonlyArray<readonly [module: string, factory: string]> = [
  ["../../handlers/router", "routerFactory"],
  ["../../handlers/gmail-forwarder", "gmailForwarderFactory"],
  ["../../handlers/bouncer", "bouncerFactory"],
  ["../../handlers/credential-manager", "credentialManagerFactory"],
];

/**
 * A callback factory that stands in for a handler's: it serializes in milliseconds (the real ones take
 * seconds each, through every module they reach) and says whose place it takes if it is ever invoked.
 */
export function stubFactory(handler: string): () => (event: unknown) => Promise<{ stub: string }> {
  return () => async () => ({ stub: handler });
}

/**
 * From now on in this test file, each handler module loads as it is except its callback factory, which
 * is a stub (`stubFactory`).
 */
export function stubHandlerFactories(): void {
  for (const [module, factory] of HANDLER_FACTORIES) {
    jest.doMock(module, () => ({ ...jest.requireActual<Record<string, unknown>>(module), [factory]: stubFactory(factory) }));
  }
}

/**
 * Synthesizes a stack from its stack file, with config overrides (raw Pulumi values; `undefined` removes
 * a key). index.ts runs as it is, and every handler module as it is except its callback factory, which
 * is a stub: these tests are about how config and code map to resources (names, settings, policies, the
 * packages each archive carries). The real handlers are serialized where that is the point: by the synth
 * CLI, whose archives tests/components/synth-cli.test.ts runs as Lambda would.
 */
export async function synthStack(stack: string, overrides: Record<string, string | undefined> = {}): Promise<SynthRun> {
  stubHandlerFactories();
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded after the test starts, as the mocks require */
  const { synthesize } = require("../../components/synth/run") as typeof import("../../components/synth/run");
  const { pulumiConfigFromStackFile } = require("../../config/pulumi") as typeof import("../../config/pulumi");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const config: Record<string, string> = { ...pulumiConfigFromStackFile(path.join(PROJECT_ROOT, `Pulumi.${stack}.yaml`)) };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete config[key];
    else config[key] = value;
  }
  return { result: await synthesize({ stack, config }) };
}

/** What the queries below read: a synthesis, or the part of one under a component (helpers/stage.ts `within`). */
type Resources = Pick<SynthResult, "resources">;

export function ofType(result: Resources, type: string): SynthResource[] {
  return result.resources.filter((resource) => resource.type === type);
}

/** The one resource of a type whose physical name (or logical name) is `name`. */
export function named(result: Resources, type: string, name: string): SynthResource {
  const physical = (resource: SynthResource) =>
    resource.inputs.name ?? resource.inputs.bucket ?? resource.inputs.dashboardName ?? resource.outputs.name;
  const found = ofType(result, type).filter((resource) => physical(resource) === name || resource.name === name);
  if (found.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${found.length}`);
  return found[0]!;
}

export const T = {
  bucket: "aws:s3/bucket:Bucket",
  queue: "aws:sqs/queue:Queue",
  queuePolicy: "aws:sqs/queuePolicy:QueuePolicy",
  topic: "aws:sns/topic:Topic",
  subscription: "aws:sns/topicSubscription:TopicSubscription",
  table: "aws:dynamodb/table:Table",
  tableItem: "aws:dynamodb/tableItem:TableItem",
  function: "aws:lambda/function:Function",
  eventSourceMapping: "aws:lambda/eventSourceMapping:EventSourceMapping",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  rolePolicyAttachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  logGroup: "aws:cloudwatch/logGroup:LogGroup",
  bus: "aws:cloudwatch/eventBus:EventBus",
  rule: "aws:cloudwatch/eventRule:EventRule",
  target: "aws:cloudwatch/eventTarget:EventTarget",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
  dashboard: "aws:cloudwatch/dashboard:Dashboard",
  stateMachine: "aws:sfn/stateMachine:StateMachine",
  schedule: "aws:scheduler/schedule:Schedule",
  pipe: "aws:pipes/pipe:Pipe",
  parameter: "aws:ssm/parameter:Parameter",
  kmsKey: "aws:kms/key:Key",
  kmsAlias: "aws:kms/alias:Alias",
  receiptRule: "aws:ses/receiptRule:ReceiptRule",
  receiptRuleSet: "aws:ses/receiptRuleSet:ReceiptRuleSet",
  activeRuleSet: "aws:ses/activeReceiptRuleSet:ActiveReceiptRuleSet",
  identity: "aws:sesv2/emailIdentity:EmailIdentity",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  application: "aws:servicecatalog/appregistryApplication:AppregistryApplication",
  resourceGroup: "aws:resourcegroups/group:Group",
} as const;
