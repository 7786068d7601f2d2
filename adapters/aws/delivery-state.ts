/**
 * Delivery state on the routing table, each a single conditional or atomic write (no transactions, so
 * dynalite runs them too):
 * - DynamoDbMessageProgress: the message record, `PK = MESSAGE#<id>`, `SK = PROGRESS#v1`: which consumers
 *   are done with a raw message (core/delivery.ts protocol, `done` a string set grown with `ADD`), and the
 *   message's fate for `ses-mail trace`: the decision (kept once), every outcome the forwarder and the
 *   bouncer report (a list grown with `list_append`, one JSON text per outcome) and the latest re-park per
 *   account. Each handler record costs one UpdateItem (two when it deletes the raw message); the router
 *   never writes, so routing keeps its one round trip.
 * - DynamoDbThrottleStore: the bouncer's one-bounce-per-window claims, `PK = BOUNCE#<key>`,
 *   `SK = THROTTLE#v1`, `holder` naming the invocation that holds it.
 * Both set TTL_ATTRIBUTE. DynamoDB's TTL deletes lazily (up to days late), so the throttle's condition
 * compares the expiry itself instead of relying on the item being gone.
 */
import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from "@aws-sdk/client-dynamodb";
import { randomUUID } from "node:crypto";
import { DeliveryStateError, describeError } from "../../core/errors";
import { MESSAGE_RECORD_TTL_SECONDS } from "../../core/retention";
import type { DecisionDetail } from "../../core/decision";
import type { Outcome } from "../../core/outcomes";
import type { Clock, MessageProgress, MessageRecordEntry, StoredMessageRecord, ThrottleStore } from "../../core/ports";
import {
  BOUNCE_THROTTLE_KEY_PREFIX,
  MESSAGE_KEY_PREFIX,
  MESSAGE_PROGRESS_SORT_KEY,
  MessageRecordAttribute,
  PARTITION_KEY,
  SORT_KEY,
  THROTTLE_SORT_KEY,
  TTL_ATTRIBUTE,
} from "../../core/table";

export interface DeliveryStateOptions {
  readonly tableName: string;
  /** Defaults to a client built on first use from the standard environment. */
  readonly client?: DynamoDBClient;
  /** Injected by tests. */
  readonly now?: Clock;
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
  readonly now: Clock;
  private clientInstance: DynamoDBClient | undefined;

  constructor(options: DeliveryStateOptions) {
    this.name = options.tableName;
    this.clientInstance = options.client;
    this.now = options.now ?? (() => new Date());
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
    return this.record(messageId, { outcomes: [], partsDone: parts });
  }

  async record(messageId: string, entry: MessageRecordEntry): Promise<readonly string[]> {
    const parts = [...new Set(entry.partsDone ?? [])];
    const now = this.table.now().getTime();
    const names: Record<string, string> = { "#ttl": TTL_ATTRIBUTE, "#updated": MessageRecordAttribute.UpdatedAt };
    const values: Record<string, AttributeValue> = {
      ":ttl": { N: String(Math.floor(now / 1000) + MESSAGE_RECORD_TTL_SECONDS) },
      ":updated": { S: new Date(now).toISOString() },
    };
    const sets = ["#ttl = :ttl", "#updated = :updated"];
    if (entry.decision) {
      names["#decision"] = MessageRecordAttribute.Decision;
      values[":decision"] = { S: JSON.stringify(entry.decision) };
      sets.push("#decision = if_not_exists(#decision, :decision)");
    }
    // A re-park (attempt > 1) replaces the account's previous one: the first park and the latest are what trace needs.
    const reparks = entry.outcomes.filter((outcome) => outcome.kind === "parked" && outcome.attempt > 1);
    const appended = entry.outcomes.filter((outcome) => !reparks.includes(outcome));
    if (appended.length > 0) {
      names["#outcomes"] = MessageRecordAttribute.Outcomes;
      values[":outcomes"] = { L: appended.map((outcome) => ({ S: JSON.stringify(outcome) })) };
      values[":none"] = { L: [] };
      sets.push("#outcomes = list_append(if_not_exists(#outcomes, :none), :outcomes)");
    }
    reparks.forEach((outcome, index) => {
      names[`#park${index}`] = `${MessageRecordAttribute.LatestParkPrefix}${(outcome as { account: string }).account}`;
      values[`:park${index}`] = { S: JSON.stringify(outcome) };
      sets.push(`#park${index} = :park${index}`);
    });
    let update = `SET ${sets.join(", ")}`;
    if (parts.length > 0) {
      names["#done"] = MessageRecordAttribute.Done;
      values[":parts"] = { SS: parts };
      update += " ADD #done :parts";
    }
    try {
      const output = await this.table.client.send(
        new UpdateItemCommand({
          TableName: this.table.name,
          Key: messageRecordKey(messageId),
          UpdateExpression: update,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          // Only `done` is read back; UPDATED_NEW returns what this write touched, ALL_NEW would send the whole fate.
          ReturnValues: parts.length > 0 ? "UPDATED_NEW" : "NONE",
        }),
      );
      return output.Attributes?.[MessageRecordAttribute.Done]?.SS ?? [];
    } catch (error) {
      throw new DeliveryStateError(
        `DynamoDB UpdateItem (message record ${messageId}) on ${this.table.name} failed: ${describeError(error)}`,
        { cause: error },
      );
    }
  }

  /** The message's record as stored, or undefined when there is none (never recorded, or expired). */
  async read(messageId: string): Promise<StoredMessageRecord | undefined> {
    let item: Record<string, AttributeValue> | undefined;
    try {
      item = (
        await this.table.client.send(
          new GetItemCommand({ TableName: this.table.name, Key: messageRecordKey(messageId), ConsistentRead: true }),
        )
      ).Item;
    } catch (error) {
      throw new DeliveryStateError(`DynamoDB GetItem (message record ${messageId}) on ${this.table.name} failed: ${describeError(error)}`, {
        cause: error,
      });
    }
    return item ? parseMessageRecord(messageId, item) : undefined;
  }
}

function messageRecordKey(messageId: string): Record<string, AttributeValue> {
  return { [PARTITION_KEY]: { S: `${MESSAGE_KEY_PREFIX}${messageId}` }, [SORT_KEY]: { S: MESSAGE_PROGRESS_SORT_KEY } };
}

function parseJsonObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A stored message record as plain data. Outcomes are this program's own JSON; one that is not an object
 * with a kind and a time (written by a newer version, or damaged) is counted, not guessed at.
 */
export function parseMessageRecord(messageId: string, item: Readonly<Record<string, AttributeValue>>): StoredMessageRecord {
  const texts = [
    ...(item[MessageRecordAttribute.Outcomes]?.L ?? []).map((entry) => entry.S),
    ...Object.entries(item).flatMap(([name, value]) => (name.startsWith(MessageRecordAttribute.LatestParkPrefix) ? [value.S] : [])),
  ];
  const outcomes: Outcome[] = [];
  let unreadable = 0;
  for (const text of texts) {
    const value = parseJsonObject(text);
    if (value && typeof value.kind === "string" && typeof value.at === "string") outcomes.push(value as unknown as Outcome);
    else unreadable++;
  }
  outcomes.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const decision = parseJsonObject(item[MessageRecordAttribute.Decision]?.S);
  const expires = Number(item[TTL_ATTRIBUTE]?.N);
  return {
    messageId,
    ...(decision && typeof decision.originalMessageId === "string" ? { decision: decision as unknown as DecisionDetail } : {}),
    outcomes,
    partsDone: item[MessageRecordAttribute.Done]?.SS ?? [],
    ...(Number.isFinite(expires) && expires > 0 ? { expiresAt: new Date(expires * 1000).toISOString() } : {}),
    unreadable,
  };
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
    const nowSeconds = Math.floor(this.table.now().getTime() / 1000);
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
      throw new DeliveryStateError(`DynamoDB PutItem (throttle ${key}) on ${this.table.name} failed: ${describeError(error)}`, {
        cause: error,
      });
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
      throw new DeliveryStateError(`DynamoDB DeleteItem (throttle ${key}) on ${this.table.name} failed: ${describeError(error)}`, {
        cause: error,
      });
    }
  }
}
