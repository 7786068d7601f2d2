/**
 * The controls every bucket of the stack has: objects owned by the bucket owner (no ACLs), no public
 * access, SSE-S3 by default. Children are named `<name>-ownership`, `-public-access` and `-encryption`
 * under the caller's component, so their URNs are those the stacks already have.
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";

/** Adds the controls to `bucket`; returns what a bucket policy must wait for (a policy before the public-access block is refused). */
export function privateBucketControls(name: string, bucket: aws.s3.Bucket, opts: pulumi.CustomResourceOptions): pulumi.Resource[] {
  const ownership = new aws.s3.BucketOwnershipControls(
    `${name}-ownership`,
    { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
    opts,
  );
  const publicAccess = new aws.s3.BucketPublicAccessBlock(
    `${name}-public-access`,
    { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
    opts,
  );
  new aws.s3.BucketServerSideEncryptionConfiguration(
    `${name}-encryption`,
    { bucket: bucket.id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
    opts,
  );
  return [publicAccess, ownership];
}
