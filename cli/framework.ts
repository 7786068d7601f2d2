/**
 * The small command framework every `ses-mail` command uses: argument parsing with node:util
 * parseArgs, friendly or `--json` output, and exit codes (0 ok, 1 user error, 2 unexpected).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { errorMessage, SesMailError } from "../core/errors";

/** A mistake the user can fix: printed as one line, exit code 1. */
export class UserError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UserError";
  }
}

export const ExitCode = { Ok: 0, UserError: 1, Unexpected: 2 } as const;

export interface Output {
  /** A line of normal output (stdout). */
  line(text?: string): void;
  /** Progress and notices (stderr), so `--json` output stays clean. */
  note(text: string): void;
  json(value: unknown): void;
}

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

export interface CommandContext {
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | Array<string | boolean> | undefined>>;
  /** The tokens in order, for commands whose options depend on their position (`--forward A --label L`). */
  readonly tokens: ReadonlyArray<{ kind: string; name?: string; value?: string; index: number }>;
  readonly out: Output;
  readonly env: NodeJS.ProcessEnv;
}

export interface Command {
  /** Words after `ses-mail`, e.g. `rules add`. */
  readonly name: string;
  readonly summary: string;
  /** Usage line(s) shown by `--help` and after a usage error. */
  readonly usage: string;
  readonly options: OptionSpec;
  /** How many positionals it takes: [min, max]. */
  readonly positionals: readonly [number, number];
  run(context: CommandContext): Promise<void>;
}

export function consoleOutput(stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): Output {
  return {
    line: (text = "") => void stdout.write(`${text}\n`),
    note: (text) => void stderr.write(`${text}\n`),
    json: (value) => void stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  };
}

/** Pads columns to the widest cell; the last column is left ragged. */
export function formatTable(rows: ReadonlyArray<readonly string[]>): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - [...cell].length)))
      .join("  ")
      .trimEnd(),
  );
}

function helpText(commands: readonly Command[]): string {
  const rows = commands.map((command) => [`  ses-mail ${command.name}`, command.summary]);
  return ["usage: ses-mail <command> [options]   (ses-mail <command> --help for details)", "", ...formatTable(rows)].join("\n");
}

/** Finds the command whose name matches the longest prefix of argv. */
function findCommand(commands: readonly Command[], argv: readonly string[]): { command: Command; rest: string[] } | undefined {
  let best: { command: Command; rest: string[] } | undefined;
  for (const command of commands) {
    const words = command.name.split(" ");
    if (words.every((word, i) => argv[i] === word) && (!best || words.length > best.command.name.split(" ").length)) {
      best = { command, rest: argv.slice(words.length) };
    }
  }
  return best;
}

/** Runs one CLI invocation; returns the exit code instead of exiting, so tests can call it. */
export async function runCli(
  commands: readonly Command[],
  argv: readonly string[],
  out: Output = consoleOutput(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    out.line(helpText(commands));
    return argv.length === 0 ? ExitCode.UserError : ExitCode.Ok;
  }
  const found = findCommand(commands, argv);
  if (!found) {
    const group = commands.filter((command) => command.name.startsWith(`${argv[0]} `));
    out.note(`ses-mail: unknown command ${JSON.stringify(argv.join(" "))}`);
    out.note(helpText(group.length > 0 ? group : commands));
    return ExitCode.UserError;
  }
  const { command, rest } = found;
  if (rest.includes("--help") || rest.includes("-h")) {
    out.line(`${command.summary}\n\nusage: ${command.usage}`);
    return ExitCode.Ok;
  }
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: [...rest], options: command.options, allowPositionals: true, strict: true, tokens: true });
    } catch (error) {
      throw new UserError(`${errorMessage(error)}\nusage: ${command.usage}`);
    }
    const [min, max] = command.positionals;
    if (parsed.positionals.length < min || parsed.positionals.length > max) {
      throw new UserError(`expected ${min === max ? min : `${min} to ${max}`} argument(s)\nusage: ${command.usage}`);
    }
    await command.run({
      positionals: parsed.positionals,
      values: parsed.values,
      tokens: parsed.tokens ?? [],
      out,
      env,
    });
    return ExitCode.Ok;
  } catch (error) {
    if (error instanceof UserError || error instanceof SesMailError) {
      out.note(`ses-mail ${command.name}: ${error.message}`);
      return ExitCode.UserError;
    }
    out.note(`ses-mail ${command.name}: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return ExitCode.Unexpected;
  }
}
