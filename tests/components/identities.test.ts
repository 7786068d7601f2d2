/**
 * Both shipped stacks keep the identities (URNs) of their resources: the committed snapshots under
 * tests/components/identities/ list every resource's type chain and name, and a change fails here
 * saying what changed and what to do (tests/helpers/identities.ts; docs/ARCHITECTURE.md, "Resource
 * identities"). Moving a resource to another component changes its URN, which `pulumi up` carries out
 * as a delete and a create unless the resource has `aliases`.
 */
import { identityChanges, readIdentities, resourceIdentities, UPDATE_VARIABLE, writeIdentities } from "../helpers/identities";
import { synthStackIsolated } from "../helpers/synth";

describe.each(["test", "prod"])("the %s stack", (stack) => {
  it("keeps the identity of every resource", async () => {
    // Prepare: the program with the stack's shipped config
    const { result } = await synthStackIsolated(stack);

    // Act
    const identities = resourceIdentities(result.resources);
    if (process.env[UPDATE_VARIABLE] === "1") writeIdentities(stack, identities);

    // Assess
    expect(identities.length).toBeGreaterThan(100);
    expect(identityChanges(stack, readIdentities(stack), identities)).toBeUndefined();
  }, 120_000);
});
