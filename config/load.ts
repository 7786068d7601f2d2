/**
 * Reading stack configuration from `Pulumi.<stack>.yaml` files, for the CLI and local mode (the Pulumi
 * program reads the same keys through pulumi.Config; see index.ts). Only `ses-mail:` keys and
 * `aws:region` are read; other namespaces belong to other tools.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { errorMessage } from "../core/errors";
import { CONFIG_NAMESPACE, ConfigError, parseStackConfig, type StackConfig } from "./schema";

/** The folder holding Pulumi.yaml and the stack files that ship with ses-mail. */
export const PROJECT_ROOT = path.resolve(__dirname, "..");

/** Stack files are looked up in the working directory first, then in the project. */
export function stackFilePath(stack: string, searchDirs: readonly string[] = [process.cwd(), PROJECT_ROOT]): string {
  const name = `Pulumi.${stack}.yaml`;
  for (const dir of searchDirs) {
    const candidate = path.join(dir, name);
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new ConfigError("(stack)", `no ${name} in ${[...new Set(searchDirs)].join(" or ")}`);
}

/** The stack name a file is for: `Pulumi.<stack>.yaml` → `<stack>`. */
export function stackNameOfFile(file: string): string | undefined {
  return /^Pulumi\.([^.]+)\.ya?ml$/.exec(path.basename(file))?.[1];
}

/** Splits a stack file's `config:` map into ses-mail values and the region. */
export function configValuesFromYaml(text: string, file: string): { values: Record<string, unknown>; region?: string } {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError("(file)", `${file} is not valid YAML: ${errorMessage(error)}`);
  }
  const config = (document as { config?: unknown } | null)?.config ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new ConfigError("(file)", `${file}: \`config\` must be a map of keys to values`);
  }
  const values: Record<string, unknown> = {};
  let region: string | undefined;
  for (const [fullKey, value] of Object.entries(config)) {
    const [namespace, key] = fullKey.includes(":") ? fullKey.split(":", 2) : [undefined, fullKey];
    if (namespace === undefined) {
      throw new ConfigError(fullKey, `${file}: write the key as ${CONFIG_NAMESPACE}:${fullKey}`);
    }
    if (namespace === "aws" && key === "region" && typeof value === "string") region = value;
    if (namespace !== CONFIG_NAMESPACE || key === undefined) continue;
    if (typeof value === "object" && value !== null && "secure" in value) {
      throw new ConfigError(key, `${file}: is a Pulumi secret; ses-mail reads it only through \`pulumi up\``);
    }
    values[key] = value;
  }
  return region ? { values, region } : { values };
}

/** Reads a stack file's ses-mail values and region; a file that cannot be read is a ConfigError naming it. */
export function readStackFile(file: string): { values: Record<string, unknown>; region?: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError("(file)", `cannot read ${file}: ${errorMessage(error)}`);
  }
  return configValuesFromYaml(text, file);
}

/** Loads and validates a stack config file. The environment defaults to the stack name in the file name. */
export function loadStackConfigFile(file: string, environment?: string): StackConfig {
  const { values, region } = readStackFile(file);
  return parseStackConfig(values, environment ?? stackNameOfFile(file) ?? "local", region);
}

/** Loads `Pulumi.<stack>.yaml` from the working directory or the project. */
export function loadStackConfig(stack: string): StackConfig {
  return loadStackConfigFile(stackFilePath(stack), stack);
}
