/**
 * SMTP credential manager: the function (`ses-mail-credential-manager-{env}`, 256 MB, 1 min) triggered
 * by the routing table's stream (SMTP user items only, one record at a time, failures dead-lettered),
 * and the customer-managed KMS key (`alias/ses-mail-smtp-credentials-{env}`, yearly rotation) it
 * encrypts credentials with. The key policy lets the account administer the key, only the manager's
 * role encrypt, and IAM-granted operators of the account decrypt credentials (policies.ts).
 *
 * Every SMTP user gets the managed policy `ses-mail-smtp-user-boundary-{env}` as its permissions
 * boundary (SES sending only), and the manager's role may create users or write their policies only
 * with that boundary: whoever controls its code or its input cannot mint an administrator.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { IAM_USER_PREFIX, smtpCredentialsEncryptionContext } from "../core/smtp-credentials";
import { SMTP_USER_KEY_PREFIX } from "../core/table";
import type { StackContext } from "./context";
import { createLambdaRole, SesMailFunction, type LambdaCode } from "./lambda-function";
import { FunctionKey } from "./naming";
import { credentialKeyPolicy, credentialManagerStatements, smtpUserPermissionsBoundary } from "./policies";
import { MAX_RETENTION_SECONDS } from "./queue";

/** What the credential manager's environment is built from (handlers/credential-manager.ts `CredentialManagerEnvironment`). */
export interface CredentialManagerStageEnvironment {
  readonly routingTable: string;
  /** The credential key's ARN. */
  readonly kmsKeyId: string;
  /** The SMTP users' permissions boundary (a managed policy ARN). */
  readonly permissionsBoundary: string;
}

export const CREDENTIAL_MANAGER_MEMORY_MB = 256;
export const CREDENTIAL_MANAGER_TIMEOUT_SECONDS = 60;
/** The one key of the credentials' KMS encryption context (core/smtp-credentials.ts). */
export const SMTP_ENCRYPTION_CONTEXT_KEY = Object.keys(smtpCredentialsEncryptionContext("user"))[0]!;
/** Stream records are retried this often before they go to the DLQ. */
export const STREAM_MAX_RETRIES = 3;

export const CREDENTIAL_MANAGER_PACKAGES: readonly string[] = [
  "@aws-lambda-powertools/batch",
  "@aws-lambda-powertools/logger",
  "@aws-lambda-powertools/metrics",
  "@aws-lambda-powertools/tracer",
  "@aws-sdk/util-dynamodb",
  "zod",
];

/** Default stream filter: only SMTP user items wake the manager; rule edits never invoke it. */
export const SMTP_USER_STREAM_FILTER: Readonly<Record<string, unknown>> = {
  dynamodb: { Keys: { PK: { S: [{ prefix: SMTP_USER_KEY_PREFIX }] } } },
};

export interface CredentialManagerArgs {
  readonly stack: StackContext;
  readonly code: LambdaCode<CredentialManagerStageEnvironment>;
  readonly table: aws.dynamodb.Table;
  /** The event source mapping's filter (the handler exports the one it expects). Default: SMTP user items. */
  readonly streamFilter?: Readonly<Record<string, unknown>>;
  /**
   * Pulumi refuses to delete the key while set (`protect`): without it the stored SMTP passwords cannot
   * be read back. Even unprotected, KMS only schedules a deletion, cancellable for 30 days. Default false.
   */
  readonly deletionProtection?: boolean;
}

export class CredentialManager extends pulumi.ComponentResource {
  public readonly key: aws.kms.Key;
  public readonly permissionsBoundary: aws.iam.Policy;
  public readonly alias: aws.kms.Alias;
  public readonly deadLetterQueue: aws.sqs.Queue;
  public readonly function: SesMailFunction;

  constructor(name: string, args: CredentialManagerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ses-mail:smtp:CredentialManager", name, {}, opts);
    const { stack, code } = args;
    const parent = { parent: this };

    // The role exists before the key: a key policy may only name principals that exist.
    const role = createLambdaRole(`${name}-role`, stack.names.role("credential-manager"), stack.aws.accountId, parent);
    this.key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `ses-mail ${stack.env}: SMTP credentials`,
        enableKeyRotation: true,
        rotationPeriodInDays: 365,
        deletionWindowInDays: 30,
        policy: pulumi
          .all([stack.aws, role.arn])
          .apply(([ctx, managerRoleArn]) =>
            JSON.stringify(credentialKeyPolicy(ctx, { managerRoleArn, encryptionContextKey: SMTP_ENCRYPTION_CONTEXT_KEY })),
          ),
      },
      { parent: this, protect: args.deletionProtection ?? false },
    );
    this.permissionsBoundary = new aws.iam.Policy(
      `${name}-user-boundary`,
      {
        name: stack.names.smtpUserBoundary,
        description: `ses-mail ${stack.env}: the most any SMTP user may do (send through SES)`,
        policy: JSON.stringify(smtpUserPermissionsBoundary()),
      },
      parent,
    );
    this.alias = new aws.kms.Alias(`${name}-key-alias`, { name: stack.names.credentialKeyAlias, targetKeyId: this.key.keyId }, parent);
    this.deadLetterQueue = new aws.sqs.Queue(
      `${name}-dlq`,
      { name: stack.names.credentialDeadLetterQueue, messageRetentionSeconds: MAX_RETENTION_SECONDS, sqsManagedSseEnabled: true },
      parent,
    );

    this.function = new SesMailFunction(
      `${name}-function`,
      {
        stack,
        key: FunctionKey.CredentialManager,
        description: "Creates and deletes SMTP users as SMTP user items come and go",
        factory: code.factory,
        packages: code.packages ?? CREDENTIAL_MANAGER_PACKAGES,
        memorySize: CREDENTIAL_MANAGER_MEMORY_MB,
        timeout: CREDENTIAL_MANAGER_TIMEOUT_SECONDS,
        environment: pulumi
          .all([args.table.name, this.key.arn, this.permissionsBoundary.arn])
          .apply(([routingTable, kmsKeyId, permissionsBoundary]) =>
            code.environmentVariables({ routingTable, kmsKeyId, permissionsBoundary }),
          ),
        statements: pulumi
          .all([stack.aws, args.table.arn, args.table.streamArn, this.key.arn, this.deadLetterQueue.arn, this.permissionsBoundary.arn])
          .apply(([ctx, tableArn, streamArn, keyArn, deadLetterQueueArn, permissionsBoundaryArn]) =>
            credentialManagerStatements(ctx, {
              userNamePrefix: IAM_USER_PREFIX,
              permissionsBoundaryArn,
              tableArn,
              streamArn,
              keyArn,
              deadLetterQueueArn,
              smtpUserKeyPrefix: SMTP_USER_KEY_PREFIX,
              encryptionContextKey: SMTP_ENCRYPTION_CONTEXT_KEY,
            }),
          ),
        role,
      },
      parent,
    );

    new aws.lambda.EventSourceMapping(
      `${name}-trigger`,
      {
        eventSourceArn: args.table.streamArn,
        functionName: this.function.arn,
        startingPosition: "LATEST",
        batchSize: 1,
        maximumRetryAttempts: STREAM_MAX_RETRIES,
        bisectBatchOnFunctionError: true,
        functionResponseTypes: ["ReportBatchItemFailures"],
        filterCriteria: { filters: [{ pattern: JSON.stringify(args.streamFilter ?? SMTP_USER_STREAM_FILTER) }] },
        destinationConfig: { onFailure: { destinationArn: this.deadLetterQueue.arn } },
      },
      parent,
    );

    this.registerOutputs({
      functionArn: this.function.arn,
      keyArn: this.key.arn,
      keyAlias: this.alias.name,
      permissionsBoundaryArn: this.permissionsBoundary.arn,
    });
  }
}
