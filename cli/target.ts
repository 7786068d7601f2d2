/**
 * Where a command's rules live: a deployed stack's table (`--stack`), a named table (`--table`), or
 * the embedded store of the local mode running on a data directory (`--local`, `--data-dir DIR`, or
 * AWS_ENDPOINT_URL_DYNAMODB). Also the routing settings (default action, verdict policy) and the stack
 * config (its domains) that `rules test`, `rules add` and `route` apply: for local mode, the config the
 * running instance was started with.
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
import { findInstance, type LocalInstance } from "../local/instance";
import { UserError, type CommandContext, type OptionSpec } from "./framework";

/** Local mode's DynamoDB endpoint when no running instance says otherwise (`--dynamodb-port`'s default). */
export const LOCAL_DYNAMODB_ENDPOINT = "http://127.0.0.1:8000";
/** The stack whose config `--local` applies when the instance does not say, as `npm start` does. */
export const LOCAL_DEFAULT_STACK = "test";

export const TARGET_OPTIONS: OptionSpec = {
  stack: {
    type: "string",
    value: "NAME",
    description: "the deployed stack whose routing table holds the rules (reads Pulumi.NAME.yaml: region, domains, default action)",
  },
  table: { type: "string", value: "NAME", description: "a routing table by name, in AWS_REGION, when there is no stack file at hand" },
  local: { type: "boolean", description: "the rules of the local mode running on the data directory (npm start)" },
  "data-dir": {
    type: "string",
    value: "DIR",
    description: "the data directory of that local mode; implies --local",
    defaultsTo: DEFAULT_DATA_DIR,
  },
  config: {
    type: "string",
    value: "FILE",
    description: "read the stack settings from this file instead of the stack's (or local mode's) own",
  },
};
export const TARGET_USAGE = "(--stack NAME | --table NAME | --local [--data-dir DIR]) [--config FILE]";

export type RulesTargetKind = "stack" | "table" | "local";

export interface RulesTarget {
  readonly kind: RulesTargetKind;
  readonly store: DynamoDbRuleStore;
  readonly settings: RoutingSettings;
  /** Human description: `table ses-mail-email-routing-test (eu-west-2)`. */
  readonly description: string;
  readonly config?: StackConfig;
  /** The stack name, for `--stack` (commands printed for the operator name it). */
  readonly stack?: string;
  /** For `--local`: the data directory and the instance running on it, when one is. */
  readonly dataDir?: string;
  readonly instance?: LocalInstance;
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

/** The stack config of the local mode on a data directory: `--config`, else what the instance runs with, else the test stack's. */
function localConfig(file: string | undefined, instance: LocalInstance | undefined): StackConfig {
  if (file) return loadStackConfigFile(file);
  if (instance?.configFile) return loadStackConfigFile(instance.configFile);
  return loadStackConfig(instance?.stack ?? LOCAL_DEFAULT_STACK);
}

/** Resolves the target options of a command into a rule store and routing settings. */
export function resolveRulesTarget(context: CommandContext): RulesTarget {
  const { values, env } = context;
  const stack = values.stack as string | undefined;
  const table = values.table as string | undefined;
  const dataDirOption = values["data-dir"] as string | undefined;
  const localAsked = values.local === true || dataDirOption !== undefined;
  const local = localAsked || (!stack && !table && Boolean(env.AWS_ENDPOINT_URL_DYNAMODB));
  const chosen = [stack, table, localAsked ? "local" : undefined].filter(Boolean);
  if (chosen.length > 1) throw new UserError("give only one of --stack, --table and --local");
  if (chosen.length === 0 && !local) {
    throw new UserError(`say where the rules are: ${TARGET_USAGE}`);
  }

  if (local) {
    const dataDir = path.resolve(dataDirOption ?? DEFAULT_DATA_DIR);
    const found = findInstance(dataDir);
    if (found.kind === "stale" && !env.AWS_ENDPOINT_URL_DYNAMODB) {
      const start = path.resolve(DEFAULT_DATA_DIR) === dataDir ? "npm start" : `ses-mail local --data-dir ${dataDir}`;
      throw new UserError(
        `local mode is not running on ${dataDir}: its last run (process ${found.instance.pid}) stopped without cleaning up. Start it: ${start}`,
      );
    }
    const instance = found.kind === "found" ? found.instance : undefined;
    const endpoint = env.AWS_ENDPOINT_URL_DYNAMODB ?? instance?.dynamodbEndpoint ?? LOCAL_DYNAMODB_ENDPOINT;
    const config = localConfig(values.config as string | undefined, instance);
    const tableName = routingTableName(LOCAL_ENVIRONMENT);
    const client = new DynamoDBClient({
      endpoint,
      region: env.AWS_REGION ?? "local",
      // The embedded store ignores credentials, but the SDK insists on having some.
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
      maxAttempts: 2,
    });
    return {
      kind: "local",
      store: new DynamoDbRuleStore({ tableName, client }),
      settings: settingsOf(config),
      description: `local table ${tableName} at ${endpoint}`,
      config,
      dataDir,
      ...(instance ? { instance } : {}),
    };
  }

  const config = optionalConfig(values.config as string | undefined, stack);
  const tableName = table ?? routingTableName(stack!);
  const region = config?.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const client = new DynamoDBClient(region ? { region } : {});
  return {
    kind: stack ? "stack" : "table",
    store: new DynamoDbRuleStore({ tableName, client }),
    settings: settingsOf(config),
    description: `table ${tableName}${region ? ` (${region})` : ""}`,
    ...(config ? { config } : {}),
    ...(stack ? { stack } : {}),
  };
}

/** Turns "cannot connect" into a message that says what to do. */
export function explainStoreError(error: unknown, target: RulesTarget): never {
  const text = error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? "")}` : String(error);
  if (/ECONNREFUSED|connect|ENOTFOUND/.test(text) && target.kind === "local") {
    const where = target.dataDir ? ` on ${target.dataDir}` : "";
    const start =
      target.dataDir && path.resolve(DEFAULT_DATA_DIR) !== target.dataDir ? `ses-mail local --data-dir ${target.dataDir}` : "npm start";
    throw new UserError(`cannot reach the ${target.description}: is local mode running${where}? (${start})`, { cause: error });
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
  local: { type: "boolean", description: "read the data directory of local mode (running or not)" },
  "data-dir": { type: "string", value: "DIR", description: "local mode's data directory; implies --local", defaultsTo: DEFAULT_DATA_DIR },
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
    throw new UserError(
      `no local-mode data in ${dir}: has local mode run there? (npm start${given === undefined ? ", or give --data-dir DIR" : ""})`,
    );
  }
  return dir;
}
