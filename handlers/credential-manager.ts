/**
 * The SMTP credential manager: provisions, rotates and deletes the IAM identity behind each SMTP user
 * item of the routing table, from its DynamoDB stream.
 *
 * AWS API actions it calls (for its IAM policy):
 * - iam:CreateUser, iam:PutUserPolicy, iam:PutUserPermissionsBoundary on
 *   `arn:aws:iam::<account>:user/ses-smtp-user-*`, only with the stack's SMTP user permissions boundary
 *   (condition `iam:PermissionsBoundary`): every user it creates or writes a policy on is capped at sending
 *   through SES, whatever the policy says.
 * - iam:GetUser, iam:DeleteUser, iam:GetUserPolicy, iam:DeleteUserPolicy, iam:ListUserPolicies,
 *   iam:CreateAccessKey, iam:ListAccessKeys, iam:DeleteAccessKey on the same users (only users it names;
 *   see IAM_USER_PREFIX).
 * - kms:Encrypt on the SMTP credentials key (`alias/ses-mail-smtp-credentials-<env>`), with the encryption
 *   context key `ses-mail:smtp-user` (condition `kms:EncryptionContextKeys`).
 * - dynamodb:GetItem, dynamodb:UpdateItem on the routing table, leading keys `SMTP_USER#*`.
 * - Through its event source mapping: dynamodb:DescribeStream, GetRecords, GetShardIterator, ListStreams on
 *   the table's stream (filter CREDENTIAL_MANAGER_EVENT_FILTER, batch size 1, partial batch responses).
 *   Plus logs and X-Ray as every function.
 *
 * Protocol:
 * - INSERT or MODIFY whose new image is `pending`: re-read the item (a stale stream image must not act
 *   twice); if it is still `pending`, provision it. A user without an IAM identity gets one; a user that
 *   has one gets a new access key (rotation), and its old key is deleted once the new one is stored.
 * - Creating: CreateUser `ses-smtp-user-{username}-{time of the stream record}` with the permissions
 *   boundary (the same name on every re-delivery of the record, so a retry finds the user it created
 *   instead of making a second one), delete any access key a crashed attempt left (nobody has it),
 *   PutUserPolicy, CreateAccessKey, derive the SMTP password, KMS Encrypt, then set `active` only if the
 *   item is still `pending`.
 * - Rotating sets the boundary first (users from before boundaries were required get it then), then
 *   replaces the policy and the key.
 * - Any failure undoes what this attempt created, in reverse order (the new key, the policy or the
 *   previous policy document, the user), and sets `failed` with the error. Setting `pending` again retries.
 * - REMOVE of an item with an IAM identity: delete every access key, every inline policy, then the user;
 *   whatever is already gone counts as deleted. A failure fails the record, so the stream retries it.
 * - Every other record (other statuses, other entity types) is skipped.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { AttributeValue as SdkAttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { z } from "zod";
import { DynamoDbSmtpUsers, IamSmtpIdentities, KmsCredentialEncryptor } from "../adapters/aws/smtp-identities";
import { asError, CredentialProvisioningError, describeError, SesMailError } from "../core/errors";
import type { Clock, CredentialEncryptor, SmtpIdentities, SmtpUserTable } from "../core/ports";
import {
  iamUserName,
  iamUserNameFromArn,
  IAM_USER_PREFIX,
  SMTP_SEND_POLICY_NAME,
  smtpCredentialsEncryptionContext,
  smtpCredentialsPlaintext,
  smtpSendingPolicy,
  smtpUserItemSchema,
  validateAllowedFrom,
  validateSmtpUsername,
  type SmtpUser,
} from "../core/smtp-credentials";
import { smtpPasswordFromSecretKey } from "../core/smtp-password";
import { SMTP_USER_KEY_PREFIX, SMTP_USER_SORT_KEY } from "../core/table";
import { lambdaEntry, parseEnvironment, type LambdaHandler } from "./entry";
import type { Observability } from "./observability";

/**
 * Event filter for the stream's event source mapping: only SMTP user items reach the function (the
 * table also holds rules, idempotency records and bounce throttles, written far more often).
 */
export const CREDENTIAL_MANAGER_EVENT_FILTER = {
  dynamodb: { Keys: { PK: { S: [{ prefix: SMTP_USER_KEY_PREFIX }] }, SK: { S: [SMTP_USER_SORT_KEY] } } },
} as const;

export interface CredentialManagerOptions {
  readonly users: SmtpUserTable;
  readonly identities: SmtpIdentities;
  readonly encryptor: CredentialEncryptor;
  /** The region whose SES SMTP endpoint the passwords are for. */
  readonly sesRegion: string;
  /** The managed policy every SMTP user gets as its permissions boundary (only SES sending). */
  readonly permissionsBoundary: string;
  readonly observability: Observability;
  readonly now?: Clock;
}

export type CredentialManager = LambdaHandler<DynamoDBStreamEvent, DynamoDBBatchResponse>;

/** Our own errors read as they are; anything else (an AWS SDK error) with its name, which is the AWS error code. */
function describe(error: unknown): string {
  return error instanceof SesMailError ? error.message : describeError(error);
}

/** One step of undo, run in reverse order of creation. */
type Undo = { readonly what: string; readonly run: () => Promise<void> };

export function createCredentialManager(options: CredentialManagerOptions): CredentialManager {
  const { users, identities, encryptor, sesRegion, permissionsBoundary, observability } = options;
  const { logger, metrics } = observability;
  const now = options.now ?? (() => new Date());
  const itemSchema = smtpUserItemSchema();

  function image(raw: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
    // aws-lambda's stream AttributeValue and the SDK's have the same wire shape.
    return raw ? unmarshall(raw as Record<string, SdkAttributeValue>) : undefined;
  }

  async function rollback(username: string, undo: Undo[]): Promise<string[]> {
    const problems: string[] = [];
    for (const step of [...undo].reverse()) {
      try {
        await step.run();
      } catch (error) {
        problems.push(`${step.what}: ${describe(error)}`);
      }
    }
    if (problems.length > 0) {
      logger.error("rollback left something behind", { username, problems });
      metrics.addMetric("SmtpRollbackIncomplete", "Count", 1);
    }
    return problems;
  }

  async function encryptedCredentials(user: SmtpUser, key: { accessKeyId: string; secretAccessKey: string }): Promise<string> {
    const password = smtpPasswordFromSecretKey(key.secretAccessKey, sesRegion);
    return encryptor.encrypt(smtpCredentialsPlaintext(key.accessKeyId, password), smtpCredentialsEncryptionContext(user.username));
  }

  async function create(user: SmtpUser, policy: string, stamp: Date, undo: Undo[]): Promise<Record<string, string>> {
    const name = iamUserName(user.username, stamp);
    const { arn, existed } = await identities.createUser(name, permissionsBoundary);
    // Undo deletes the user whether this attempt or a crashed earlier one created it: the item never
    // became active, so nobody holds its credentials.
    undo.push({ what: `delete IAM user ${name}`, run: () => identities.deleteUser(name) });
    if (existed) {
      logger.warn("IAM user exists from an earlier attempt of this record; reusing it", { username: user.username, iamUser: name });
      await identities.putPermissionsBoundary(name, permissionsBoundary);
      for (const leftover of await identities.listAccessKeys(name)) await identities.deleteAccessKey(name, leftover);
    }
    await identities.putUserPolicy(name, SMTP_SEND_POLICY_NAME, policy);
    undo.push({ what: `delete policy ${SMTP_SEND_POLICY_NAME}`, run: () => identities.deleteUserPolicy(name, SMTP_SEND_POLICY_NAME) });
    const key = await identities.createAccessKey(name);
    undo.push({ what: `delete access key ${key.accessKeyId}`, run: () => identities.deleteAccessKey(name, key.accessKeyId) });
    const ciphertext = await encryptedCredentials(user, key);
    return { iam_user_name: name, iam_user_arn: arn, access_key_id: key.accessKeyId, encrypted_credentials: ciphertext };
  }

  async function rotate(user: SmtpUser, name: string, policy: string, undo: Undo[]): Promise<Record<string, string>> {
    const keys = await identities.listAccessKeys(name);
    // IAM allows two keys per user: drop any that is not the stored one (left by a crashed rotation).
    for (const leftover of keys.filter((id) => id !== user.accessKeyId)) await identities.deleteAccessKey(name, leftover);
    // IAM lets the manager write a policy only on a user carrying the boundary.
    await identities.putPermissionsBoundary(name, permissionsBoundary);
    const previous = await identities.getUserPolicy(name, SMTP_SEND_POLICY_NAME);
    await identities.putUserPolicy(name, SMTP_SEND_POLICY_NAME, policy);
    undo.push({
      what: previous ? `restore policy ${SMTP_SEND_POLICY_NAME}` : `delete policy ${SMTP_SEND_POLICY_NAME}`,
      run: () =>
        previous
          ? identities.putUserPolicy(name, SMTP_SEND_POLICY_NAME, previous)
          : identities.deleteUserPolicy(name, SMTP_SEND_POLICY_NAME),
    });
    const key = await identities.createAccessKey(name);
    undo.push({ what: `delete access key ${key.accessKeyId}`, run: () => identities.deleteAccessKey(name, key.accessKeyId) });
    const ciphertext = await encryptedCredentials(user, key);
    return {
      iam_user_name: name,
      ...(user.iamUserArn ? { iam_user_arn: user.iamUserArn } : {}),
      access_key_id: key.accessKeyId,
      encrypted_credentials: ciphertext,
    };
  }

  async function provision(username: string, stamp: Date): Promise<void> {
    const raw = await users.get(username);
    if (!raw) return skip(username, "the item is gone");
    const parsed = itemSchema.safeParse(raw);
    const at = now().toISOString();
    if (!parsed.success) {
      await fail(username, `the item is not a valid SMTP user: ${parsed.error.issues[0]?.message}`, at);
      return;
    }
    const user = parsed.data;
    if (user.status !== "pending") return skip(username, `status is ${user.status}`);

    const undo: Undo[] = [];
    const existing = user.iamUserName;
    try {
      validateSmtpUsername(user.username);
      const policy = smtpSendingPolicy(validateAllowedFrom(user.allowedFrom));
      const attributes = existing ? await rotate(user, existing, policy, undo) : await create(user, policy, stamp, undo);
      const activated = await users.activate(username, { ...attributes, updated_at: at });
      if (!activated) throw new CredentialProvisioningError("the item changed or was deleted while it was being provisioned");
      if (existing && user.accessKeyId && user.accessKeyId !== attributes.access_key_id) {
        // The new key is stored: now the old one can go. If this fails, the next rotation removes it.
        try {
          await identities.deleteAccessKey(existing, user.accessKeyId);
        } catch (error) {
          logger.error("old access key not deleted after rotation", { username, accessKeyId: user.accessKeyId, error: asError(error) });
          metrics.addMetric("SmtpOldKeyNotDeleted", "Count", 1);
        }
      }
      logger.info(existing ? "SMTP credentials rotated" : "SMTP user provisioned", {
        username,
        iamUser: attributes.iam_user_name,
        accessKeyId: attributes.access_key_id,
        allowedFrom: user.allowedFrom,
      });
      metrics.addMetric(existing ? "SmtpUserRotated" : "SmtpUserCreated", "Count", 1);
    } catch (error) {
      const problems = await rollback(username, undo);
      const message = describe(error) + (problems.length > 0 ? `; rollback incomplete: ${problems.join("; ")}` : "");
      logger.error("SMTP user provisioning failed; rolled back", {
        username,
        error: asError(error),
        undone: undo.map((step) => step.what).reverse(),
      });
      await fail(username, message, at);
    }
  }

  async function fail(username: string, message: string, at: string): Promise<void> {
    await users.markFailed(username, message, at);
    metrics.addMetric("SmtpUserFailed", "Count", 1);
  }

  function skip(username: string, why: string): void {
    logger.info("nothing to do for this record", { username, why });
    metrics.addMetric("SmtpUserSkipped", "Count", 1);
  }

  async function remove(old: Record<string, unknown>): Promise<void> {
    const username = String(old.PK).slice(SMTP_USER_KEY_PREFIX.length);
    const name =
      typeof old.iam_user_name === "string"
        ? old.iam_user_name
        : typeof old.iam_user_arn === "string"
          ? iamUserNameFromArn(old.iam_user_arn)
          : undefined;
    if (!name) return skip(username, "the removed item had no IAM user");
    if (!name.startsWith(IAM_USER_PREFIX))
      throw new CredentialProvisioningError(`refusing to delete IAM user ${name}: not one ses-mail created`);
    for (const key of await identities.listAccessKeys(name)) await identities.deleteAccessKey(name, key);
    for (const policy of await identities.listUserPolicies(name)) await identities.deleteUserPolicy(name, policy);
    await identities.deleteUser(name);
    logger.info("SMTP user deleted", { username, iamUser: name });
    metrics.addMetric("SmtpUserDeleted", "Count", 1);
  }

  async function processRecord(record: DynamoDBRecord): Promise<void> {
    const keys = image(record.dynamodb?.Keys as Record<string, unknown> | undefined);
    if (typeof keys?.PK !== "string" || !keys.PK.startsWith(SMTP_USER_KEY_PREFIX) || keys.SK !== SMTP_USER_SORT_KEY) return;
    const username = keys.PK.slice(SMTP_USER_KEY_PREFIX.length);
    try {
      if (record.eventName === "REMOVE") {
        const old = image(record.dynamodb?.OldImage as Record<string, unknown> | undefined);
        if (old) await remove(old);
        return;
      }
      const next = image(record.dynamodb?.NewImage as Record<string, unknown> | undefined);
      if (next?.status !== "pending") return;
      // The stream record's time names the IAM user, so every re-delivery of this record names the same one.
      const created = record.dynamodb?.ApproximateCreationDateTime;
      await provision(username, created ? new Date(created * 1000) : now());
    } catch (error) {
      logger.error("SMTP credential record failed; the stream retries it", {
        username,
        eventName: record.eventName,
        error: asError(error),
      });
      metrics.addMetric("SmtpRecordFailed", "Count", 1);
      throw error;
    }
  }

  return async (event, context) => {
    const processor = new BatchProcessor(EventType.DynamoDBStreams);
    // In order: records of one item must not overtake each other.
    return processPartialResponse(event, processRecord, processor, {
      ...(context ? { context } : {}),
      processInParallel: false,
      throwOnFullBatchFailure: false,
    });
  };
}

/* ------------------------------------------------------------------------------------------------
 * Lambda wiring: the environment the component sets, and the factory Pulumi serializes.
 * ---------------------------------------------------------------------------------------------- */

export interface CredentialManagerEnvironment {
  readonly routingTable: string;
  /** The KMS key (ARN, or alias ARN) the credentials are encrypted with. */
  readonly kmsKeyId: string;
  /** The ARN of the managed policy every SMTP user gets as its permissions boundary. */
  readonly permissionsBoundary: string;
  /** The region of the SES SMTP endpoint; defaults to the function's region. */
  readonly sesRegion?: string;
}

export function credentialManagerEnvironmentVariables(env: CredentialManagerEnvironment): Record<string, string> {
  return {
    ROUTING_TABLE: env.routingTable,
    SMTP_CREDENTIALS_KEY_ID: env.kmsKeyId,
    SMTP_USER_PERMISSIONS_BOUNDARY: env.permissionsBoundary,
    ...(env.sesRegion ? { SES_SMTP_REGION: env.sesRegion } : {}),
  };
}

export function readCredentialManagerEnvironment(env: NodeJS.ProcessEnv): CredentialManagerEnvironment & { sesRegion: string } {
  const schema = z
    .object({
      ROUTING_TABLE: z.string().min(1),
      SMTP_CREDENTIALS_KEY_ID: z.string().min(1),
      SMTP_USER_PERMISSIONS_BOUNDARY: z
        .string()
        .regex(/^arn:aws[a-z-]*:iam::\d{12}:policy\/.+$/, "must be the ARN of an IAM managed policy"),
      SES_SMTP_REGION: z.string().min(1).optional(),
      AWS_REGION: z.string().min(1).optional(),
    })
    // Read as "SES_SMTP_REGION or AWS_REGION must be set" after the variable's name.
    .refine((data) => Boolean(data.SES_SMTP_REGION ?? data.AWS_REGION), { message: "or AWS_REGION must be set", path: ["SES_SMTP_REGION"] })
    .transform((data) => ({
      routingTable: data.ROUTING_TABLE,
      kmsKeyId: data.SMTP_CREDENTIALS_KEY_ID,
      permissionsBoundary: data.SMTP_USER_PERMISSIONS_BOUNDARY,
      sesRegion: (data.SES_SMTP_REGION ?? data.AWS_REGION)!,
    }));
  return parseEnvironment("credential manager", schema, env);
}

/** The callback factory Pulumi serializes; runs once per container. */
export function credentialManagerFactory(): LambdaHandler<DynamoDBStreamEvent, DynamoDBBatchResponse> {
  return lambdaEntry({
    service: "credential-manager",
    readEnvironment: readCredentialManagerEnvironment,
    build: (env, observability) =>
      createCredentialManager({
        users: new DynamoDbSmtpUsers({ tableName: env.routingTable }),
        identities: new IamSmtpIdentities(),
        encryptor: new KmsCredentialEncryptor({ keyId: env.kmsKeyId }),
        sesRegion: env.sesRegion,
        permissionsBoundary: env.permissionsBoundary,
        observability,
      }),
  });
}
