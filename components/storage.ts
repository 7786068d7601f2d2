/**
 * Storage: the bucket SES writes raw messages to (`ses-mail-storage-{account}-{env}`). Encrypted,
 * private, TLS only, objects owned by the bucket owner, expired after the configured number of days,
 * and writable only by SES of this account acting for this stack's receipt rule.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { describeLongestReference, MIN_EMAIL_RETENTION_DAYS } from "../core/retention";
import type { StackContext } from "./context";
import { RAW_MESSAGE_KEY_PREFIX } from "./naming";
import { storageBucketPolicy } from "./policies";
import { privateBucketControls } from "./private-bucket";

export interface MessageStorageArgs {
  readonly stack: StackContext;
  /** Days raw messages nobody deleted stay in the bucket. Default and minimum MIN_EMAIL_RETENTION_DAYS (core/retention.ts). */
  readonly retentionDays?: pulumi.Input<number>;
  /** The receipt rule SES writes for (`aws:SourceArn` in the bucket policy). */
  readonly receiptRuleArn: pulumi.Input<string>;
  /** Key prefix SES writes under. Default `emails/`. */
  readonly keyPrefix?: string;
  /**
   * Pulumi refuses to delete (or replace) the bucket while set (`protect`): it holds mail that is parked,
   * dead-lettered or kept by a `store` rule. S3 has no deletion protection of its own; Pulumi also never
   * empties a bucket (no `forceDestroy`), so even unprotected a bucket with mail in it is not deleted.
   * Default false; the stack sets it from `ses-mail:deletionProtection`.
   */
  readonly deletionProtection?: boolean;
}

/**
 * The lifecycle rules: expire raw messages under the prefix, and never keep failed multipart uploads. A
 * retention shorter than the longest reference to a raw message is refused (config/schema.ts says so
 * first, naming the key).
 */
export function storageLifecycleRules(keyPrefix: string, retentionDays: number): aws.types.input.s3.BucketLifecycleConfigurationRule[] {
  if (!Number.isInteger(retentionDays) || retentionDays < MIN_EMAIL_RETENTION_DAYS) {
    throw new Error(
      `raw message retention must be a whole number of days ≥ ${MIN_EMAIL_RETENTION_DAYS} (${describeLongestReference()}), not ${retentionDays}`,
    );
  }
  return [
    { id: "expire-raw-messages", status: "Enabled", filter: { prefix: keyPrefix }, expiration: { days: retentionDays } },
    {
      id: "abort-incomplete-uploads",
      status: "Enabled",
      filter: { prefix: "" },
      abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
    },
  ];
}

export class MessageStorage extends pulumi.ComponentResource {
  public readonly bucket: aws.s3.Bucket;
  public readonly policy: aws.s3.BucketPolicy;
  public readonly keyPrefix: string;

  constructor(name: string, args: MessageStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:storage:MessageStorage", name, {}, opts);
    const { stack } = args;
    const parent = { parent: this };
    this.keyPrefix = args.keyPrefix ?? RAW_MESSAGE_KEY_PREFIX;

    this.bucket = new aws.s3.Bucket(
      `${name}-bucket`,
      { bucket: stack.aws.apply((ctx) => stack.names.bucket(ctx.accountId)) },
      { parent: this, protect: args.deletionProtection ?? false },
    );
    const policyPrerequisites = privateBucketControls(name, this.bucket, parent);
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      {
        bucket: this.bucket.id,
        rules: pulumi.output(args.retentionDays ?? MIN_EMAIL_RETENTION_DAYS).apply((days) => storageLifecycleRules(this.keyPrefix, days)),
      },
      parent,
    );
    this.policy = new aws.s3.BucketPolicy(
      `${name}-policy`,
      {
        bucket: this.bucket.id,
        policy: pulumi
          .all([this.bucket.arn, stack.aws, args.receiptRuleArn])
          .apply(([bucketArn, ctx, ruleArn]) =>
            JSON.stringify(
              storageBucketPolicy({ bucketArn, accountId: ctx.accountId, receiptRuleArn: ruleArn, keyPrefix: this.keyPrefix }),
            ),
          ),
      },
      { parent: this, dependsOn: policyPrerequisites },
    );

    this.registerOutputs({ bucketName: this.bucket.bucket, bucketArn: this.bucket.arn });
  }
}
