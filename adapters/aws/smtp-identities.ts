/**
 * The SMTP credential manager's ports (core/ports.ts) on AWS, each a small class so the handler reads as
 * the protocol it is: IAM users, their inline policy and access keys (IamSmtpIdentities), KMS
 * encryption of the credentials (KmsCredentialEncryptor), and the SMTP user items in the routing
 * table (DynamoDbSmtpUsers). Deletes treat "already gone" (NoSuchEntity) as success.
 */
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  IAMClient,
  paginateListAccessKeys,
  paginateListUserPolicies,
  PutUserPermissionsBoundaryCommand,
  PutUserPolicyCommand,
} from "@aws-sdk/client-iam";
import { EncryptCommand, KMSClient } from "@aws-sdk/client-kms";
import { DynamoDBClient, GetItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";
import type { CredentialEncryptor, SmtpIdentities, SmtpUserTable, StoredItem } from "../../core/ports";
import { smtpUserKey } from "../../core/smtp-credentials";

function isNoSuchEntity(error: unknown): boolean {
  return error instanceof Error && error.name === "NoSuchEntityException";
}

function isAlreadyExists(error: unknown): boolean {
  return error instanceof Error && error.name === "EntityAlreadyExistsException";
}

export class IamSmtpIdentities implements SmtpIdentities {
  private clientInstance: IAMClient | undefined;

  constructor(options: { readonly client?: IAMClient } = {}) {
    this.clientInstance = options.client;
  }

  private get client(): IAMClient {
    this.clientInstance ??= new IAMClient({});
    return this.clientInstance;
  }

  async createUser(userName: string, permissionsBoundary: string): Promise<{ arn: string; existed: boolean }> {
    try {
      const output = await this.client.send(new CreateUserCommand({ UserName: userName, PermissionsBoundary: permissionsBoundary }));
      return { arn: output.User!.Arn!, existed: false };
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
      const output = await this.client.send(new GetUserCommand({ UserName: userName }));
      return { arn: output.User!.Arn!, existed: true };
    }
  }

  async putPermissionsBoundary(userName: string, permissionsBoundary: string): Promise<void> {
    await this.client.send(new PutUserPermissionsBoundaryCommand({ UserName: userName, PermissionsBoundary: permissionsBoundary }));
  }

  async getUserPolicy(userName: string, policyName: string): Promise<string | undefined> {
    try {
      const output = await this.client.send(new GetUserPolicyCommand({ UserName: userName, PolicyName: policyName }));
      // IAM returns the document URL-encoded (RFC 3986).
      return output.PolicyDocument ? decodeURIComponent(output.PolicyDocument) : undefined;
    } catch (error) {
      if (isNoSuchEntity(error)) return undefined;
      throw error;
    }
  }

  async putUserPolicy(userName: string, policyName: string, document: string): Promise<void> {
    await this.client.send(new PutUserPolicyCommand({ UserName: userName, PolicyName: policyName, PolicyDocument: document }));
  }

  async deleteUserPolicy(userName: string, policyName: string): Promise<void> {
    try {
      await this.client.send(new DeleteUserPolicyCommand({ UserName: userName, PolicyName: policyName }));
    } catch (error) {
      if (!isNoSuchEntity(error)) throw error;
    }
  }

  async listUserPolicies(userName: string): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const page of paginateListUserPolicies({ client: this.client }, { UserName: userName }))
        names.push(...(page.PolicyNames ?? []));
    } catch (error) {
      if (isNoSuchEntity(error)) return [];
      throw error;
    }
    return names;
  }

  async createAccessKey(userName: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
    const output = await this.client.send(new CreateAccessKeyCommand({ UserName: userName }));
    return { accessKeyId: output.AccessKey!.AccessKeyId!, secretAccessKey: output.AccessKey!.SecretAccessKey! };
  }

  async listAccessKeys(userName: string): Promise<string[]> {
    const ids: string[] = [];
    try {
      for await (const page of paginateListAccessKeys({ client: this.client }, { UserName: userName })) {
        ids.push(...(page.AccessKeyMetadata ?? []).flatMap((key) => (key.AccessKeyId ? [key.AccessKeyId] : [])));
      }
    } catch (error) {
      if (isNoSuchEntity(error)) return [];
      throw error;
    }
    return ids;
  }

  async deleteAccessKey(userName: string, accessKeyId: string): Promise<void> {
    try {
      await this.client.send(new DeleteAccessKeyCommand({ UserName: userName, AccessKeyId: accessKeyId }));
    } catch (error) {
      if (!isNoSuchEntity(error)) throw error;
    }
  }

  async deleteUser(userName: string): Promise<void> {
    try {
      await this.client.send(new DeleteUserCommand({ UserName: userName }));
    } catch (error) {
      if (!isNoSuchEntity(error)) throw error;
    }
  }
}

export class KmsCredentialEncryptor implements CredentialEncryptor {
  private readonly keyId: string;
  private clientInstance: KMSClient | undefined;

  constructor(options: { readonly keyId: string; readonly client?: KMSClient }) {
    this.keyId = options.keyId;
    this.clientInstance = options.client;
  }

  private get client(): KMSClient {
    this.clientInstance ??= new KMSClient({});
    return this.clientInstance;
  }

  async encrypt(plaintext: string, context: Record<string, string>): Promise<string> {
    const output = await this.client.send(
      new EncryptCommand({ KeyId: this.keyId, Plaintext: Buffer.from(plaintext, "utf8"), EncryptionContext: context }),
    );
    if (!output.CiphertextBlob) throw new Error("KMS Encrypt returned no ciphertext");
    return Buffer.from(output.CiphertextBlob).toString("base64");
  }
}

export class DynamoDbSmtpUsers implements SmtpUserTable {
  readonly tableName: string;
  private clientInstance: DynamoDBClient | undefined;

  constructor(options: { readonly tableName: string; readonly client?: DynamoDBClient }) {
    this.tableName = options.tableName;
    this.clientInstance = options.client;
  }

  private get client(): DynamoDBClient {
    this.clientInstance ??= new DynamoDBClient({});
    return this.clientInstance;
  }

  async get(username: string): Promise<StoredItem | undefined> {
    const output = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall(smtpUserKey(username)), ConsistentRead: true }),
    );
    return output.Item ? unmarshall(output.Item) : undefined;
  }

  private async updateIfPending(username: string, set: Record<string, string>, remove: readonly string[]): Promise<boolean> {
    const names: Record<string, string> = { "#status": "status" };
    const values: Record<string, string> = { ":pending": "pending" };
    const assignments = Object.entries(set).map(([name, value], index) => {
      names[`#s${index}`] = name;
      values[`:s${index}`] = value;
      return `#s${index} = :s${index}`;
    });
    const removals = remove.map((name, index) => {
      names[`#r${index}`] = name;
      return `#r${index}`;
    });
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall(smtpUserKey(username)),
          UpdateExpression: `SET ${assignments.join(", ")}${removals.length > 0 ? ` REMOVE ${removals.join(", ")}` : ""}`,
          ConditionExpression: "#status = :pending",
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: marshall(values),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof Error && error.name === "ConditionalCheckFailedException") return false;
      throw error;
    }
  }

  activate(username: string, attributes: Readonly<Record<string, string>>): Promise<boolean> {
    return this.updateIfPending(username, { ...attributes, status: "active" }, ["error"]);
  }

  markFailed(username: string, error: string, at: string): Promise<boolean> {
    return this.updateIfPending(username, { status: "failed", error: error.slice(0, 2000), updated_at: at }, []);
  }
}
