/** What a CLI command printed, captured instead of written to the terminal. */
import type { Output } from "../../cli/framework";

export interface CapturedOutput extends Output {
  readonly stdout: string[];
  readonly stderr: string[];
  /** Values printed with `--json`, as objects. */
  readonly jsonValues: unknown[];
}

export function captureOutput(): CapturedOutput {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const jsonValues: unknown[] = [];
  return {
    stdout,
    stderr,
    jsonValues,
    line: (text = "") => void stdout.push(text),
    note: (text) => void stderr.push(text),
    json: (value) => void jsonValues.push(value),
  };
}
