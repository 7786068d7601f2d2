/**
 * Least privilege, evaluated rather than eyeballed: an identity policy and a request go through an IAM
 * policy simulator (@cloud-copilot/iam-simulate), which answers Allowed, ImplicitlyDenied or ExplicitlyDenied.
 */
import type { PolicyDocument } from "../../components/policies";

export const TEST_ACCOUNT = "123456789012";
export const TEST_REGION = "eu-west-2";
export const TEST_CONTEXT = { partition: "aws", region: TEST_REGION, accountId: TEST_ACCOUNT } as const;

export type Decision = "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied";

export interface Probe {
  readonly action: string;
  readonly resource: string;
  readonly context?: Record<string, string | string[]>;
}

interface SimulationResult {
  resultType: "error" | "single" | "wildcard";
  overallResult?: Decision;
  errors?: unknown;
}

const parse = (policy: PolicyDocument | string): unknown => (typeof policy === "string" ? JSON.parse(policy) : policy);

/**
 * What IAM decides for one request: by `principal` (a role, or a service such as `ses.amazonaws.com`)
 * holding these identity policies, against a resource that may have a resource policy.
 */
export async function evaluate(args: {
  identityPolicies: ReadonlyArray<PolicyDocument | string>;
  resourcePolicy?: PolicyDocument | string;
  /** The principal's permissions boundary, when it has one. */
  permissionsBoundary?: PolicyDocument | string;
  principal: string;
  probe: Probe;
}): Promise<Decision> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS build of an ESM-first package
  const { runSimulation } = require("@cloud-copilot/iam-simulate") as {
    runSimulation: (simulation: unknown, options: unknown) => Promise<SimulationResult>;
  };
  const { probe } = args;
  const result = await runSimulation(
    {
      identityPolicies: args.identityPolicies.map((policy, index) => ({ name: `identity-${index}`, policy: parse(policy) })),
      ...(args.resourcePolicy ? { resourcePolicy: parse(args.resourcePolicy) } : {}),
      ...(args.permissionsBoundary ? { permissionBoundaryPolicies: [{ name: "boundary", policy: parse(args.permissionsBoundary) }] } : {}),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: {
        principal: args.principal,
        action: probe.action,
        resource: { resource: probe.resource, accountId: TEST_ACCOUNT },
        contextVariables: probe.context ?? {},
      },
    },
    {},
  );
  if (result.resultType === "error")
    throw new Error(`simulation of ${probe.action} on ${probe.resource} failed: ${JSON.stringify(result.errors)}`);
  return result.overallResult!;
}

/** What IAM decides for one request by a role holding exactly this identity policy. */
export function simulate(
  policy: PolicyDocument | string,
  probe: Probe,
  principal = `arn:aws:iam::${TEST_ACCOUNT}:role/under-test`,
): Promise<Decision> {
  return evaluate({ identityPolicies: [policy], principal, probe });
}

/** Every probe's decision, labelled, for one readable assertion per role. */
export async function decisions(policy: PolicyDocument | string, probes: readonly Probe[]): Promise<Record<string, Decision>> {
  const out: Record<string, Decision> = {};
  for (const probe of probes) {
    const context = probe.context ? ` ${JSON.stringify(probe.context)}` : "";
    out[`${probe.action} ${probe.resource}${context}`] = await simulate(policy, probe);
  }
  return out;
}

/** Asserts every probe is allowed. */
export async function expectAllowed(policy: PolicyDocument | string, probes: readonly Probe[]): Promise<void> {
  const got = await decisions(policy, probes);
  expect(got).toEqual(Object.fromEntries(Object.keys(got).map((key) => [key, "Allowed"])));
}

/** Asserts every probe is denied (implicitly: nothing grants it). */
export async function expectDenied(policy: PolicyDocument | string, probes: readonly Probe[]): Promise<void> {
  const got = await decisions(policy, probes);
  expect(got).toEqual(Object.fromEntries(Object.keys(got).map((key) => [key, "ImplicitlyDenied"])));
}
