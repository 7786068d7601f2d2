/**
 * The deployed stack an operator command works on (`--stack NAME`): its environment name, region,
 * configuration and the physical names of its resources, plus how to build AWS clients for it and how
 * to turn AWS failures into one-line messages that say what to do.
 *
 * Credentials come from the SDK's standard provider chain (AWS_PROFILE, SSO, environment, instance
 * role). `AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL` from the command's environment point a
 * client at a stand-in (dynalite, LocalStack) the same way the AWS CLI does.
 */
import { loadStackConfig, loadStackConfigFile } from "../config/load";
import type { StackConfig } from "../config/schema";
import { stackNames, type StackNames } from "../components/naming";
import { errorMessage } from "../core/errors";
import { UserError, type CommandContext, type OptionSpec } from "./framework";

export const STACK_OPTIONS: OptionSpec = {
  stack: {
    type: "string",
    value: "NAME",
    description: "the deployed stack to work on (reads Pulumi.NAME.yaml for its region and domains)",
  },
  config: { type: "string", value: "FILE", description: "read the stack config from this file instead of Pulumi.NAME.yaml" },
};
export const STACK_USAGE = "--stack NAME [--config FILE]";

/** The service ids of AWS_ENDPOINT_URL_<SERVICE> (the SDK's own spelling). */
export type ServiceId = "DYNAMODB" | "SSM" | "KMS" | "SFN" | "SQS" | "CLOUDWATCH" | "CLOUDWATCH_LOGS" | "S3" | "SES" | "IAM";

export interface ClientConfig {
  readonly region: string;
  readonly endpoint?: string;
}

export interface StackTarget {
  readonly env: string;
  readonly region: string;
  readonly config: StackConfig;
  readonly names: StackNames;
  /** `stack test (eu-west-2)`. */
  readonly description: string;
  clientConfig(service: ServiceId): ClientConfig;
}

/** Resolves `--stack` (and `--config`) into the stack's names, region and config. */
export function resolveStack(context: CommandContext): StackTarget {
  const stack = context.values.stack as string | undefined;
  const file = context.values.config as string | undefined;
  if (!stack) throw new UserError(`say which stack: ${STACK_USAGE}`);
  const config = file ? loadStackConfigFile(file, stack) : loadStackConfig(stack);
  const { env } = context;
  const region = config.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) {
    throw new UserError(
      `no AWS region for stack ${stack}: set aws:region in Pulumi.${stack}.yaml (pulumi config set aws:region eu-west-2) or AWS_REGION`,
    );
  }
  let names: StackNames;
  try {
    names = stackNames(config.environment);
  } catch (error) {
    throw new UserError(errorMessage(error), { cause: error });
  }
  return {
    env: config.environment,
    region,
    config,
    names,
    description: `stack ${config.environment} (${region})`,
    clientConfig(service) {
      const endpoint = env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL;
      return endpoint ? { region, endpoint } : { region };
    },
  };
}

interface AwsErrorShape {
  name?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The error's AWS name (`ParameterNotFound`, `AccessDeniedException`, …), or undefined when it is not an AWS error. */
export function awsErrorName(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const shape = error as AwsErrorShape;
  return shape.name ?? shape.Code;
}

const NOT_FOUND =
  /^(ParameterNotFound|ResourceNotFoundException|QueueDoesNotExist|AWS\.SimpleQueueService\.NonExistentQueue|StateMachineDoesNotExist|NotFoundException|NoSuchEntity)$/;
const DENIED = /^(AccessDenied|AccessDeniedException|UnauthorizedOperation|AuthorizationError|KMSAccessDeniedException)$/;

/**
 * Turns the AWS failures an operator can fix into a UserError saying what to do; anything else is
 * rethrown unchanged (a bug, exit code 2). `what` names the resource in words: `the retry queue ses-…`.
 */
export function explainAwsError(error: unknown, target: StackTarget, what: string): never {
  const name = awsErrorName(error) ?? "";
  const message = errorMessage(error);
  if (error instanceof UserError) throw error;
  if (name === "CredentialsProviderError" || /Could not load credentials/.test(message)) {
    throw new UserError("no AWS credentials: set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", {
      cause: error,
    });
  }
  if (/^(ExpiredToken|ExpiredTokenException|InvalidClientTokenId|UnrecognizedClientException|InvalidSignatureException)$/.test(name)) {
    throw new UserError(`AWS rejected your credentials (${name}): refresh them (aws sso login) and try again`, { cause: error });
  }
  if (NOT_FOUND.test(name)) {
    throw new UserError(`${what} does not exist in ${target.description}: has the stack been deployed there (pulumi up)?`, {
      cause: error,
    });
  }
  if (DENIED.test(name)) {
    throw new UserError(`AWS denied access to ${what} (${name}: ${message}); use an identity allowed to operate ${target.description}`, {
      cause: error,
    });
  }
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT/.test(message)) {
    throw new UserError(`cannot reach AWS for ${what} (${message}): check the network, or AWS_ENDPOINT_URL_* if you set one`, {
      cause: error,
    });
  }
  throw error;
}

/** Runs one AWS call; failures become explained UserErrors (see explainAwsError). */
export async function aws<T>(target: StackTarget, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    return explainAwsError(error, target, what);
  }
}

/** The pages of an SDK paginator (`paginateX`), with failures explained as `aws` explains them. */
export async function* awsPages<T>(target: StackTarget, what: string, pages: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    for await (const page of pages) yield page;
  } catch (error) {
    explainAwsError(error, target, what);
  }
}
