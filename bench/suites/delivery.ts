/**
 * The delivery Lambdas, as they would be deployed.
 * - Each function's code: the serialized closure (`__index.js`, what Pulumi writes from the callback
 *   factory), the packages it `require`s, and the transitive closure of those packages less the
 *   runtime's AWS SDK. The archive as deployed (the component's per-function package allow-list) is
 *   measured from the synth by the `infrastructure` suite.
 * - Forwarder memory: the serialized forwarder in its own Node process (as a Lambda container), warm,
 *   importing one 40 MB message (SES's limit) from a local S3 stand-in into a local Gmail stand-in
 *   (tests/helpers/forwarder-memory.ts). Peak RSS is Linux's VmHWM, reset just before the invocation.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { deflateRawSync, gzipSync } from "node:zlib";
import { SES_MAX_MESSAGE_BYTES } from "../../core/limits";
import { bouncerFactory } from "../../handlers/bouncer";
import { credentialManagerFactory } from "../../handlers/credential-manager";
import { gmailForwarderFactory } from "../../handlers/gmail-forwarder";
import { measureForwarderImport } from "../../tests/helpers/forwarder-memory";
import { serializeFactory } from "../../tests/helpers/lambda-archive";
import { markdownTable, type BenchSuite } from "../suite";

const ROOT = path.resolve(__dirname, "../..");
const MIB = 1024 * 1024;
/** The Lambda memory setting of the forwarder (seed: 512 MB). */
const FORWARDER_MEMORY_MB = 512;

/** Bytes on disk and (approximately) in a zip of every file under a directory. */
function directorySize(dir: string, seen: Set<string> = new Set()): { bytes: number; zipped: number } {
  let bytes = 0;
  let zipped = 0;
  const real = fs.realpathSync(dir);
  if (seen.has(real)) return { bytes, zipped };
  seen.add(real);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const inner = directorySize(full, seen);
      bytes += inner.bytes;
      zipped += inner.zipped;
    } else if (entry.isFile()) {
      const content = fs.readFileSync(full);
      bytes += content.length;
      // A zip entry is raw deflate plus a ~100-byte local header and central directory record.
      zipped += deflateRawSync(content, { level: 6 }).length + 100;
    }
  }
  return { bytes, zipped };
}

/** Node's resolution of a package directory from a directory (walking up node_modules). */
function packageDir(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "node_modules", name);
    if (fs.existsSync(path.join(candidate, "package.json"))) return candidate;
    if (dir === path.dirname(dir)) return undefined;
  }
}

/** Package names a serialized closure requires (builtins and the runtime's AWS SDK v3 left out). */
function requiredPackages(code: string): string[] {
  const names = new Set<string>();
  for (const match of code.matchAll(/require\("([^"]+)"\)/g)) {
    const spec = match[1]!;
    if (spec.startsWith("node:") || spec.startsWith(".") || spec.startsWith("/")) continue;
    const parts = spec.split("/");
    const name = spec.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
    if (!packageDir(name, ROOT)) continue; // a builtin such as "crypto"
    names.add(name);
  }
  return [...names].sort();
}

/** The transitive closure of packages, as directories, that `names` need at run time. */
function neededDirectories(names: readonly string[]): Set<string> {
  const dirs = new Set<string>();
  const visit = (name: string, from: string) => {
    if (name.startsWith("@aws-sdk/client-")) return; // provided by the Lambda runtime
    const dir = packageDir(name, from);
    if (!dir || dirs.has(dir)) return;
    dirs.add(dir);
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    for (const dependency of Object.keys(manifest.dependencies ?? {})) visit(dependency, dir);
  };
  for (const name of names) visit(name, ROOT);
  return dirs;
}

/** `@scope/a, @scope/b, c` → `@scope/{a, b}, c`, so a table cell stays readable. */
function packageList(names: readonly string[]): string {
  const groups = new Map<string, string[]>();
  for (const name of names) {
    const [scope, rest] = name.startsWith("@") ? [name.slice(0, name.indexOf("/")), name.slice(name.indexOf("/") + 1)] : ["", name];
    groups.set(scope, [...(groups.get(scope) ?? []), rest]);
  }
  return [...groups].map(([scope, rest]) => (scope ? `${scope}/{${rest.join(", ")}}` : rest.join(", "))).join(", ");
}

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

export const suite: BenchSuite = {
  name: "delivery",
  title: "Delivery Lambdas: archive sizes and the forwarder's memory for a 40 MB message",
  async run(progress) {
    const functions = [
      ["gmail-forwarder", gmailForwarderFactory],
      ["bouncer", bouncerFactory],
      ["credential-manager", credentialManagerFactory],
    ] as const;
    const archives = [];
    for (const [name, factory] of functions) {
      progress(`serializing ${name}`);
      const { code } = await serializeFactory(`bench-${name}`, factory);
      const packages = requiredPackages(code);
      let neededBytes = 0;
      let neededZipped = 0;
      for (const dir of neededDirectories(packages)) {
        const size = directorySize(dir);
        neededBytes += size.bytes;
        neededZipped += size.zipped;
      }
      const indexBytes = Buffer.byteLength(code);
      archives.push({
        name,
        indexBytes,
        indexGzipBytes: gzipSync(code).length,
        requires: packages,
        neededBytes,
        neededZippedBytes: neededZipped,
      });
    }
    const memory = await measureForwarderImport(SES_MAX_MESSAGE_BYTES, progress);
    const peakAbove = memory.peak - memory.baseline;

    const table = [
      ...markdownTable(
        ["function", "__index.js", "gzip", "requires", "needed packages (unzipped / zip)"],
        archives.map((archive) => [
          archive.name,
          kib(archive.indexBytes),
          kib(archive.indexGzipBytes),
          packageList(archive.requires),
          `${mib(archive.neededBytes)} / ${mib(archive.neededZippedBytes)}`,
        ]),
      ),
      "",
      "The deployed archive of each function (its package allow-list) is in the infrastructure suite.",
      "",
      ...markdownTable(
        ["forwarder, one 40 MB message", "value"],
        [
          ["message size", mib(memory.messageBytes)],
          ["RSS of the warm process before", mib(memory.baseline)],
          [`peak RSS during the import${memory.exact ? " (VmHWM)" : " (sampled)"}`, mib(memory.peak)],
          ["peak above warm RSS", mib(peakAbove)],
          [`share of the ${FORWARDER_MEMORY_MB} MB function memory`, `${((memory.peak / (FORWARDER_MEMORY_MB * MIB)) * 100).toFixed(0)} %`],
          ["import time (local stand-ins)", `${memory.durationMs.toFixed(0)} ms`],
        ],
      ),
    ];
    return {
      table,
      figures: {
        archives,
        forwarder40MB: {
          messageBytes: memory.messageBytes,
          baselineRssBytes: memory.baseline,
          peakRssBytes: memory.peak,
          peakAboveBaselineBytes: peakAbove,
          exact: memory.exact,
          durationMs: Math.round(memory.durationMs),
        },
      },
    };
  },
};
