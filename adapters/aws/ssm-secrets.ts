/** Secrets from SSM Parameter Store (SecureString, decrypted). IAM: ssm:GetParameter (and kms:Decrypt for a customer key). */
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { SecretUnavailableError } from "../../core/errors";
import type { SecretStore } from "../../core/ports";

export class SsmSecretStore implements SecretStore {
  private clientInstance: SSMClient | undefined;

  constructor(options: { readonly client?: SSMClient } = {}) {
    this.clientInstance = options.client;
  }

  private get client(): SSMClient {
    this.clientInstance ??= new SSMClient({});
    return this.clientInstance;
  }

  async getSecret(name: string): Promise<string | undefined> {
    try {
      const output = await this.client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      return output.Parameter?.Value;
    } catch (error) {
      if (error instanceof Error && error.name === "ParameterNotFound") return undefined;
      throw new SecretUnavailableError(name, { cause: error });
    }
  }
}
