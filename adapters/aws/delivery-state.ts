/**
 * Short-lived delivery state on the routing table, each a single conditional or atomic write (no
 * transactions, so dynalite runs them too):
 * - DynamoDbMessageProgress: which consumers are done with a raw message (core/delivery.ts protocol),
 *   `PK = MESSAGE#<id>`, `SK = PROGRESS#v1`, `done` a string set grown with `ADD`.
 * - DynamoDbThrottleStore: the bouncer's one-bounce-per-window claims, `PK = BOUNCE#<key>`,
 *   `SK = THROTTLE#v1`, `holder` naming the invocation that holds it.
 * Both set TTL_ATTRIBUTE. DynamoDB's TTL deletes lazily (up to days late), so the throttle's condition
 * compares the expiry itself instead of relying on the item being gone.
 */
import { DeleteItemCommand, DynamoDBClient, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { randomUUID } from "node:crypto";
import { DeliveryStateError } from "../../core/errors";
import { MESSAGE_RECORD_TTL_SECONDS } from "../../core/retention";
import type { MessageProgress, ThrottleStore } from "../../core/ports";
import {
  BOUNCE_THROTTLE_KEY_PREFIX,
  MESSAGE_KEY_PREFIX,
  MESSAGE_PROGRESS_SORT_KEY,
  PARTITION_KEY,
  SORT_KEY,
  THROTTLE_SORT_KEY,
  TTL_ATTRIBUTE,
} from "../../core/table";

export interface DeliveryStateOptions {
  readonly tableName: string;
  /** Defaults to a client built on first use from the standard environment. */
  readonly client?: DynamoDBClient;
  /** Epoch milliseconds; injected by tests. */
  readonly now?: () => number;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function isConditionalCheckFailure(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}

/**
 * The table, clock and lazily built client both adapters share. Composition, not a base class: Pulumi
 * serializes a subclass without its own constructor as `function () { __super.call(this); }`, dropping
 * the arguments (measured: `options` undefined in the deployed code).
 */
class Table {
  readonly name: string;
  readonly now: () => number;
  private clientInstance: DynamoDBClient | undefined;

  constructor(options: DeliveryStateOptions) {
    this.name = options.tableName;
    this.clientInstance = options.client;
    this.now = options.now ?? (() => Date.now());
  }

  get client(): DynamoDBClient {
    this.clientInstance ??= new DynamoDBClient({});
    return this.clientInstance;
  }
}

export class DynamoDbMessageProgress implements MessageProgress {
  private readonly table: Table;

  constructor(options: DeliveryStateOptions) {
    this.table = new Table(options);
  }

  get tableName(): string {
    return this.table.name;
  }

  async complete(messageId: string, parts: readonly string[]): Promise<readonly string[]> {
    if (parts.length === 0) throw new DeliveryStateError(`message ${messageId}: no parts to mark done`);
    try {
      const output = await this.table.client.send(
        new UpdateItemCommand({
          TableName: this.table.name,
          Key: { [PARTITION_KEY]: { S: `${MESSAGE_KEY_PREFIX}${messageId}` }, [SORT_KEY]: { S: MESSAGE_PROGRESS_SORT_KEY } },
          UpdateExpression: "ADD #done :parts SET #ttl = :ttl",
          ExpressionAttributeNames: { "#done": "done", "#ttl": TTL_ATTRIBUTE },
          ExpressionAttributeValues: {
            ":parts": { SS: [...new Set(parts)] },
            ":ttl": { N: String(Math.floor(this.table.now() / 1000) + MESSAGE_RECORD_TTL_SECONDS) },
          },
          ReturnValues: "ALL_NEW",
        }),
      );
      return output.Attributes?.done?.SS ?? [];
    } catch (error) {
      throw new DeliveryStateError(`DynamoDB UpdateItem (message progress ${messageId}) on ${this.table.name} failed: ${describe(error)}`, { cause: error });
    }
  }
}

export class DynamoDbThrottleStore implements ThrottleStore {
  private readonly table: Table;
  /** The holder token of each key this instance acquired, so release frees only its own claim. */
  private readonly held: Record<string, string> = {};

  constructor(options: DeliveryStateOptions) {
    this.table = new Table(options);
  }

  private key(key: string) {
    return { [PARTITION_KEY]: { S: `${BOUNCE_THROTTLE_KEY_PREFIX}${key}` }, [SORT_KEY]: { S: THROTTLE_SORT_KEY } };
  }

  async acquire(key: string, windowSeconds: number): Promise<boolean> {
    const nowSeconds = Math.floor(this.table.now() / 1000);
    const holder = randomUUID();
    try {
      await this.table.client.send(
        new PutItemCommand({
          TableName: this.table.name,
          Item: { ...this.key(key), holder: { S: holder }, [TTL_ATTRIBUTE]: { N: String(nowSeconds + windowSeconds) } },
          ConditionExpression: "attribute_not_exists(#pk) OR #ttl <= :now",
          ExpressionAttributeNames: { "#pk": PARTITION_KEY, "#ttl": TTL_ATTRIBUTE },
          ExpressionAttributeValues: { ":now": { N: String(nowSeconds) } },
        }),
      );
      this.held[key] = holder;
      return true;
    } catch (error) {
      if (isConditionalCheckFailure(error)) return false;
      throw new DeliveryStateError(`DynamoDB PutItem (throttle ${key}) on ${this.table.name} failed: ${describe(error)}`, { cause: error });
    }
  }

  async release(key: string): Promise<void> {
    const holder = this.held[key];
    if (!holder) return;
    delete this.held[key];
    try {
      await this.table.client.send(
        new DeleteItemCommand({
          TableName: this.table.name,
          Key: this.key(key),
          ConditionExpression: "holder = :holder",
          ExpressionAttributeValues: { ":holder": { S: holder } },
        }),
      );
    } catch (error) {
      if (isConditionalCheckFailure(error)) return; // someone else holds it now; theirs to keep
      throw new DeliveryStateError(`DynamoDB DeleteItem (throttle ${key}) on ${this.table.name} failed: ${describe(error)}`, { cause: error });
    }
  }
}
