/**
 * The forwarder's idempotency records: Powertools idempotency (`makeIdempotent` with its DynamoDB
 * persistence layer) on the routing table.
 *
 * Items: `PK = IDEMPOTENCY#<keyPrefix>` (one partition for all, as Powertools does with a sort key),
 * `SK = <keyPrefix>#<md5 of the key>`, `status` (INPROGRESS / COMPLETED), `data` (the recorded result),
 * `in_progress_expiration` (ms) and TTL_ATTRIBUTE (s).
 *
 * Checked against dynalite: conditional writes, the in-progress lock and replay all work. dynalite
 * accepts `ReturnValuesOnConditionCheckFailure` but does not return the old item; Powertools then reads
 * it with a consistent GetItem, so the result is the same (one more round trip, on replays only).
 *
 * The one window where a message can be imported twice: the import succeeded and the process died (or
 * DynamoDB failed) before the record was marked COMPLETED. The INPROGRESS record then expires with the
 * invocation's remaining time, and a redelivered record imports again. Gmail itself does not
 * de-duplicate imports. That recovery path is told to the work (`interruptedEarlier`), so the forwarder
 * can report a possible duplicate. Powertools does not say when its conditional put took over an expired
 * in-progress record, so the store first tries the put without that case (`attribute_not_exists OR
 * expired`, the common path: one round trip as before) and falls back to Powertools' own put only when
 * the key exists; if that one succeeds, it took over an interrupted run.
 */
import { DynamoDBClient, PutItemCommand, type AttributeValue } from "@aws-sdk/client-dynamodb";
import { IdempotencyConfig, makeIdempotent, PERSISTENCE_ATTRIBUTE_KEY_MAPPINGS } from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import type { Context } from "aws-lambda";
import { DeliveryInProgressError, DeliveryStateError } from "../../core/errors";
import { DELIVERY_RECORD_TTL_SECONDS } from "../../core/retention";
import type { IdempotencyStore, IdempotentRun } from "../../core/ports";
import { GMAIL_FORWARDER_IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_PREFIX, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE } from "../../core/table";

/** Where a lock is held when no Lambda context says how long the invocation may still run (local mode). */
export const DEFAULT_IN_PROGRESS_TIMEOUT_MS = 5 * 60 * 1000;

/** Marks a result Powertools returned from a record instead of running the work. */
const REPLAYED = "__replayed";

type Result = Readonly<Record<string, string | number | boolean>>;

/** What the persistence layer hands its `_putRecord` (Powertools' IdempotencyRecord, the fields used here). */
interface PutRecord {
  readonly idempotencyKey: string;
  readonly expiryTimestamp?: number;
  readonly inProgressExpiryTimestamp?: number;
  getStatus(): string;
}

/**
 * The parts of Powertools' DynamoDBPersistenceLayer (2.35) the recovery check uses: its client, its key
 * builder and its own put. Protected in the typings, plain properties at run time; a Powertools upgrade that
 * changes them fails the idempotency tests.
 */
interface PersistenceInternals {
  readonly client: DynamoDBClient;
  getKey(idempotencyKey: string): Record<string, AttributeValue>;
  _putRecord(record: PutRecord): Promise<void>;
}

export interface DynamoDbIdempotencyStoreOptions {
  readonly tableName: string;
  /** Names the records' partition and key prefix; stable across deploys (unlike the function name). */
  readonly keyPrefix?: string;
  readonly client?: DynamoDBClient;
  readonly ttlSeconds?: number;
}

export class DynamoDbIdempotencyStore implements IdempotencyStore {
  private readonly config: IdempotencyConfig;
  private readonly run: (payload: { key: string }, work: () => Promise<Result>) => Promise<Result>;
  /** Hashed keys whose current run took over an interrupted one; taken (and cleared) by the run's work. */
  private readonly interrupted: Record<string, true> = {};
  private readonly hashedKey: (key: string) => string;

  constructor(options: DynamoDbIdempotencyStoreOptions) {
    const keyPrefix = options.keyPrefix ?? GMAIL_FORWARDER_IDEMPOTENCY_KEY;
    const persistenceStore = new DynamoDBPersistenceLayer({
      tableName: options.tableName,
      keyAttr: PARTITION_KEY,
      sortKeyAttr: SORT_KEY,
      staticPkValue: `${IDEMPOTENCY_KEY_PREFIX}${keyPrefix}`,
      expiryAttr: TTL_ATTRIBUTE,
      ...(options.client ? { awsSdkV3Client: options.client } : {}),
    });
    this.watchForInterruptedRuns(persistenceStore as unknown as PersistenceInternals, options.tableName);
    const hasher = persistenceStore as unknown as { getHashedIdempotencyKey(data: { key: string }): string };
    this.hashedKey = (key) => hasher.getHashedIdempotencyKey({ key });
    this.config = new IdempotencyConfig({
      eventKeyJmesPath: "key",
      // An empty key must fail, never silently run the work without protection.
      throwOnNoIdempotencyKey: true,
      expiresAfterSeconds: options.ttlSeconds ?? DELIVERY_RECORD_TTL_SECONDS,
      responseHook: (response) => ({ ...(response as Record<string, unknown>), [REPLAYED]: true }),
    });
    this.useRemainingTime(() => DEFAULT_IN_PROGRESS_TIMEOUT_MS);
    this.run = makeIdempotent(async (_payload: { key: string }, work: () => Promise<Result>) => work(), {
      persistenceStore,
      config: this.config,
      keyPrefix,
      dataIndexArgument: 0,
    });
  }

  /** Replaces the layer's put: a first try that refuses every existing record, then Powertools' own (see the top of this file). */
  private watchForInterruptedRuns(layer: PersistenceInternals, tableName: string): void {
    const powertoolsPut = layer._putRecord.bind(layer);
    const attributes = PERSISTENCE_ATTRIBUTE_KEY_MAPPINGS;
    layer._putRecord = async (record) => {
      const item: Record<string, AttributeValue> = {
        ...layer.getKey(record.idempotencyKey),
        [attributes.statusAttr]: { S: record.getStatus() },
      };
      if (record.expiryTimestamp !== undefined) item[TTL_ATTRIBUTE] = { N: String(record.expiryTimestamp) };
      if (record.inProgressExpiryTimestamp !== undefined)
        item[attributes.inProgressExpiryAttr] = { N: String(record.inProgressExpiryTimestamp) };
      try {
        await layer.client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: item,
            ConditionExpression: "attribute_not_exists(#id) OR #expiry < :now",
            ExpressionAttributeNames: { "#id": PARTITION_KEY, "#expiry": TTL_ATTRIBUTE },
            ExpressionAttributeValues: { ":now": { N: String(Date.now() / 1000) } },
          }),
        );
        return;
      } catch (error) {
        if (!(error instanceof Error && error.name === "ConditionalCheckFailedException")) throw error;
      }
      // The key exists: a live or completed run (Powertools' put refuses it and hands the record back), or
      // an in-progress lock that expired, which Powertools' put takes over: a run that was interrupted.
      await powertoolsPut(record);
      this.interrupted[record.idempotencyKey] = true;
    };
  }

  /**
   * How long the current invocation may still run: an INPROGRESS record left by a crash expires then.
   * The handler passes the Lambda context's clock on every invocation.
   */
  useRemainingTime(remainingMs: () => number): void {
    // Powertools reads only getRemainingTimeInMillis from the context it is given.
    this.config.registerLambdaContext({ getRemainingTimeInMillis: remainingMs } as unknown as Context);
  }

  async once<T extends Result>(key: string, work: (run: IdempotentRun) => Promise<T>): Promise<{ value: T; replayed: boolean }> {
    let ran = false;
    let result: Result;
    try {
      result = await this.run({ key }, async () => {
        ran = true;
        const hashed = this.hashedKey(key);
        const interruptedEarlier = this.interrupted[hashed] === true;
        delete this.interrupted[hashed];
        return work({ interruptedEarlier });
      });
    } catch (error) {
      if (ran && !isPowertoolsError(error)) throw error; // the work's own failure, unchanged
      if (error instanceof Error && error.name === "IdempotencyAlreadyInProgressError") {
        throw new DeliveryInProgressError(key, { cause: error });
      }
      if (isPowertoolsError(error)) {
        throw new DeliveryStateError(`idempotency record for ${key}: ${(error as Error).message}`, { cause: error });
      }
      throw error;
    }
    // Not a computed-key destructuring: Pulumi's closure analysis misses identifiers used as computed
    // keys in a destructuring pattern (measured: "REPLAYED is not defined" in the deployed code).
    const value: Record<string, string | number | boolean> = { ...result };
    const replayed = value[REPLAYED] === true;
    delete value[REPLAYED];
    return { value: value as T, replayed };
  }
}

function isPowertoolsError(error: unknown): boolean {
  return error instanceof Error && error.name.startsWith("Idempotency");
}
