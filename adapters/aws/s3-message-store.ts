/**
 * The raw messages SES wrote to S3. `open` streams the object (GetObject's body is passed on as it
 * arrives, never buffered or decoded); `delete` removes it.
 *
 * IAM: s3:GetObject and s3:DeleteObject on the message objects, and s3:ListBucket on the bucket. Without
 * ListBucket, S3 answers 403 AccessDenied for a missing key instead of 404 NoSuchKey, and a message that
 * is gone could not be told from a permissions problem.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import { describeError, MessageNotFoundError, MessageStoreError } from "../../core/errors";
import type { MessageLocation, MessageStore, StoredMessage } from "../../core/ports";

export interface S3MessageStoreOptions {
  /** Defaults to a client built on first use from the standard environment. */
  readonly client?: S3Client;
}

/**
 * The SDK, loaded on first use rather than with this module: local mode loads the delivery handlers,
 * which import this file, and keeps messages in files (about 0.05 s of each start). A package `require`
 * inside a function is serialized by reference, so the Lambda loads it from its runtime.
 */
function s3Sdk(): typeof import("@aws-sdk/client-s3") {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return require("@aws-sdk/client-s3") as typeof import("@aws-sdk/client-s3");
}

function isMissing(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return error.name === "NoSuchKey" || error.name === "NotFound" || status === 404;
}

export class S3MessageStore implements MessageStore {
  private clientInstance: S3Client | undefined;

  constructor(options: S3MessageStoreOptions = {}) {
    this.clientInstance = options.client;
  }

  private get client(): S3Client {
    this.clientInstance ??= new (s3Sdk().S3Client)({});
    return this.clientInstance;
  }

  async open(location: MessageLocation): Promise<StoredMessage> {
    let output;
    try {
      output = await this.client.send(new (s3Sdk().GetObjectCommand)({ Bucket: location.bucket, Key: location.key }));
    } catch (error) {
      if (isMissing(error)) throw new MessageNotFoundError(location, { cause: error });
      throw new MessageStoreError(`S3 GetObject s3://${location.bucket}/${location.key} failed: ${describeError(error)}`, { cause: error });
    }
    const body = output.Body as Readable | undefined;
    if (!body || output.ContentLength === undefined) {
      (body as Readable | undefined)?.destroy?.();
      throw new MessageStoreError(`S3 GetObject s3://${location.bucket}/${location.key} returned no body or no length`);
    }
    return { body, size: output.ContentLength };
  }

  async delete(location: MessageLocation): Promise<void> {
    try {
      // S3 answers 204 for a key that does not exist: already gone is success.
      await this.client.send(new (s3Sdk().DeleteObjectCommand)({ Bucket: location.bucket, Key: location.key }));
    } catch (error) {
      if (isMissing(error)) return;
      throw new MessageStoreError(`S3 DeleteObject s3://${location.bucket}/${location.key} failed: ${describeError(error)}`, {
        cause: error,
      });
    }
  }
}
