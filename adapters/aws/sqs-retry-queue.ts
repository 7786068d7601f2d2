/** The Gmail forwarder's retry queue on SQS. IAM: sqs:SendMessage on the retry queue. */
import { SQSClient, SendMessageCommand } from "@aws-sdk/client-sqs";
import { DeliveryStateError, describeError } from "../../core/errors";
import type { RetryQueue } from "../../core/ports";

export class SqsRetryQueue implements RetryQueue {
  readonly queueUrl: string;
  private clientInstance: SQSClient | undefined;

  constructor(options: { readonly queueUrl: string; readonly client?: SQSClient }) {
    this.queueUrl = options.queueUrl;
    this.clientInstance = options.client;
  }

  private get client(): SQSClient {
    this.clientInstance ??= new SQSClient({});
    return this.clientInstance;
  }

  async enqueue(body: string, options: { delaySeconds?: number } = {}): Promise<void> {
    try {
      await this.client.send(
        new SendMessageCommand({
          QueueUrl: this.queueUrl,
          MessageBody: body,
          ...(options.delaySeconds ? { DelaySeconds: Math.min(900, Math.max(0, Math.floor(options.delaySeconds))) } : {}),
        }),
      );
    } catch (error) {
      const reason = describeError(error);
      throw new DeliveryStateError(`SQS SendMessage to the retry queue ${this.queueUrl} failed: ${reason}`, { cause: error });
    }
  }
}
