/**
 * The synth's deprecation report reads the provider SDK's own `@deprecated` marks: it must find a
 * deprecated input at any depth and a deprecated resource type, and stay quiet for current inputs.
 * (tests/components/program.test.ts and prod-stack.test.ts assert the synthesized stacks have none.)
 */
import type { SynthResource } from "../../components/synth/run";
import { findDeprecations, formatDeprecation, ProviderDeclarations } from "../../components/synth/deprecations";

const declarations = new ProviderDeclarations();

function resource(type: string, inputs: Record<string, unknown>, name = "example"): SynthResource {
  return { urn: `urn:pulumi:test::ses-mail::${type}::${name}`, type, name, custom: true, inputs, outputs: {} };
}

describe("provider deprecations", () => {
  it("finds an index's deprecated hashKey/rangeKey inside the list of indexes", () => {
    const table = resource("aws:dynamodb/table:Table", {
      name: "t",
      globalSecondaryIndexes: [{ name: "by-type", hashKey: "entity_type", rangeKey: "PK", projectionType: "ALL" }],
    });
    expect(findDeprecations([table], declarations).map(formatDeprecation)).toEqual([
      "aws:dynamodb/table:Table example: globalSecondaryIndexes[0].hashKey: hash_key is deprecated. Use keySchema instead.",
      "aws:dynamodb/table:Table example: globalSecondaryIndexes[0].rangeKey: range_key is deprecated. Use keySchema instead.",
    ]);
  });

  it("is quiet for the current inputs (key schemas) and for the table's own hashKey", () => {
    const table = resource("aws:dynamodb/table:Table", {
      hashKey: "PK",
      rangeKey: "SK",
      globalSecondaryIndexes: [{ name: "by-type", keySchemas: [{ attributeName: "entity_type", keyType: "HASH" }], projectionType: "ALL" }],
    });
    expect(findDeprecations([table], declarations)).toEqual([]);
  });

  it("finds a deprecated resource type and its deprecated inputs; skips components and unknown types", () => {
    const found = findDeprecations(
      [
        resource("aws:s3/bucketAclV2:BucketAclV2", { bucket: "b", expectedBucketOwner: "123456789012" }),
        { ...resource("ses-mail:inbound:Inbound", {}), custom: false },
        resource("pulumi:providers:aws", { region: "eu-west-2" }),
      ],
      declarations,
    );
    expect(found).toEqual([
      expect.objectContaining({
        type: "aws:s3/bucketAclV2:BucketAclV2",
        property: "",
        message: expect.stringMatching(/deprecated in favor of aws\.s3\/bucketacl\.BucketAcl/),
      }),
      expect.objectContaining({ property: "expectedBucketOwner", message: expect.stringMatching(/expected_bucket_owner is deprecated/) }),
    ]);
  });
});
