/**
 * `npm run bench`: runs every suite in bench/suites (alphabetically) and prints its figures as a
 * table; `npm run bench -- --json` prints all figures as one JSON object keyed by suite name.
 * `npm run bench -- <name>…` runs only the named suites.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { BenchSuite } from "./suite";

// Quiet handlers: no EMF metric lines or JSON logs between the figures.
process.env.POWERTOOLS_METRICS_DISABLED ??= "true";
process.env.POWERTOOLS_LOG_LEVEL ??= "SILENT";

async function main(argv: string[]): Promise<void> {
  const json = argv.includes("--json");
  const only = argv.filter((arg) => !arg.startsWith("--"));
  const dir = path.join(__dirname, "suites");
  const files = fs
    .readdirSync(dir)
    .filter((file) => file.endsWith(".ts"))
    .sort();
  const figures: Record<string, unknown> = {};
  for (const file of files) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- suites are discovered at run time
    const suite = (require(path.join(dir, file)) as { suite: BenchSuite }).suite;
    if (only.length > 0 && !only.includes(suite.name)) continue;
    if (!json) process.stderr.write(`running ${suite.name}…\n`);
    const result = await suite.run((message) => {
      if (!json) process.stderr.write(`  ${message}\n`);
    });
    figures[suite.name] = result.figures;
    if (!json) {
      process.stdout.write(`\n## ${suite.title}\n\n`);
      for (const line of result.table) process.stdout.write(`${line}\n`);
    }
  }
  if (json) process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
