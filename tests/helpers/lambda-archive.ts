/**
 * Proves that a handler factory survives Pulumi's closure serialization: serialize it exactly as
 * CallbackFunction does, write the code under tests/.archives (inside the project, so packages
 * resolve), and invoke it in a fresh Node process with only the environment we pass.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
export const ARCHIVES_DIR = path.join(PROJECT_ROOT, "tests", ".archives");

/** The code of each factory this test file has serialized: the same factory is serialized once (seconds each). */
const serialized = new Map<() => unknown, Promise<string>>();

async function serializedCode(factory: () => unknown): Promise<string> {
  // Loaded lazily: @pulumi/pulumi is large and only these tests need it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
  const result = await pulumi.runtime.serializeFunction(factory, { isFactoryFunction: true });
  if (result.exportName !== "handler") throw new Error(`unexpected export ${result.exportName}`);
  return result.text;
}

/** Serializes a callback factory (as `CallbackFunction({ callbackFactory })` does) into `tests/.archives/<name>`. */
export async function serializeFactory(name: string, factory: () => unknown): Promise<{ dir: string; code: string }> {
  let code = serialized.get(factory);
  if (!code) {
    code = serializedCode(factory);
    serialized.set(factory, code);
  }
  const text = await code;
  const dir = path.join(ARCHIVES_DIR, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "__index.js"), text);
  return { dir, code: text };
}

export type InvokeResult =
  { ok: true; result: unknown } | { ok: false; error: { name?: string; message: string; code?: string; phase?: string } };

/**
 * Invokes the archive's `handler` in a fresh Node process. `nodePath` stands in for what the Lambda
 * runtime provides (defaults to the project's node_modules, which includes the AWS SDK).
 */
export async function invokeArchive(
  dir: string,
  event: unknown,
  env: Record<string, string>,
  options: { nodePath?: string; timeoutMs?: number } = {},
): Promise<InvokeResult & { stdout: string; stderr: string }> {
  const eventFile = path.join(dir, `event-${process.pid}-${Date.now()}.json`);
  const outFile = path.join(dir, `result-${process.pid}-${Date.now()}.json`);
  fs.writeFileSync(eventFile, JSON.stringify(event));
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [path.join(__dirname, "invoke-archive.js"), dir, eventFile, outFile], {
      env: {
        PATH: process.env.PATH ?? "",
        NODE_PATH: options.nodePath ?? path.join(PROJECT_ROOT, "node_modules"),
        AWS_REGION: "eu-west-2",
        AWS_ACCESS_KEY_ID: "AKIDTESTTESTTESTTEST",
        AWS_SECRET_ACCESS_KEY: "test",
        POWERTOOLS_METRICS_DISABLED: "true",
        ...env,
      },
      timeout: options.timeoutMs ?? 20000,
    });
    const result = JSON.parse(fs.readFileSync(outFile, "utf8")) as InvokeResult;
    return { ...result, stdout, stderr };
  } finally {
    fs.rmSync(eventFile, { force: true });
    fs.rmSync(outFile, { force: true });
  }
}
