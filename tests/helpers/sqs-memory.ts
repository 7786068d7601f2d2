/**
 * An in-memory SQS behind aws-sdk-client-mock, for CLI tests that move messages between queues:
 * named queues, visibility (a received message stays hidden until deleted or made visible again),
 * receive counts, message attributes, batch send and delete with per-entry failures.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  type MessageAttributeValue,
} from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";

export interface StoredMessage {
  id: string;
  body: string;
  attributes: Record<string, MessageAttributeValue>;
  sentAt: number;
  receiveCount: number;
  hidden: boolean;
  receipt?: string;
}

export interface MemorySqs {
  readonly mock: ReturnType<typeof mockClient>;
  readonly queues: Map<string, StoredMessage[]>;
  urlOf(name: string): string;
  add(name: string, body: string, attributes?: Record<string, string>, sentAt?: number): void;
  bodies(name: string): string[];
  /** Sends whose body matches fail with this code. */
  failSendsMatching?: { pattern: RegExp; code: string };
}

const BASE = "https://sqs.eu-west-2.amazonaws.com/123456789012/";

export function memorySqs(names: readonly string[]): MemorySqs {
  const queues = new Map<string, StoredMessage[]>(names.map((name) => [name, []]));
  const mock = mockClient(SQSClient);
  let counter = 0;
  const nameOf = (url: string | undefined) => (url ?? "").slice(BASE.length);
  const queue = (url: string | undefined) => {
    const found = queues.get(nameOf(url));
    if (!found) throw Object.assign(new Error("The specified queue does not exist."), { name: "QueueDoesNotExist" });
    return found;
  };

  const sqs: MemorySqs = {
    mock,
    queues,
    urlOf: (name) => `${BASE}${name}`,
    add(name, body, attributes = {}, sentAt = Date.now()) {
      queues.get(name)!.push({
        id: `m-${++counter}`,
        body,
        attributes: Object.fromEntries(Object.entries(attributes).map(([key, value]) => [key, { DataType: "String", StringValue: value }])),
        sentAt,
        receiveCount: 3,
        hidden: false,
      });
    },
    bodies: (name) => queues.get(name)!.map((message) => message.body),
  };

  mock.on(GetQueueUrlCommand).callsFake((input: { QueueName: string }) => {
    if (!queues.has(input.QueueName)) throw Object.assign(new Error("The specified queue does not exist."), { name: "QueueDoesNotExist" });
    return { QueueUrl: `${BASE}${input.QueueName}` };
  });
  mock.on(GetQueueAttributesCommand).callsFake((input: { QueueUrl: string }) => {
    const messages = queue(input.QueueUrl);
    return {
      Attributes: {
        ApproximateNumberOfMessages: String(messages.filter((m) => !m.hidden).length),
        ApproximateNumberOfMessagesNotVisible: String(messages.filter((m) => m.hidden).length),
        ApproximateNumberOfMessagesDelayed: "0",
      },
    };
  });
  mock.on(ReceiveMessageCommand).callsFake((input: { QueueUrl: string; MaxNumberOfMessages?: number }) => {
    const visible = queue(input.QueueUrl)
      .filter((m) => !m.hidden)
      .slice(0, input.MaxNumberOfMessages ?? 1);
    return {
      Messages: visible.map((message) => {
        message.hidden = true;
        message.receiveCount++;
        message.receipt = `r-${message.id}-${message.receiveCount}`;
        return {
          MessageId: message.id,
          ReceiptHandle: message.receipt,
          Body: message.body,
          Attributes: { ApproximateReceiveCount: String(message.receiveCount), SentTimestamp: String(message.sentAt) },
          ...(Object.keys(message.attributes).length ? { MessageAttributes: message.attributes } : {}),
        };
      }),
    };
  });
  mock
    .on(ChangeMessageVisibilityBatchCommand)
    .callsFake((input: { QueueUrl: string; Entries: Array<{ Id: string; ReceiptHandle: string; VisibilityTimeout: number }> }) => {
      for (const entry of input.Entries) {
        const message = queue(input.QueueUrl).find((m) => m.receipt === entry.ReceiptHandle);
        if (message && entry.VisibilityTimeout === 0) message.hidden = false;
      }
      return { Successful: input.Entries.map((entry) => ({ Id: entry.Id })), Failed: [] };
    });
  mock
    .on(SendMessageBatchCommand)
    .callsFake(
      (input: {
        QueueUrl: string;
        Entries: Array<{ Id: string; MessageBody: string; MessageAttributes?: Record<string, MessageAttributeValue> }>;
      }) => {
        const target = queue(input.QueueUrl);
        const Successful: Array<{ Id: string; MessageId: string; MD5OfMessageBody: string }> = [];
        const Failed: Array<{ Id: string; SenderFault: boolean; Code: string; Message: string }> = [];
        for (const entry of input.Entries) {
          if (sqs.failSendsMatching?.pattern.test(entry.MessageBody)) {
            Failed.push({ Id: entry.Id, SenderFault: true, Code: sqs.failSendsMatching.code, Message: "refused by the test" });
            continue;
          }
          target.push({
            id: `m-${++counter}`,
            body: entry.MessageBody,
            attributes: entry.MessageAttributes ?? {},
            sentAt: Date.now(),
            receiveCount: 0,
            hidden: false,
          });
          Successful.push({ Id: entry.Id, MessageId: `m-${counter}`, MD5OfMessageBody: "x" });
        }
        return { Successful, Failed };
      },
    );
  mock.on(DeleteMessageBatchCommand).callsFake((input: { QueueUrl: string; Entries: Array<{ Id: string; ReceiptHandle: string }> }) => {
    const messages = queue(input.QueueUrl);
    for (const entry of input.Entries) {
      const index = messages.findIndex((m) => m.receipt === entry.ReceiptHandle);
      if (index >= 0) messages.splice(index, 1);
    }
    return { Successful: input.Entries.map((entry) => ({ Id: entry.Id })), Failed: [] };
  });
  return sqs;
}
