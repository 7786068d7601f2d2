/**
 * Command lines as people read them in help and docs: split as a shell would, stripped of what is not
 * the command's (`npx`, a trailing `# comment`, a pipe or redirection), and checked against a command's
 * own options, so a printed example is known to parse as printed.
 */
import { parseArgs } from "node:util";
import type { Command } from "../../cli/framework";

/** Splits a command line as a POSIX shell would for plain words, '…' and "…" (enough for examples and docs). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let current: string | undefined;
  let quote: string | undefined;
  for (const char of line) {
    if (quote) {
      if (char === quote) quote = undefined;
      else current = (current ?? "") + char;
    } else if (char === "'" || char === '"') {
      quote = char;
      current = current ?? "";
    } else if (/\s/.test(char)) {
      if (current !== undefined) words.push(current);
      current = undefined;
    } else {
      current = (current ?? "") + char;
    }
  }
  if (current !== undefined) words.push(current);
  return words;
}

/** The words of a printed command line, from `ses-mail` on: without `npx`, its comment, what it pipes or redirects. */
export function commandWords(line: string): string[] {
  const command = line
    .replace(/\s+#\s.*$/, "")
    .replace(/\s+[<>|]\s.*$/, "")
    .trim();
  return shellWords(command.replace(/^npx /, ""));
}

/** Parses a command's arguments (after its name) with its own options, strictly; returns the positionals. */
export function parseWithOptions(command: Command, args: readonly string[]): string[] {
  const options = Object.fromEntries(
    Object.entries(command.options).map(([name, doc]) => [name, { type: doc.type, multiple: doc.multiple ?? false }]),
  );
  return parseArgs({ args: [...args], options, allowPositionals: true, strict: true }).positionals;
}
