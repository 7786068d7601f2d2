/**
 * Stand-ins and factories for the delivery handlers' tests: the EventBridge event around a decision,
 * an in-memory S3 behind aws-sdk-client-mock (so the real S3MessageStore adapter runs), in-memory
 * secrets and retry queue, and the .eml fixtures.
 */
import { DeleteObjectCommand, GetObjectCommand, NoSuchKey, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import PostalMime from "postal-mime";
import * as fs from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";
import { DECISION_DETAIL_TYPE, DECISION_SOURCE, type DecisionDetail } from "../../core/decision";
import type { RetryQueue, SecretStore } from "../../core/ports";

export function fixture(name: string): Buffer {
  return fs.readFileSync(path.join(__dirname, "..", "fixtures", name));
}

let eventCounter = 0;

/** The EventBridge event the bus delivers to a handler queue, around a decision. */
export function decisionEvent(detail: DecisionDetail): Record<string, unknown> {
  return {
    version: "0",
    id: `5a1b2c3d-0000-4000-8000-${String(++eventCounter).padStart(12, "0")}`,
    "detail-type": DECISION_DETAIL_TYPE,
    source: DECISION_SOURCE,
    account: "123456789012",
    time: "2026-11-28T10:00:01Z",
    region: "eu-west-2",
    resources: [],
    detail,
  };
}

/** A stored object: bytes, or a generator for large bodies that must never be held whole. */
export type StoredObject = Buffer | { size: number; stream: () => Readable };

export interface MemoryS3 {
  readonly client: S3Client;
  readonly objects: Map<string, StoredObject>;
  readonly gets: string[];
  readonly deletes: string[];
  put(bucket: string, key: string, object: StoredObject): void;
  has(bucket: string, key: string): boolean;
  restore(): void;
}

/** An S3Client whose GetObject/DeleteObject are served from memory (aws-sdk-client-mock). */
export function memoryS3(): MemoryS3 {
  const client = new S3Client({ region: "eu-west-2" });
  const mock = mockClient(client);
  const objects = new Map<string, StoredObject>();
  const gets: string[] = [];
  const deletes: string[] = [];
  mock.on(GetObjectCommand).callsFake(async (input: { Bucket: string; Key: string }) => {
    const id = `${input.Bucket}/${input.Key}`;
    gets.push(id);
    const object = objects.get(id);
    if (!object) throw new NoSuchKey({ message: "The specified key does not exist.", $metadata: { httpStatusCode: 404 } });
    if (Buffer.isBuffer(object)) return { Body: Readable.from([object]), ContentLength: object.length };
    return { Body: object.stream(), ContentLength: object.size };
  });
  mock.on(DeleteObjectCommand).callsFake(async (input: { Bucket: string; Key: string }) => {
    const id = `${input.Bucket}/${input.Key}`;
    deletes.push(id);
    objects.delete(id);
    return {};
  });
  return {
    client,
    objects,
    gets,
    deletes,
    put: (bucket, key, object) => objects.set(`${bucket}/${key}`, object),
    has: (bucket, key) => objects.has(`${bucket}/${key}`),
    restore: () => mock.restore(),
  };
}

export class MemorySecrets implements SecretStore {
  readonly values = new Map<string, string>();
  reads = 0;

  async getSecret(name: string): Promise<string | undefined> {
    this.reads++;
    return this.values.get(name);
  }
}

export class MemoryRetryQueue implements RetryQueue {
  readonly messages: Array<{ body: string; delaySeconds?: number }> = [];

  async enqueue(body: string, options: { delaySeconds?: number } = {}): Promise<void> {
    this.messages.push({ body, ...(options.delaySeconds !== undefined ? { delaySeconds: options.delaySeconds } : {}) });
  }
}

/** RFC 3464 §2.1: the delivery-status content is groups of header-like fields separated by blank lines. */
export function deliveryStatusGroups(text: string): Array<Record<string, string>> {
  return text
    .replace(/\r\n/g, "\n")
    .split(/\n\s*\n/)
    .filter((group) => group.trim() !== "")
    .map((group) =>
      Object.fromEntries(group.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1).trim()])),
    );
}

/** A DSN the bouncer sent: the parsed message, its delivery-status groups and the quoted headers of the bounced mail. */
export async function readDsn(raw: Uint8Array) {
  const email = await PostalMime.parse(Buffer.from(raw));
  const part = (type: string) => {
    const found = email.attachments.find((attachment) => attachment.mimeType === type);
    return found ? Buffer.from(found.content as ArrayBuffer).toString("utf8") : undefined;
  };
  return { email, groups: deliveryStatusGroups(part("message/delivery-status") ?? ""), quoted: part("text/rfc822-headers") };
}
