/** Secrets from SSM Parameter Store (SecureString, decrypted). IAM: ssm:GetParameter (and kms:Decrypt for a customer key). */
import type { SSMClient } from "@aws-sdk/client-ssm";
import { SecretUnavailableError } from "../../core/errors";
import type { SecretStore } from "../../core/ports";

/**
 * The SDK, loaded on first use rather than with this module: local mode and the CLI load the forwarder,
 * which imports this file, without ever reading SSM (about 0.1 s of each local-mode start). A package
 * `require` inside a function is serialized by reference, so the Lambda loads it from its runtime.
 */
function ssmSdk(): typeof import("@aws-sdk/client-ssm") {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return require("@aws-sdk/client-ssm") as typeof import("@aws-sdk/client-ssm");
}

export class SsmSecretStore implements SecretStore {
  private clientInstance: SSMClient | undefined;

  constructor(options: { readonly client?: SSMClient } = {}) {
    this.clientInstance = options.client;
  }

  private get client(): SSMClient {
    this.clientInstance ??= new (ssmSdk().SSMClient)({});
    return this.clientInstance;
  }

  async getSecret(name: string): Promise<string | undefined> {
    try {
      const output = await this.client.send(new (ssmSdk().GetParameterCommand)({ Name: name, WithDecryption: true }));
      return output.Parameter?.Value;
    } catch (error) {
      if (error instanceof Error && error.name === "ParameterNotFound") return undefined;
      throw new SecretUnavailableError(name, { cause: error });
    }
  }
}
