/**
 * The infrastructure as it would deploy: the `test` stack synthesized offline (the real program under
 * Pulumi runtime mocks, as `ses-mail synth` runs it), and each Lambda's code archive exactly as the
 * program builds it (its per-function package allow-list applied), unpacked and measured. Lambda allows
 * 50 MB zipped (direct upload) and 250 MB unzipped.
 */
import { markdownTable, type BenchSuite } from "../suite";
import { testStack } from "../test-stack";

const MIB = 1024 * 1024;
const mib = (bytes: number) => (bytes / MIB).toFixed(2);

export const suite: BenchSuite = {
  name: "infrastructure",
  title: "Infrastructure: synth of the test stack and each Lambda archive as deployed",
  async run(progress) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loads Pulumi only when this suite runs
    const { measureArchive } = require("../../components/synth/archive") as typeof import("../../components/synth/archive");
    const { result, synthMs, archiveDirs } = await testStack(progress);
    const custom = result.resources.filter((resource) => resource.custom).length;

    const functions: Record<string, unknown> = {};
    const rows: Array<Array<string | number>> = [];
    for (const [name, dir] of archiveDirs) {
      progress(`measuring ${name}…`);
      const size = measureArchive(dir);
      const packages = size.entries.filter((entry) => entry.path.startsWith("node_modules/")).length;
      const largest = size.entries.slice(0, 3).map((entry) => `${entry.path.replace(/^node_modules\//, "")} ${mib(entry.bytes)}`);
      functions[name] = {
        files: size.files,
        unzippedBytes: size.unzippedBytes,
        zippedBytesEstimate: size.zippedBytes,
        packages,
        largest: size.entries.slice(0, 5),
      };
      rows.push([name, packages, size.files, mib(size.unzippedBytes), mib(size.zippedBytes), largest.join(", ")]);
    }

    return {
      table: [
        `synth: ${custom} AWS resources in ${result.resources.length - custom} components, ${synthMs} ms (4 closures serialized)`,
        "",
        ...markdownTable(["function", "packages", "files", "unzipped MiB", "zipped MiB (est.)", "largest entries (MiB)"], rows),
      ],
      figures: { synthMs, awsResources: custom, components: result.resources.length - custom, functions },
    };
  },
};
