/**
 * Where a command's rules live: a deployed stack's table (`--stack`), a named table (`--table`), or
 * local mode's embedded store (`--local`, or AWS_ENDPOINT_URL_DYNAMODB). Also the routing settings
 * (default action, verdict policy) that `rules test` and `route` apply.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDbRuleStore } from "../adapters/aws/dynamodb-rules";
import { loadStackConfig, loadStackConfigFile } from "../config/load";
import type { StackConfig } from "../config/schema";
import type { RoutingSettings } from "../core/routing";
import { LOCAL_ENVIRONMENT, routingTableName } from "../core/table";
import { DEFAULT_VERDICT_POLICY } from "../core/verdicts";
import { DEFAULT_DATA_DIR } from "../local/data-dir";
import { UserError, type CommandContext, type OptionSpec } from "./framework";

/** Local mode's DynamoDB endpoint unless `--dynamodb-port` moved it. */
export const LOCAL_DYNAMODB_ENDPOINT = "http://127.0.0.1:8000";
/** The stack whose config `--local` applies, as `npm start` does. */
export const LOCAL_DEFAULT_STACK = "test";

export const TARGET_OPTIONS: OptionSpec = {
  stack: { type: "string" },
  table: { type: "string" },
  local: { type: "boolean" },
  config: { type: "string" },
};
export const TARGET_USAGE = "(--stack NAME | --table NAME | --local) [--config FILE]";

export interface RulesTarget {
  readonly store: DynamoDbRuleStore;
  readonly settings: RoutingSettings;
  /** Human description: `table ses-mail-email-routing-test (eu-west-2)`. */
  readonly description: string;
  readonly config?: StackConfig;
}

function settingsOf(config: StackConfig | undefined): RoutingSettings {
  return config
    ? { defaultAction: config.defaultAction, verdictPolicy: config.verdictPolicy }
    : { defaultAction: "bounce", verdictPolicy: DEFAULT_VERDICT_POLICY };
}

function optionalConfig(file: string | undefined, stack: string | undefined): StackConfig | undefined {
  if (file) return loadStackConfigFile(file);
  if (stack) return loadStackConfig(stack);
  return undefined;
}

/** Resolves the target options of a command into a rule store and routing settings. */
export function resolveRulesTarget(context: CommandContext): RulesTarget {
  const { values, env } = context;
  const stack = values.stack as string | undefined;
  const table = values.table as string | undefined;
  const local = values.local === true || (!stack && !table && Boolean(env.AWS_ENDPOINT_URL_DYNAMODB));
  const chosen = [stack, table, values.local === true ? "local" : undefined].filter(Boolean);
  if (chosen.length > 1) throw new UserError("give only one of --stack, --table and --local");
  if (chosen.length === 0 && !local) {
    throw new UserError(`say where the rules are: ${TARGET_USAGE}`);
  }

  if (local) {
    const endpoint = env.AWS_ENDPOINT_URL_DYNAMODB ?? LOCAL_DYNAMODB_ENDPOINT;
    const config = optionalConfig(values.config as string | undefined, LOCAL_DEFAULT_STACK);
    const tableName = routingTableName(LOCAL_ENVIRONMENT);
    const client = new DynamoDBClient({
      endpoint,
      region: env.AWS_REGION ?? "local",
      // The embedded store ignores credentials, but the SDK insists on having some.
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
      maxAttempts: 2,
    });
    return {
      store: new DynamoDbRuleStore({ tableName, client }),
      settings: settingsOf(config),
      description: `local table ${tableName} at ${endpoint}`,
      ...(config ? { config } : {}),
    };
  }

  const config = optionalConfig(values.config as string | undefined, stack);
  const tableName = table ?? routingTableName(stack!);
  const region = config?.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const client = new DynamoDBClient(region ? { region } : {});
  return {
    store: new DynamoDbRuleStore({ tableName, client }),
    settings: settingsOf(config),
    description: `table ${tableName}${region ? ` (${region})` : ""}`,
    ...(config ? { config } : {}),
  };
}

/** Turns "cannot connect" into a message that says what to do. */
export function explainStoreError(error: unknown, target: RulesTarget): never {
  const text = error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? "")}` : String(error);
  if (/ECONNREFUSED|connect|ENOTFOUND/.test(text) && target.description.startsWith("local")) {
    throw new UserError(`cannot reach the ${target.description}: is local mode running? (npm start)`, { cause: error });
  }
  if (/ResourceNotFoundException|non-existent table|Requested resource not found/.test(text)) {
    throw new UserError(`the ${target.description} does not exist: has the stack been deployed?`, { cause: error });
  }
  if (/CredentialsProviderError|Could not load credentials/.test(text)) {
    throw new UserError("no AWS credentials: set AWS_PROFILE or run `aws sso login`", { cause: error });
  }
  throw error;
}

/** For commands that read local mode's data directory (trace, dlq, status): `--local`, and where it is. */
export const LOCAL_DATA_OPTIONS: OptionSpec = {
  local: { type: "boolean" },
  "data-dir": { type: "string" },
};
export const LOCAL_DATA_USAGE = `--local [--data-dir DIR]`;

/**
 * Local mode's data directory when the command is aimed at it (`--local`, or `--data-dir` alone), else
 * undefined. The default is the one `npm start` uses, relative to the current directory.
 */
export function localDataDir(context: CommandContext): string | undefined {
  const given = context.values["data-dir"] as string | undefined;
  if (context.values.local !== true && given === undefined) return undefined;
  const dir = path.resolve(given ?? DEFAULT_DATA_DIR);
  if (!fs.existsSync(dir)) {
    throw new UserError(`no local-mode data in ${dir}: has local mode run there? (npm start${given === undefined ? ", or give --data-dir DIR" : ""})`);
  }
  return dir;
}
