/**
 * Runs a Lambda code archive as the Lambda Node.js runtime would: unpacked in its own folder, in a fresh
 * Node process whose NODE_PATH provides only the AWS SDK v3 (what the runtime ships), with module
 * resolution confined to the archive (tests/helpers/lambda-sandbox.js).
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { ARCHIVES_DIR } from "./lambda-archive";

const execFileAsync = promisify(execFile);
const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
const PROJECT_MODULES = path.join(PROJECT_ROOT, "node_modules");

function packageJson(name: string): { dependencies?: Record<string, string> } | undefined {
  const file = path.join(PROJECT_MODULES, name, "package.json");
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as { dependencies?: Record<string, string> }) : undefined;
}

/**
 * The packages the Lambda runtime provides: every `@aws-sdk/client-*` the project depends on, and
 * everything they depend on (as /var/runtime/node_modules holds them), by name.
 */
export function runtimeProvidedPackages(): string[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  const queue = Object.keys(manifest.dependencies).filter((name) => name.startsWith("@aws-sdk/client-"));
  const seen = new Set<string>();
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (seen.has(name)) continue;
    const pkg = packageJson(name);
    if (!pkg) continue;
    seen.add(name);
    queue.push(...Object.keys(pkg.dependencies ?? {}));
  }
  return [...seen].sort();
}

/** A NODE_PATH folder holding only the runtime-provided packages (links into the project's node_modules). */
export function lambdaRuntimeNodePath(): string {
  const dir = path.join(ARCHIVES_DIR, "lambda-runtime", "node_modules");
  const marker = path.join(dir, ".packages");
  const packages = runtimeProvidedPackages();
  // Rebuilt whenever the set of packages changes (a new client in package.json).
  if (fs.existsSync(marker) && fs.readFileSync(marker, "utf8") === packages.join("\n")) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  for (const name of packages) {
    const link = path.join(dir, name);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.join(PROJECT_MODULES, name), link, "dir");
  }
  fs.writeFileSync(marker, packages.join("\n"));
  return dir;
}

/** Milliseconds: Node's start-up, loading `__index.js` (the function's init), the first invocation; wall-clock and CPU. */
export interface SandboxTimings {
  readonly bootMs: number;
  readonly loadMs?: number;
  readonly invokeMs?: number;
  readonly loadCpuMs?: number;
  readonly invokeCpuMs?: number;
}

export type SandboxResult = (
  | { ok: true; result: unknown; stderr: string }
  | { ok: false; error: { name?: string; message: string; code?: string; phase?: string }; stderr: string }
) & { timings: SandboxTimings };

/** Invokes the archive unpacked in `dir` with `event`, with only `env` (plus fake credentials) set. */
export async function invokeInLambdaSandbox(dir: string, event: unknown, env: Record<string, string>): Promise<SandboxResult> {
  const stamp = `${process.pid}-${Date.now()}-${Math.random().toString(16).slice(2)}`;
  const eventFile = path.join(ARCHIVES_DIR, `event-${stamp}.json`);
  const outFile = path.join(ARCHIVES_DIR, `result-${stamp}.json`);
  fs.mkdirSync(ARCHIVES_DIR, { recursive: true });
  fs.writeFileSync(eventFile, JSON.stringify(event));
  try {
    const { stderr } = await execFileAsync(process.execPath, [path.join(__dirname, "lambda-sandbox.js"), dir, eventFile, outFile], {
      env: {
        PATH: process.env.PATH ?? "",
        NODE_PATH: lambdaRuntimeNodePath(),
        AWS_REGION: "eu-west-2",
        AWS_ACCESS_KEY_ID: "AKIDTESTTESTTESTTEST",
        AWS_SECRET_ACCESS_KEY: "test",
        POWERTOOLS_METRICS_DISABLED: "true",
        POWERTOOLS_LOG_LEVEL: "SILENT",
        ...env,
      },
      timeout: 30_000,
    });
    return { ...(JSON.parse(fs.readFileSync(outFile, "utf8")) as Omit<SandboxResult, "stderr">), stderr } as SandboxResult;
  } finally {
    fs.rmSync(eventFile, { force: true });
    fs.rmSync(outFile, { force: true });
  }
}
