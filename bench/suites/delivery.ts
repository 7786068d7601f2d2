/**
 * The delivery Lambdas, as they would be deployed, side by side with the figures measured before the
 * Gmail client moved to Google's libraries (bench/baseline-before-google-libraries.json):
 * - each function's archive: the synth of the `test` stack, unpacked as Lambda would unzip it (the
 *   component's per-function package allow-list applied), and the packages its `__index.js` requires;
 * - each function's cold start (bench/cold-start.ts): loading that archive in a fresh Node process with
 *   only the runtime's AWS SDK beside it, and handling a first event that does real work;
 * - the forwarder's memory: the serialized forwarder in its own Node process (as a Lambda container),
 *   warm, importing one 40 MB message (SES's limit) from a local S3 stand-in into a local Gmail stand-in
 *   (tests/helpers/forwarder-memory.ts). Peak RSS is Linux's VmHWM, reset just before the invocation;
 * - whether that memory stays flat as messages grow: the same for 30 MB and for 120 MB (3× SES's limit, so
 *   buffering the message anywhere would show; fetch with a streamed body did, +147 MiB).
 * Budgets (issue 13): the forwarder's zipped archive ≤ 5 MiB; its peak memory above warm ≤ 2.5× the
 * message; 90 MB more message costs at most a third of that more memory (Node 24 holds up to about
 * 100 MiB of buffers during any large upload, whatever its size, so the check is the growth).
 * That the forwarder streams at all (Gmail gets its first bytes before S3 has produced a quarter of the
 * message) is a test: tests/handlers/gmail-forwarder.test.ts.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SES_MAX_MESSAGE_BYTES } from "../../core/limits";
import { measureForwarderImport } from "../../tests/helpers/forwarder-memory";
import { measureColdStarts } from "../cold-start";
import { markdownTable, type BenchSuite } from "../suite";
import { testStack } from "../test-stack";

const ROOT = path.resolve(__dirname, "../..");
const MIB = 1024 * 1024;
/** The Lambda memory setting of the forwarder (seed: 512 MB). */
const FORWARDER_MEMORY_MB = 512;
/** Fresh processes per function for the cold start; the median and the fastest are shown (2 shared cores are noisy). */
const COLD_START_RUNS = 11;
const BUDGETS = { forwarderZippedBytes: 5 * MIB, forwarderPeakFactor: 2.5, flatGrowthShare: 1 / 3 };
/** The two message sizes of the flat-memory check: below SES's limit, and three times it. */
const FLAT_SIZES = { small: 30 * MIB, large: 120 * MIB };
const BASELINE_FILE = path.join(ROOT, "bench", "baseline-before-google-libraries.json");

/** What was measured before the change, with this same suite (kept so the table shows both). */
interface Baseline {
  readonly commit: string;
  readonly description: string;
  /** The one-minute load average while the cold starts were measured: they grow with it. */
  readonly loadAverage: number;
  readonly functions: Record<string, { zippedBytes: number; unzippedBytes: number; initMs: number; initMinMs: number; initCpuMs: number }>;
  readonly forwarder40MB: { messageBytes: number; baselineRssBytes: number; peakAboveBaselineBytes: number };
}

function readBaseline(): Baseline | undefined {
  return fs.existsSync(BASELINE_FILE) ? (JSON.parse(fs.readFileSync(BASELINE_FILE, "utf8")) as Baseline) : undefined;
}

/** Package names a serialized closure requires (builtins left out). */
function requiredPackages(code: string): string[] {
  const names = new Set<string>();
  for (const match of code.matchAll(/require\("([^"]+)"\)/g)) {
    const spec = match[1]!;
    if (spec.startsWith("node:") || spec.startsWith(".") || spec.startsWith("/")) continue;
    const parts = spec.split("/");
    const name = spec.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
    if (!fs.existsSync(path.join(ROOT, "node_modules", name, "package.json"))) continue; // a builtin such as "crypto"
    names.add(name);
  }
  return [...names].sort();
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
  return `${(bytes / MIB).toFixed(2)} MiB`;
}

/** "before → now" for a cell, or just "now" without a baseline. */
function compare(before: number | undefined, now: number, format: (value: number) => string): string {
  return before === undefined ? format(now) : `${format(before)} → ${format(now)}`;
}

const ms = (value: number) => `${Math.round(value)} ms`;

export const suite: BenchSuite = {
  name: "delivery",
  title: "Delivery Lambdas: archives, cold starts and the forwarder's memory (a 40 MB message; 30 MB against 120 MB)",
  async run(progress) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loads Pulumi only when this suite runs
    const { measureArchive } = require("../../components/synth/archive") as typeof import("../../components/synth/archive");
    const baseline = readBaseline();
    const stack = await testStack(progress);
    const archives = [...stack.archiveDirs].map(([name, dir]) => {
      const size = measureArchive(dir);
      return {
        name,
        zippedBytes: size.zippedBytes,
        unzippedBytes: size.unzippedBytes,
        requires: requiredPackages(fs.readFileSync(path.join(dir, "__index.js"), "utf8")),
      };
    });
    const loadBefore = os.loadavg()[0]!;
    const coldStarts = await measureColdStarts(stack, COLD_START_RUNS, progress);
    const loadAverage = Math.round(((loadBefore + os.loadavg()[0]!) / 2) * 10) / 10;
    const memory = await measureForwarderImport(SES_MAX_MESSAGE_BYTES, progress);
    const peakAbove = memory.peak - memory.baseline;
    const small = await measureForwarderImport(FLAT_SIZES.small, progress);
    const large = await measureForwarderImport(FLAT_SIZES.large, progress);
    const above = (measured: typeof small) => measured.peak - measured.baseline;
    const growth = above(large) - above(small);
    const growthBudget = (large.messageBytes - small.messageBytes) * BUDGETS.flatGrowthShare;
    const forwarder = archives.find((archive) => archive.name.includes("gmail-forwarder"))!;

    const before = baseline ? `before (${baseline.commit}) → now` : "now";
    const table = [
      ...(baseline ? [`before: ${baseline.description}.`, ""] : []),
      ...markdownTable(
        [
          "function",
          `zipped archive, ${before}`,
          "unzipped",
          `cold start CPU, ${before}`,
          `cold start wall, ${before}`,
          `fastest wall of ${COLD_START_RUNS}, ${before}`,
          "wall: load + first event (now)",
          "requires",
        ],
        archives.map((archive) => {
          const cold = coldStarts.find((entry) => entry.function === archive.name)!;
          const was = baseline?.functions[archive.name];
          return [
            archive.name,
            compare(was?.zippedBytes, archive.zippedBytes, mib),
            mib(archive.unzippedBytes),
            compare(was?.initCpuMs, cold.initCpuMs, ms),
            compare(was?.initMs, cold.initMs, ms),
            compare(was?.initMinMs, cold.initMinMs, ms),
            `${cold.loadMs} + ${cold.firstEventMs} ms`,
            packageList(archive.requires),
          ];
        }),
      ),
      "",
      `Cold start: loading the archive and handling a first event, in ${COLD_START_RUNS} fresh processes per function (medians, and the fastest`,
      `wall-clock run); CPU is the process's user + system time, which a busy machine changes far less than wall-clock time.`,
      `Node's own start-up before loading the archive (about ${coldStarts[0]?.bootMs ?? "?"} ms) is not included. Load average while measuring:`,
      `${loadAverage} now${baseline ? `, about ${baseline.loadAverage} for the figures before` : ""} (on ${os.cpus().length} cores); compare cold starts only at similar load.`,
      `Budget: the forwarder's zipped archive ≤ ${mib(BUDGETS.forwarderZippedBytes)}: ${forwarder.zippedBytes <= BUDGETS.forwarderZippedBytes ? "within" : "OVER"}.`,
      "",
      ...markdownTable(["forwarder, one 40 MB message", baseline ? "before" : "", "now"].filter(Boolean), [
        ["message size", ...(baseline ? [mib(baseline.forwarder40MB.messageBytes)] : []), mib(memory.messageBytes)],
        ["RSS of the warm process before", ...(baseline ? [mib(baseline.forwarder40MB.baselineRssBytes)] : []), mib(memory.baseline)],
        [
          `peak RSS during the import${memory.exact ? " (VmHWM)" : " (sampled)"}`,
          ...(baseline ? [mib(baseline.forwarder40MB.baselineRssBytes + baseline.forwarder40MB.peakAboveBaselineBytes)] : []),
          mib(memory.peak),
        ],
        ["peak above warm RSS", ...(baseline ? [mib(baseline.forwarder40MB.peakAboveBaselineBytes)] : []), mib(peakAbove)],
        [
          "peak above warm ÷ message size (budget ≤ 2.5×)",
          ...(baseline ? [`${(baseline.forwarder40MB.peakAboveBaselineBytes / baseline.forwarder40MB.messageBytes).toFixed(2)}×`] : []),
          `${(peakAbove / memory.messageBytes).toFixed(2)}×`,
        ],
        [
          `share of the ${FORWARDER_MEMORY_MB} MB function memory (now)`,
          ...(baseline ? [""] : []),
          `${((memory.peak / (FORWARDER_MEMORY_MB * MIB)) * 100).toFixed(0)} %`,
        ],
        ["import time, local stand-ins (now)", ...(baseline ? [""] : []), `${memory.durationMs.toFixed(0)} ms`],
      ]),
      "",
      ...markdownTable(
        ["forwarder, memory as messages grow (now)", "30 MB message", "120 MB message"],
        [
          ["peak above warm RSS", mib(above(small)), mib(above(large))],
          ["import time, local stand-ins", `${small.durationMs.toFixed(0)} ms`, `${large.durationMs.toFixed(0)} ms`],
        ],
      ),
      `Budget: 90 MB more message costs ≤ ${mib(growthBudget)} more memory: ${mib(growth)}, ${growth <= growthBudget ? "within" : "OVER"}.`,
    ];
    return {
      table,
      figures: {
        baseline: baseline ?? null,
        loadAverage,
        functions: Object.fromEntries(
          archives.map((archive) => {
            const cold = coldStarts.find((entry) => entry.function === archive.name)!;
            const { function: _name, runs: _runs, ...timings } = cold;
            return [
              archive.name,
              { zippedBytes: archive.zippedBytes, unzippedBytes: archive.unzippedBytes, requires: archive.requires, ...timings },
            ];
          }),
        ),
        forwarder40MB: {
          messageBytes: memory.messageBytes,
          baselineRssBytes: memory.baseline,
          peakRssBytes: memory.peak,
          peakAboveBaselineBytes: peakAbove,
          exact: memory.exact,
          durationMs: Math.round(memory.durationMs),
        },
        forwarderFlatMemory: {
          smallMessageBytes: small.messageBytes,
          largeMessageBytes: large.messageBytes,
          smallPeakAboveBaselineBytes: above(small),
          largePeakAboveBaselineBytes: above(large),
          growthBudgetBytes: growthBudget,
        },
      },
    };
  },
};
