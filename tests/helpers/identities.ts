/**
 * Resource identities: what Pulumi knows a deployed resource by. A resource's URN is
 * `urn:pulumi:<stack>::ses-mail::<qualified type>::<name>`, the qualified type being the types of its
 * ancestors and its own, joined by `$`. When it changes (a new name, a new type, a new parent or
 * grandparent), `pulumi up` deletes the resource and creates another, unless the resource lists its old
 * identity in `aliases`. The committed snapshots under tests/components/identities/ are reviewed like
 * code; docs/ARCHITECTURE.md, "Resource identities", says what to do when one changes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { SynthResource } from "../../components/synth/run";
import { PROJECT_ROOT } from "./synth";

export const IDENTITIES_DIR = path.join(PROJECT_ROOT, "tests", "components", "identities");
/** Set to 1 to write the snapshots from the program instead of comparing with them. */
export const UPDATE_VARIABLE = "UPDATE_RESOURCE_IDENTITIES";
/** The test files that synthesize each shipped stack as it is, and check its identities. */
const CHECKED_BY: Readonly<Record<string, string>> = {
  test: "tests/components/program.test.ts",
  prod: "tests/components/retention.test.ts",
};
const COMMAND = `${UPDATE_VARIABLE}=1 npx jest ${Object.values(CHECKED_BY).join(" ")}`;

export function identitiesFile(stack: string): string {
  return path.join(IDENTITIES_DIR, `${stack}.txt`);
}

/**
 * Each resource's URN after `urn:pulumi:<stack>::ses-mail::`, sorted. Pulumi's mock monitor abbreviates
 * the qualified type to the parent's type and the resource's own; the engine writes every ancestor's, so
 * the chain is rebuilt from the parents here. Default providers are left out: their names carry the
 * provider's version, and Pulumi replaces them on an upgrade without touching the resources.
 */
export function resourceIdentities(resources: readonly SynthResource[]): string[] {
  const byUrn = new Map(resources.map((resource) => [resource.urn, resource]));
  const qualifiedType = (resource: SynthResource): string => {
    const parent = resource.parent ? byUrn.get(resource.parent) : undefined;
    if (resource.parent && !parent) throw new Error(`${resource.urn}: its parent ${resource.parent} was not recorded`);
    return parent ? `${qualifiedType(parent)}$${resource.type}` : resource.type;
  };
  return resources
    .filter((resource) => !resource.type.startsWith("pulumi:providers:"))
    .map((resource) => `${qualifiedType(resource)}::${resource.name}`)
    .sort();
}

function header(stack: string): string[] {
  return [
    `# Resource identities of the ${stack} stack: each URN after "urn:pulumi:${stack}::ses-mail::", one per line.`,
    "# A line that changes is a resource that `pulumi up` deletes and creates again unless it has `aliases`",
    '# (docs/ARCHITECTURE.md, "Resource identities"). Written by:',
    `#   ${COMMAND}`,
  ];
}

export function readIdentities(stack: string): string[] {
  const file = identitiesFile(stack);
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.length > 0 && !line.startsWith("#"));
}

export function writeIdentities(stack: string, identities: readonly string[]): void {
  fs.mkdirSync(IDENTITIES_DIR, { recursive: true });
  fs.writeFileSync(identitiesFile(stack), `${[...header(stack), ...identities].join("\n")}\n`);
}

/** What changed between the committed snapshot and the program, and what to do about it; undefined when nothing did. */
export function identityChanges(stack: string, committed: readonly string[], actual: readonly string[]): string | undefined {
  const gone = committed.filter((identity) => !actual.includes(identity));
  const added = actual.filter((identity) => !committed.includes(identity));
  if (gone.length === 0 && added.length === 0) return undefined;
  const relative = path.relative(PROJECT_ROOT, identitiesFile(stack));
  return [
    `The ${stack} stack's resource identities differ from ${relative}:`,
    ...gone.map((identity) => `  - ${identity}`),
    ...added.map((identity) => `  + ${identity}`),
    "",
    "A resource whose identity changes is deleted and created again by `pulumi up`; a bucket or a table loses its data.",
    "If the change is intended:",
    `  1. update the snapshot with \`${COMMAND}\` and commit ${relative} with the change;`,
    "  2. if the stack is deployed, give each moved resource `aliases` naming its old identity (its old name, parent or type),",
    '     so Pulumi keeps it (docs/ARCHITECTURE.md, "Resource identities").',
  ].join("\n");
}

/**
 * Holds a shipped stack's synthesized resources to its committed snapshot, or writes the snapshot when
 * UPDATE_RESOURCE_IDENTITIES=1. Called by the one test file that synthesizes the stack as it is (CHECKED_BY).
 */
export function expectIdentitiesKept(stack: string, resources: readonly SynthResource[]): void {
  if (!(stack in CHECKED_BY))
    throw new Error(`no identity snapshot for the ${stack} stack (shipped stacks: ${Object.keys(CHECKED_BY).join(", ")})`);
  const identities = resourceIdentities(resources);
  if (process.env[UPDATE_VARIABLE] === "1") writeIdentities(stack, identities);
  expect(identities.length).toBeGreaterThan(100);
  expect(identityChanges(stack, readIdentities(stack), identities)).toBeUndefined();
}
