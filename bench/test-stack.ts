/**
 * The `test` stack synthesized offline (the real program under Pulumi runtime mocks, as `ses-mail synth`
 * runs it) and each Lambda's code archive unpacked under bench/.out/archives/<function>, exactly as the
 * program builds it (its package allow-list applied). Once per bench run: Pulumi's runtime state is
 * global, so a process synthesizes one stack, and the suites that need it share the result.
 */
import * as path from "node:path";
import type { SynthResult } from "../components/synth/run";

const ROOT = path.resolve(__dirname, "..");
export const ARCHIVES_OUT = path.join(ROOT, "bench", ".out", "archives");

export interface TestStack {
  readonly result: SynthResult;
  readonly synthMs: number;
  /** Each function's unpacked archive folder, by the function's physical name. */
  readonly archiveDirs: ReadonlyMap<string, string>;
}

let synthesis: Promise<TestStack> | undefined;

async function synthesizeTestStack(progress: (message: string) => void): Promise<TestStack> {
  /* eslint-disable @typescript-eslint/no-require-imports -- Pulumi loads only when a suite needs the stack */
  const { synthesize } = require("../components/synth/run") as typeof import("../components/synth/run");
  const { unpackArchive } = require("../components/synth/archive") as typeof import("../components/synth/archive");
  const { pulumiConfigFromStackFile } = require("../config/pulumi") as typeof import("../config/pulumi");
  /* eslint-enable @typescript-eslint/no-require-imports */
  progress("synthesizing the test stack under mocks…");
  const started = performance.now();
  const result = await synthesize({ stack: "test", config: pulumiConfigFromStackFile(path.join(ROOT, "Pulumi.test.yaml")) });
  const synthMs = Math.round(performance.now() - started);
  const archiveDirs = new Map<string, string>();
  for (const [name, archive] of [...result.archives.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const dir = path.join(ARCHIVES_OUT, name);
    await unpackArchive(archive, dir);
    archiveDirs.set(name, dir);
  }
  return { result, synthMs, archiveDirs };
}

/** The synthesized `test` stack and its unpacked archives; synthesized on the first call. */
export function testStack(progress: (message: string) => void): Promise<TestStack> {
  synthesis ??= synthesizeTestStack(progress);
  return synthesis;
}
