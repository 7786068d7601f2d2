/**
 * The routing rules in DynamoDB (the routing table's `ROUTE#` items).
 * The router's lookup is one BatchGetItem for every candidate key of every recipient.
 */
import {
  BatchGetItemCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";
import { describeError, RuleExistsError, RuleNotFoundError, RuleStoreError } from "../../core/errors";
import { DYNAMODB_BATCH_GET_MAX_KEYS, DYNAMODB_UNPROCESSED_BASE_DELAY_MS, DYNAMODB_UNPROCESSED_MAX_ATTEMPTS } from "../../core/limits";
import type { RuleRepository, StoredItem } from "../../core/ports";
import { routeKey } from "../../core/rules";
import { EntityType, ROUTE_KEY_PREFIX } from "../../core/table";
import { queryEntityType } from "./routing-table";

export interface DynamoDbRuleStoreOptions {
  readonly tableName: string;
  /** Defaults to a client built on first use from the standard environment (region, endpoint, credentials). */
  readonly client?: DynamoDBClient;
  /** Injected for tests; defaults to setTimeout. */
  readonly sleep?: (ms: number) => Promise<void>;
}

type Key = Record<string, AttributeValue>;

function isConditionalCheckFailure(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}

/** Splits a list into chunks of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

export class DynamoDbRuleStore implements RuleRepository {
  readonly tableName: string;
  private clientInstance: DynamoDBClient | undefined;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: DynamoDbRuleStoreOptions) {
    this.tableName = options.tableName;
    this.clientInstance = options.client;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  get client(): DynamoDBClient {
    this.clientInstance ??= new DynamoDBClient({});
    return this.clientInstance;
  }

  private async send<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (isConditionalCheckFailure(error)) throw error;
      const reason = describeError(error);
      throw new RuleStoreError(`DynamoDB ${operation} on ${this.tableName} failed: ${reason}`, { cause: error });
    }
  }

  async getRuleItems(patterns: readonly string[]): Promise<Map<string, StoredItem>> {
    const unique = [...new Set(patterns)];
    const found = new Map<string, StoredItem>();
    // Chunks go out in parallel: up to 100 keys cost one round trip, more cost one round trip of latency.
    await Promise.all(
      chunk(unique, DYNAMODB_BATCH_GET_MAX_KEYS).map((patternsChunk) =>
        this.batchGet(
          patternsChunk.map((pattern) => marshall(routeKey(pattern))),
          found,
        ),
      ),
    );
    return found;
  }

  private async batchGet(initialKeys: Key[], found: Map<string, StoredItem>): Promise<void> {
    let keys = initialKeys;
    for (let attempt = 0; keys.length > 0; attempt++) {
      if (attempt >= DYNAMODB_UNPROCESSED_MAX_ATTEMPTS) {
        throw new RuleStoreError(
          `DynamoDB BatchGetItem on ${this.tableName} left ${keys.length} keys unprocessed after ${attempt} attempts`,
        );
      }
      if (attempt > 0) {
        // Full jitter: a random delay up to base·2^attempt, so throttled routers do not retry in step.
        await this.sleep(Math.random() * DYNAMODB_UNPROCESSED_BASE_DELAY_MS * 2 ** attempt);
      }
      const requestKeys = keys;
      const output = await this.send("BatchGetItem", () =>
        this.client.send(new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: requestKeys } } })),
      );
      for (const raw of output.Responses?.[this.tableName] ?? []) {
        const item = unmarshall(raw);
        if (typeof item.PK === "string") found.set(item.PK.slice(ROUTE_KEY_PREFIX.length), item);
      }
      keys = output.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
    }
  }

  async getRuleItem(pattern: string): Promise<StoredItem | undefined> {
    const output = await this.send("GetItem", () =>
      this.client.send(new GetItemCommand({ TableName: this.tableName, Key: marshall(routeKey(pattern)), ConsistentRead: true })),
    );
    return output.Item ? unmarshall(output.Item) : undefined;
  }

  async listRuleItems(): Promise<StoredItem[]> {
    return this.send("Query", () => queryEntityType(this.client, this.tableName, EntityType.Route));
  }

  async putRuleItem(item: StoredItem, options: { ifAbsent?: boolean } = {}): Promise<void> {
    try {
      await this.send("PutItem", () =>
        this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: marshall(item, { removeUndefinedValues: true }),
            ...(options.ifAbsent ? { ConditionExpression: "attribute_not_exists(PK)" } : {}),
          }),
        ),
      );
    } catch (error) {
      if (isConditionalCheckFailure(error)) {
        throw new RuleExistsError(String(item.PK).slice(ROUTE_KEY_PREFIX.length));
      }
      throw error;
    }
  }

  async setRuleEnabled(pattern: string, enabled: boolean, updatedAt: string): Promise<void> {
    try {
      await this.send("UpdateItem", () =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: marshall(routeKey(pattern)),
            UpdateExpression: "SET enabled = :enabled, updated_at = :updated",
            ConditionExpression: "attribute_exists(PK)",
            ExpressionAttributeValues: marshall({ ":enabled": enabled, ":updated": updatedAt }),
          }),
        ),
      );
    } catch (error) {
      if (isConditionalCheckFailure(error)) throw new RuleNotFoundError(pattern);
      throw error;
    }
  }

  async deleteRuleItem(pattern: string): Promise<boolean> {
    const output = await this.send("DeleteItem", () =>
      this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: marshall(routeKey(pattern)), ReturnValues: "ALL_OLD" })),
    );
    return output.Attributes !== undefined;
  }
}
