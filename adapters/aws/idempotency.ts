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
 * de-duplicate imports.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import type { Context } from "aws-lambda";
import { DeliveryInProgressError, DeliveryStateError } from "../../core/errors";
import { DELIVERY_RECORD_TTL_SECONDS } from "../../core/retention";
import type { IdempotencyStore } from "../../core/ports";
import { IDEMPOTENCY_KEY_PREFIX, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE } from "../../core/table";

/** Where a lock is held when no Lambda context says how long the invocation may still run (local mode). */
export const DEFAULT_IN_PROGRESS_TIMEOUT_MS = 5 * 60 * 1000;

/** Marks a result Powertools returned from a record instead of running the work. */
const REPLAYED = "__replayed";

type Result = Readonly<Record<string, string | number | boolean>>;

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

  constructor(options: DynamoDbIdempotencyStoreOptions) {
    const keyPrefix = options.keyPrefix ?? "gmail-forwarder";
    const persistenceStore = new DynamoDBPersistenceLayer({
      tableName: options.tableName,
      keyAttr: PARTITION_KEY,
      sortKeyAttr: SORT_KEY,
      staticPkValue: `${IDEMPOTENCY_KEY_PREFIX}${keyPrefix}`,
      expiryAttr: TTL_ATTRIBUTE,
      ...(options.client ? { awsSdkV3Client: options.client } : {}),
    });
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

  /**
   * How long the current invocation may still run: an INPROGRESS record left by a crash expires then.
   * The handler passes the Lambda context's clock on every invocation.
   */
  useRemainingTime(remainingMs: () => number): void {
    // Powertools reads only getRemainingTimeInMillis from the context it is given.
    this.config.registerLambdaContext({ getRemainingTimeInMillis: remainingMs } as unknown as Context);
  }

  async once<T extends Result>(key: string, work: () => Promise<T>): Promise<{ value: T; replayed: boolean }> {
    let ran = false;
    let result: Result;
    try {
      result = await this.run({ key }, async () => {
        ran = true;
        return work();
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
