/**
 * The operator's side of the SMTP user items in the routing table (the CLI writes them; the SMTP
 * credential manager provisions them from the table's stream): create a `pending` item, list them by
 * the entity-type index, set one back to `pending` (rotation), read and delete one. Item layout:
 * core/smtp-credentials.ts.
 */
import { DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";
import type { StoredItem } from "../../core/ports";
import { smtpUserKey, SmtpUserStatus } from "../../core/smtp-credentials";
import { ENTITY_TYPE_ATTRIBUTE, EntityType } from "../../core/table";
import { queryEntityType } from "./routing-table";

function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}

export interface NewSmtpUser {
  readonly username: string;
  readonly allowedFrom: readonly string[];
  readonly at: string;
}

export class SmtpUserAdmin {
  readonly tableName: string;
  private readonly client: DynamoDBClient;

  constructor(options: { readonly tableName: string; readonly client: DynamoDBClient }) {
    this.tableName = options.tableName;
    this.client = options.client;
  }

  /** Writes a `pending` item; false when the username is taken. */
  async create(user: NewSmtpUser): Promise<boolean> {
    const item = {
      ...smtpUserKey(user.username),
      [ENTITY_TYPE_ATTRIBUTE]: EntityType.SmtpUser,
      username: user.username,
      allowed_from: [...user.allowedFrom],
      status: SmtpUserStatus.Pending,
      created_at: user.at,
      updated_at: user.at,
    };
    try {
      await this.client.send(
        new PutItemCommand({ TableName: this.tableName, Item: marshall(item), ConditionExpression: "attribute_not_exists(PK)" }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** The item, read consistently (the credential manager's writes are visible at once). */
  async get(username: string): Promise<StoredItem | undefined> {
    const output = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: marshall(smtpUserKey(username)), ConsistentRead: true }),
    );
    return output.Item ? unmarshall(output.Item) : undefined;
  }

  /** Every SMTP user item, through the entity-type index (never a Scan). */
  async list(): Promise<StoredItem[]> {
    return queryEntityType(this.client, this.tableName, EntityType.SmtpUser);
  }

  /**
   * Sets an `active` or `failed` item back to `pending` (the manager then rotates its key, or retries
   * its creation), optionally with a new `allowed_from`. False when there is no such item or it is
   * already `pending`.
   */
  async requestProvisioning(username: string, at: string, allowedFrom?: readonly string[]): Promise<boolean> {
    const values: Record<string, unknown> = {
      ":pending": SmtpUserStatus.Pending,
      ":active": SmtpUserStatus.Active,
      ":failed": SmtpUserStatus.Failed,
      ":at": at,
    };
    let set = "#status = :pending, updated_at = :at";
    if (allowedFrom) {
      set += ", allowed_from = :allowed";
      values[":allowed"] = [...allowedFrom];
    }
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: marshall(smtpUserKey(username)),
          UpdateExpression: `SET ${set} REMOVE #error`,
          ConditionExpression: "attribute_exists(PK) AND #status IN (:active, :failed)",
          ExpressionAttributeNames: { "#status": "status", "#error": "error" },
          ExpressionAttributeValues: marshall(values),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Deletes the item; returns what it held, or undefined when there was none. */
  async delete(username: string): Promise<StoredItem | undefined> {
    const output = await this.client.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: marshall(smtpUserKey(username)), ReturnValues: "ALL_OLD" }),
    );
    return output.Attributes ? unmarshall(output.Attributes) : undefined;
  }
}
