/**
 * Sends complete messages as bytes with SES SendRawEmail (the bouncer's DSNs). IAM: ses:SendRawEmail.
 *
 * SES throttling (its sending rate or daily quota, error code `Throttling`) is retryable: the client
 * paces and retries throttled sends itself (the SDK's adaptive retry mode), and a send still throttled
 * after that fails as a retryable BounceSendError, so the record is retried later rather than given up.
 */
import { SESClient, SendRawEmailCommand } from "@aws-sdk/client-ses";
import { BounceSendError, describeError } from "../../core/errors";
import type { RawMailSender } from "../../core/ports";

/**
 * Attempts per send, the first included. With the SDK's exponential backoff (base 100 ms, jittered)
 * six attempts span a few seconds, long enough for a per-second sending rate to admit the send, and
 * short enough that a batch of ten still ends inside the bouncer's one-minute timeout.
 */
export const SES_SEND_MAX_ATTEMPTS = 6;

/** Error names SES uses when it refuses a send for now rather than for good. */
const THROTTLING_ERRORS: readonly string[] = ["Throttling", "ThrottlingException", "TooManyRequestsException"];

/** Whether an SES error says "not now" (rate or quota exceeded) rather than "not this message". */
export function isSesThrottling(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const retryable = (error as { $retryable?: { throttling?: boolean } }).$retryable;
  return THROTTLING_ERRORS.includes(error.name) || retryable?.throttling === true;
}

export interface SesRawMailSenderOptions {
  readonly client?: SESClient;
  /** An SES configuration set to send through (event publishing, suppression settings). */
  readonly configurationSetName?: string;
}

export class SesRawMailSender implements RawMailSender {
  private clientInstance: SESClient | undefined;
  private readonly configurationSetName: string | undefined;

  constructor(options: SesRawMailSenderOptions = {}) {
    this.clientInstance = options.client;
    this.configurationSetName = options.configurationSetName;
  }

  private get client(): SESClient {
    // Adaptive: besides retrying, the client slows its own sending rate when SES throttles it.
    this.clientInstance ??= new SESClient({ retryMode: "adaptive", maxAttempts: SES_SEND_MAX_ATTEMPTS });
    return this.clientInstance;
  }

  async sendRawMessage(message: {
    readonly from: string;
    readonly to: readonly string[];
    readonly raw: Buffer;
  }): Promise<{ messageId: string }> {
    try {
      const output = await this.client.send(
        new SendRawEmailCommand({
          Source: message.from,
          Destinations: [...message.to],
          RawMessage: { Data: message.raw },
          ...(this.configurationSetName ? { ConfigurationSetName: this.configurationSetName } : {}),
        }),
      );
      return { messageId: output.MessageId ?? "" };
    } catch (error) {
      const reason = describeError(error);
      throw new BounceSendError(`SES SendRawEmail from ${message.from} failed: ${reason}`, {
        cause: error,
        retryable: isSesThrottling(error),
      });
    }
  }
}
