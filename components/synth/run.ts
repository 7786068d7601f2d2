/**
 * The offline synth: runs the real Pulumi program (index.ts) under runtime mocks, with a stack's
 * config, and records every resource it registers: type, name, parent, inputs as the engine would
 * receive them (secrets masked), the outputs the mocks returned, and each Lambda's code archive.
 *
 * One synth per process: Pulumi's runtime state is global. The CLI runs one; each test file runs one.
 */
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { errorMessage } from "../../core/errors";
import type { AwsContext } from "../arns";
import { PROJECT_ROOT } from "../lambda-function";
import { awsMocks, MOCK_ACCOUNT_ID, type MockWorld } from "./mocks";

/** One registered resource, as written to resources.json. */
export interface SynthResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** The parent's URN; undefined for the root component. */
  readonly parent?: string;
  readonly custom: boolean;
  /** Inputs as sent to the engine: secrets are "[secret]", archives and assets are summarized. */
  readonly inputs: Record<string, unknown>;
  /** What the mocks returned (ARNs, URLs, ids), secrets masked the same way. */
  readonly outputs: Record<string, unknown>;
  /** Resource options that change how Pulumi treats the resource, when set. */
  readonly options?: {
    readonly ignoreChanges?: string[];
    readonly retainOnDelete?: true;
    readonly protect?: true;
    readonly import?: string;
  };
}

export interface SynthResult {
  readonly stack: string;
  readonly aws: AwsContext;
  readonly resources: readonly SynthResource[];
  /** The program's stack outputs (index.ts exports), resolved. */
  readonly outputs: Record<string, unknown>;
  /** Each Lambda function's code archive, by the function's physical name. */
  readonly archives: ReadonlyMap<string, pulumi.asset.AssetArchive>;
}

export interface SynthOptions {
  /** Stack name: the `{env}` of every resource. */
  readonly stack: string;
  /** Pulumi config values as Pulumi passes them (`ses-mail:domains` → JSON text). */
  readonly config: Readonly<Record<string, string>>;
  /**
   * The program to run: a module path, or a function that builds resources and returns the outputs
   * (stage-level tests build one component with its args). Default: the project's index.ts.
   */
  readonly program?: string | (() => Record<string, unknown>);
  readonly accountId?: string;
  /**
   * The receipt rule set active in the mocked region, as the program's preview-time check sees it;
   * `null` for none. Default: the set `ses-mail:joinExistingRuleSet` names, else none (a first deploy,
   * or a stack joining a set that is active, as docs/DEPLOY.md orders it).
   */
  readonly activeRuleSet?: string | null;
}

/** The program failed, as `pulumi preview` would: a refusal, a config error, an invoke that failed. */
export class SynthProgramError extends Error {
  constructor(readonly failures: readonly unknown[]) {
    // Pulumi prefixes the failure of a resource input with the property path it was found on.
    const message = (failure: unknown) => errorMessage(failure).replace(/^(error serializing property "[^"]*": )+/, "");
    const messages = [...new Set(failures.map(message))];
    super(messages.join("\n"));
    this.name = "SynthProgramError";
  }
}

export const SECRET_MASK = "[secret]";

/** Replaces Pulumi's wire encodings (secrets, assets, archives, resource references) with readable stand-ins. */
export function sanitizeWireValue(value: unknown, sig: WireSignatures): unknown {
  if (Array.isArray(value)) return value.map((item) => sanitizeWireValue(item, sig));
  if (value === sig.unknown) return "[unknown]";
  if (value === null || typeof value !== "object") return value;
  const record = value as Record<string, unknown>;
  const kind = record[sig.key];
  if (kind === sig.secret) return SECRET_MASK;
  if (kind === sig.archive) {
    const assets = record.assets as Record<string, unknown> | undefined;
    return assets ? { archive: Object.keys(assets).sort() } : { archive: record.path ?? record.uri };
  }
  if (kind === sig.asset) {
    if (typeof record.text === "string") return { asset: `text, ${Buffer.byteLength(record.text)} bytes` };
    return { asset: record.path ?? record.uri };
  }
  if (kind === sig.resource) return { resource: record.urn };
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record).sort()) out[key] = sanitizeWireValue(record[key], sig);
  return out;
}

/** Masks the named top-level properties that are present. */
export function maskProperties(values: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const masked = { ...values };
  for (const key of keys) if (masked[key] !== undefined) masked[key] = SECRET_MASK;
  return masked;
}

export interface WireSignatures {
  readonly key: string;
  readonly secret: string;
  readonly archive: string;
  readonly asset: string;
  readonly resource: string;
  readonly unknown: string;
}

/**
 * Resolves an Output (or plain value) to its value, or rejects with its failure. `apply` never runs for a
 * failed Output, so this uses the promise every Output holds (internal to @pulumi/pulumi, but stable).
 */
function resolve(pulumiModule: typeof pulumi, value: unknown): Promise<unknown> {
  const output = pulumiModule.output(value as pulumi.Input<object>) as unknown as { promise(): Promise<unknown> };
  return output.promise();
}

/** Protobuf request/response objects of the resource monitor, as far as the recorder reads them. */
interface StructLike {
  toJavaScript(): Record<string, unknown>;
}
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getObject(): StructLike | undefined;
  getAdditionalsecretoutputsList(): string[];
  getIgnorechangesList(): string[];
  getRetainondelete(): boolean;
  getProtect(): boolean;
  getImportid(): string;
}
interface RegisterResponse {
  getUrn(): string;
  getObject(): StructLike | undefined;
}

/**
 * Stack traces without frames while the program runs, until the returned function restores the previous
 * formatter. Pulumi formats a full stack trace for every resource and every promise it creates (source
 * positions for the engine, which the offline synth never reads); through the source-map lookups that
 * jest and bin/register-ts.js install, that was a third of a synth's time. Program failures are reported
 * by their messages (SynthProgramError), and an error's trace read after the synth is formatted as before.
 */
function framelessStackTraces(): () => void {
  const previous = Error.prepareStackTrace;
  Error.prepareStackTrace = (error: Error) => String(error);
  return () => {
    Error.prepareStackTrace = previous;
  };
}

/**
 * Runs the program offline under Pulumi's mocks and returns every resource it registered.
 * @public Loaded lazily (`require`) by cli/synth.ts, which knip does not follow.
 */
export async function synthesize(options: SynthOptions): Promise<SynthResult> {
  // Pulumi resolves Lambda code paths against the working directory, as `pulumi up` does from the project.
  process.chdir(PROJECT_ROOT);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when a synth runs
  const pulumiModule = require("@pulumi/pulumi") as typeof pulumi;
  // The mock monitor class is internal to @pulumi/pulumi; the recorder extends it to see each request
  // before deserialization (secrets still marked) and its parent.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { MockMonitor } = require("@pulumi/pulumi/runtime/mocks") as typeof import("@pulumi/pulumi/runtime/mocks");
  const runtime = pulumiModule.runtime;
  const sig: WireSignatures = {
    key: runtime.specialSigKey,
    secret: runtime.specialSecretSig,
    archive: runtime.specialArchiveSig,
    asset: runtime.specialAssetSig,
    resource: runtime.specialResourceSig,
    unknown: runtime.unknownValue,
  };

  const region = options.config["aws:region"] ?? "us-east-1";
  const ctx: AwsContext = { partition: "aws", region, accountId: options.accountId ?? MOCK_ACCOUNT_ID };
  const resources: SynthResource[] = [];
  const archives = new Map<string, pulumi.asset.AssetArchive>();
  const joined = options.config["ses-mail:joinExistingRuleSet"];
  const activeRuleSet = options.activeRuleSet === undefined ? joined : (options.activeRuleSet ?? undefined);
  const world: MockWorld = activeRuleSet ? { activeRuleSet } : {};
  const mocks = awsMocks(
    ctx,
    (args) => {
      const code = (args.inputs as Record<string, unknown>).code;
      if (args.type === "aws:lambda/function:Function" && code instanceof pulumiModule.asset.AssetArchive) {
        archives.set(String((args.inputs as Record<string, unknown>).name ?? args.name), code);
      }
    },
    world,
  );

  class RecordingMonitor extends MockMonitor {
    override async registerResource(
      req: RegisterRequest,
      callback: (err: unknown, response: RegisterResponse | undefined) => void,
    ): Promise<void> {
      // Properties the provider declares secret (an SSM parameter's value, …) are masked whether or not
      // the program wrapped them in pulumi.secret.
      const declaredSecrets = req.getAdditionalsecretoutputsList();
      const inputs = maskProperties(
        sanitizeWireValue(req.getObject()?.toJavaScript() ?? {}, sig) as Record<string, unknown>,
        declaredSecrets,
      );
      return super.registerResource(req, (err: unknown, response: RegisterResponse | undefined) => {
        if (!err && response) {
          const parent = req.getParent();
          const options = {
            ...(req.getIgnorechangesList().length > 0 ? { ignoreChanges: req.getIgnorechangesList() } : {}),
            ...(req.getRetainondelete() ? { retainOnDelete: true as const } : {}),
            ...(req.getProtect() ? { protect: true as const } : {}),
            ...(req.getImportid() ? { import: req.getImportid() } : {}),
          };
          resources.push({
            urn: response.getUrn(),
            type: req.getType(),
            name: req.getName(),
            ...(parent ? { parent } : {}),
            custom: req.getCustom(),
            inputs,
            outputs: maskProperties(
              sanitizeWireValue(response.getObject()?.toJavaScript() ?? {}, sig) as Record<string, unknown>,
              declaredSecrets,
            ),
            ...(Object.keys(options).length > 0 ? { options } : {}),
          });
        }
        callback(err, response);
      });
    }
  }

  const project = "ses-mail";
  await runtime.setMocks(mocks, project, options.stack, false);
  runtime.setMockOptions(new RecordingMonitor(mocks), project, options.stack, false);
  runtime.setAllConfig({ ...options.config });

  // A program fails the way `pulumi preview` reports it: a rejected output, or a rejection nobody handles
  // (an input that failed, such as the active-rule-set refusal). Both are collected, and the synth fails.
  const failures: unknown[] = [];
  const onUnhandled = (reason: unknown) => failures.push(reason);
  process.on("unhandledRejection", onUnhandled);
  const outputs: Record<string, unknown> = {};
  const restoreStackTraces = framelessStackTraces();
  try {
    const program =
      typeof options.program === "function"
        ? options.program()
        : // eslint-disable-next-line @typescript-eslint/no-require-imports -- the program registers resources when loaded
          (require(options.program ?? path.join(PROJECT_ROOT, "index.ts")) as Record<string, unknown>);
    for (const [key, value] of Object.entries(program)) {
      if (key === "__esModule") continue;
      try {
        outputs[key] = await resolve(pulumiModule, value);
      } catch (error) {
        failures.push(error);
      }
    }
    // Registration is asynchronous (a CallbackFunction registers after its closure is serialized).
    await (runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    // Unhandled rejections are reported after the current tasks; let them arrive.
    await new Promise((settled) => setImmediate(settled));
  } finally {
    restoreStackTraces();
    process.off("unhandledRejection", onUnhandled);
  }
  if (failures.length > 0) throw new SynthProgramError(failures);

  resources.sort((a, b) => a.urn.localeCompare(b.urn));
  return { stack: options.stack, aws: ctx, resources, outputs, archives };
}
