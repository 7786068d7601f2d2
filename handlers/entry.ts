/**
 * What every Lambda entry shares, written once: reading the environment its component set (a zod schema
 * into a typed value, one error format naming every wrong variable), building Powertools at cold start,
 * and wrapping each invocation so its log lines carry the Lambda context and its metrics are written
 * even when it throws.
 *
 * Everything here runs inside the callback factory Pulumi serializes: the schema is built by a function
 * the factory calls and Powertools by `createObservability`, never at module level (docs/ARCHITECTURE.md,
 * "Things Pulumi's closure serializer gets wrong").
 */
import type { Context } from "aws-lambda";
import type { z } from "zod";
import { InvalidEnvironmentError } from "../core/errors";
import { createObservability, type Observability } from "./observability";

/** A Lambda handler as ses-mail writes them: the context is optional, so tests and local mode can call it without one. */
export type LambdaHandler<TEvent, TResult> = (event: TEvent, context?: Context) => Promise<TResult>;

/**
 * Parses `env` with `schema`. A function whose environment does not parse fails at cold start, with one
 * error naming the function and each wrong variable: `router environment: ROUTING_TABLE is required`.
 */
export function parseEnvironment<TSchema extends z.ZodType>(
  functionName: string,
  schema: TSchema,
  env: NodeJS.ProcessEnv,
): z.output<TSchema> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "(environment)"} ${issue.message}`);
  throw new InvalidEnvironmentError(`${functionName} environment: ${problems.join("; ")}`);
}

export interface LambdaEntryOptions<TEnv, TEvent, TResult> {
  /** The Powertools service name (the function's key: `router`, `gmail-forwarder`, …). */
  readonly service: string;
  /** Reads the environment into the handler's typed settings (with `parseEnvironment`). */
  readonly readEnvironment: (env: NodeJS.ProcessEnv) => TEnv;
  /** Builds the handler from its settings: adapters, clients and the core, once per container. */
  readonly build: (env: TEnv, observability: Observability) => LambdaHandler<TEvent, TResult>;
}

/**
 * The body of every callback factory: reads the environment, builds observability and the handler, and
 * returns the function Lambda invokes. Each invocation adds the Lambda context to the logger and always
 * publishes the metrics it stored.
 */
export function lambdaEntry<TEnv, TEvent, TResult>(options: LambdaEntryOptions<TEnv, TEvent, TResult>): LambdaHandler<TEvent, TResult> {
  const env = options.readEnvironment(process.env);
  const observability = createObservability(options.service);
  const handle = options.build(env, observability);
  return async (event, context) => {
    if (context) observability.logger.addContext(context);
    try {
      return await handle(event, context);
    } finally {
      observability.metrics.publishStoredMetrics();
    }
  };
}
