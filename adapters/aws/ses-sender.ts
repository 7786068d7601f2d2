/** Sends complete messages as bytes with SES SendRawEmail (the bouncer's DSNs). IAM: ses:SendRawEmail. */
import { SESClient, SendRawEmailCommand } from "@aws-sdk/client-ses";
import { BounceSendError } from "../../core/errors";
import type { RawMailSender } from "../../core/ports";

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
    this.clientInstance ??= new SESClient({});
    return this.clientInstance;
  }

  async sendRawMessage(message: { readonly from: string; readonly to: readonly string[]; readonly raw: Buffer }): Promise<{ messageId: string }> {
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
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new BounceSendError(`SES SendRawEmail from ${message.from} failed: ${reason}`, { cause: error });
    }
  }
}
