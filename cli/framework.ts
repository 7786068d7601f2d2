/**
 * The small command framework every `ses-mail` command uses: argument parsing with node:util
 * parseArgs, friendly or `--json` output, exit codes (0 ok, 1 user error, 2 unexpected), and help.
 *
 * Help is part of a command's type: every option carries the line that says what it does (and its
 * default), every command at least one example, so `ses-mail <command> --help` is always complete
 * (tests/cli/help.test.ts walks every registered command). Command groups (`ses-mail rules`) answer
 * `--help` with their subcommands.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { errorMessage, SesMailError } from "../core/errors";
import { closestMatch } from "../config/suggest";

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

/** One option of a command, with what `--help` says about it. */
export interface OptionDoc {
  readonly type: "string" | "boolean";
  readonly multiple?: boolean;
  readonly short?: string;
  /** One line: what the option does. */
  readonly description: string;
  /** The placeholder of a string option's value in help (`ADDR`, `FILE`); default `VALUE`. */
  readonly value?: string;
  /** What applies without the option, in words (`3600`, "the stack's region"); omitted when nothing does. */
  readonly defaultsTo?: string;
}

export type OptionSpec = Readonly<Record<string, OptionDoc>>;

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
  /** What the positionals are, for `--help`: `[["<pattern>", "user@domain, *@domain or *"]]`. */
  readonly arguments?: ReadonlyArray<readonly [string, string]>;
  /** Complete command lines that work as printed (at least one), each optionally followed by `   # why`. */
  readonly examples: readonly [string, ...string[]];
  run(context: CommandContext): Promise<void>;
}

/** The options parseArgs takes, from a command's described options. */
function parseArgsOptions(options: OptionSpec): NonNullable<ParseArgsConfig["options"]> {
  return Object.fromEntries(
    Object.entries(options).map(([name, option]) => [
      name,
      { type: option.type, ...(option.multiple ? { multiple: true } : {}), ...(option.short ? { short: option.short } : {}) },
    ]),
  );
}

/** An option as help shows it: `--label NAME`, `-y, --yes`. */
function optionSignature(name: string, option: OptionDoc): string {
  const flag = `${option.short ? `-${option.short}, ` : ""}--${name}`;
  return option.type === "string" ? `${flag} ${option.value ?? "VALUE"}` : flag;
}

/** `ses-mail <command> --help`: summary, usage, arguments, every option with its line and default, examples. */
export function commandHelp(command: Command): string {
  const lines = [command.summary, "", `usage: ${command.usage}`];
  if (command.arguments && command.arguments.length > 0) {
    lines.push("", "arguments:", ...formatTable(command.arguments.map(([name, text]) => [`  ${name}`, text])));
  }
  const rows = Object.entries(command.options).map(([name, option]) => [
    `  ${optionSignature(name, option)}`,
    `${option.description}${option.multiple ? " (repeatable)" : ""}${option.defaultsTo !== undefined ? ` (default: ${option.defaultsTo})` : ""}`,
  ]);
  rows.push(["  -h, --help", "show this help"]);
  lines.push("", "options:", ...formatTable(rows));
  lines.push("", command.examples.length > 1 ? "examples:" : "example:", ...command.examples.map((example) => `  ${example}`));
  return lines.join("\n");
}

/** The words that name a group of commands: `rules` for `rules add`, `rules list`, … */
function groupOf(commands: readonly Command[], words: readonly string[]): Command[] {
  if (words.length === 0) return [];
  return commands.filter((command) => {
    const name = command.name.split(" ");
    return name.length > words.length && words.every((word, i) => name[i] === word);
  });
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

function helpText(commands: readonly Command[], group?: string): string {
  const rows = commands.map((command) => [`  ses-mail ${command.name}`, command.summary]);
  const usage = group
    ? `usage: ses-mail ${group} <command> [options]   (ses-mail ${group} <command> --help for its options and an example)`
    : "usage: ses-mail <command> [options]   (ses-mail <command> --help for its options and an example)";
  return [usage, "", ...formatTable(rows)].join("\n");
}

function isHelp(word: string | undefined): boolean {
  return word === "--help" || word === "-h";
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

/** parseArgs's message, with the option the user probably meant when it names an unknown one. */
function unknownOptionHint(error: unknown, command: Command): string {
  const message = errorMessage(error);
  const unknown = /Unknown option '--([^']+)'/.exec(message)?.[1];
  if (!unknown) return message;
  const suggestion = closestMatch(unknown, Object.keys(command.options));
  return `unknown option --${unknown}${suggestion ? `; did you mean --${suggestion}?` : ""}`;
}

/** Runs one CLI invocation; returns the exit code instead of exiting, so tests can call it. */
export async function runCli(
  commands: readonly Command[],
  argv: readonly string[],
  out: Output = consoleOutput(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  // `ses-mail help rules add` is `ses-mail rules add --help`.
  if (argv[0] === "help" && argv.length > 1) return runCli(commands, [...argv.slice(1), "--help"], out, env);
  if (argv.length === 0 || isHelp(argv[0]) || argv[0] === "help") {
    out.line(helpText(commands));
    return argv.length === 0 ? ExitCode.UserError : ExitCode.Ok;
  }
  const found = findCommand(commands, argv);
  if (!found) {
    // A group's own words (`ses-mail rules`), with or without --help: its subcommands.
    const words = argv.filter((word) => !word.startsWith("-"));
    const groupWords = words.slice(0, 1);
    const group = groupOf(commands, groupWords);
    if (group.length > 0 && (words.length === 1 || argv.some(isHelp))) {
      const text = helpText(group, groupWords.join(" "));
      if (argv.some(isHelp)) {
        out.line(text);
        return ExitCode.Ok;
      }
      out.note(`ses-mail ${groupWords.join(" ")}: say which one:`);
      out.note(text);
      return ExitCode.UserError;
    }
    const candidates = (group.length > 0 ? group : commands).map((command) => command.name);
    // `rules ad` within a group; `rule add` or `dsn` outside one.
    const typed = words.slice(0, group.length > 0 ? 2 : 1).join(" ");
    const suggestion =
      closestMatch(typed, candidates) ?? (group.length === 0 ? closestMatch(words.slice(0, 2).join(" "), candidates) : undefined);
    out.note(
      `ses-mail: unknown command ${JSON.stringify(typed || argv.join(" "))}${suggestion ? `; did you mean \`ses-mail ${suggestion}\`?` : ""}`,
    );
    out.note(helpText(group.length > 0 ? group : commands, group.length > 0 ? groupWords.join(" ") : undefined));
    return ExitCode.UserError;
  }
  const { command, rest } = found;
  if (rest.some(isHelp)) {
    out.line(commandHelp(command));
    return ExitCode.Ok;
  }
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: [...rest],
        options: parseArgsOptions(command.options),
        allowPositionals: true,
        strict: true,
        tokens: true,
      });
    } catch (error) {
      throw new UserError(
        `${unknownOptionHint(error, command)}\nusage: ${command.usage}   (ses-mail ${command.name} --help for every option)`,
      );
    }
    const [min, max] = command.positionals;
    if (parsed.positionals.length < min || parsed.positionals.length > max) {
      throw new UserError(
        `expected ${min === max ? min : `${min} to ${max}`} argument(s), got ${parsed.positionals.length}${
          parsed.positionals.length > max
            ? ` (${parsed.positionals
                .slice(max)
                .map((word) => JSON.stringify(word))
                .join(" ")} is one too many: quote a value that has spaces)`
            : ""
        }\nusage: ${command.usage}`,
      );
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

/** `--json`, as every command that can print data takes it. */
export const JSON_OPTION: OptionSpec = { json: { type: "boolean", description: "print the result as JSON, for scripts" } };
