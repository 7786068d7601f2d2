/** The shape of one benchmark suite in bench/suites. */
export interface BenchResult {
  /** Lines to print (a Markdown table reads well in a terminal and in a PR). */
  readonly table: readonly string[];
  /** The same figures as data, for `--json`. */
  readonly figures: Readonly<Record<string, unknown>>;
}

export interface BenchSuite {
  /** Short key, used by `npm run bench -- <name>` and as the JSON key. */
  readonly name: string;
  readonly title: string;
  run(progress: (message: string) => void): Promise<BenchResult>;
}

/** The value at quantile q (0..1) of unsorted samples (nearest rank). */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** A Markdown table from a header and rows. */
export function markdownTable(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string[] {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)));
  const line = (row: readonly string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(cells[0]!), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...cells.slice(1).map(line)];
}
