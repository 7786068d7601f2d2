import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import { commandHelp, type Command } from "../../cli/framework";
import { allCommands, commandsFor, main } from "../../cli/main";
import { captureOutput } from "../helpers/cli";
import { commandWords, parseWithOptions } from "../helpers/command-lines";

/** Every command, as help lists them. */
const COMMANDS = allCommands();

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(__dirname, "..", "..");

const groups = [
  ...new Set(
    COMMANDS.map((command) => command.name.split(" "))
      .filter((words) => words.length > 1)
      .map((words) => words[0]!),
  ),
];

describe("which commands a command line loads", () => {
  it.each(COMMANDS.map((command) => [command.name] as const))(
    "%s is loaded by the group its first word names, with nothing else",
    (name) => {
      const loaded = commandsFor(name.split(" "));
      expect(loaded.map((command) => command.name)).toContain(name);
      expect(loaded.map((command) => command.name.split(" ")[0])).toEqual(loaded.map(() => name.split(" ")[0]));
    },
  );

  it.each([[[]], [["--help"]], [["rule", "add"]], [["constructor"]]])(
    "%j names no group: every command is there for help and suggestions",
    (argv) => {
      expect(commandsFor(argv).map((command) => command.name)).toEqual(COMMANDS.map((command) => command.name));
    },
  );
});

describe("every command's --help", () => {
  it.each(COMMANDS.map((command) => [command.name, command] as const))(
    "ses-mail %s --help lists each option with what it does, and an example",
    async (name, command) => {
      // Prepare
      const out = captureOutput();

      // Act
      const code = await main([...name.split(" "), "--help"], out, {});

      // Assess
      expect(code).toBe(0);
      const help = out.stdout.join("\n");
      expect(help).toBe(commandHelp(command));
      expect(command.summary.trim()).not.toBe("");
      for (const [option, doc] of Object.entries(command.options)) {
        // One line saying what it does, shown beside the option.
        expect({ option, description: doc.description.trim() }).toEqual({ option, description: expect.stringMatching(/^[^\n]{8,}$/) });
        expect(help).toMatch(
          new RegExp(`^ {2}--${option}\\b.*${doc.description.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`, "m"),
        );
        if (doc.defaultsTo !== undefined) expect(help).toContain(`(default: ${doc.defaultsTo})`);
      }
      expect(command.examples.length).toBeGreaterThan(0);
      expect(help).toMatch(/^examples?:$/m);
    },
  );

  it.each(COMMANDS.flatMap((command) => command.examples.map((example) => [example, command] as const)))(
    "the example `%s` is a valid invocation",
    (example, command: Command) => {
      // The example names its command, and what follows parses with the command's own options.
      const words = commandWords(example);
      const name = command.name.split(" ");
      expect(words.slice(0, 1 + name.length)).toEqual(["ses-mail", ...name]);
      const positionals = parseWithOptions(command, words.slice(1 + name.length));
      const [min, max] = command.positionals;
      expect(positionals.length).toBeGreaterThanOrEqual(min);
      expect(positionals.length).toBeLessThanOrEqual(max);
    },
  );
});

describe("command groups", () => {
  it.each(groups)("ses-mail %s --help lists its commands and exits 0", async (group) => {
    const out = captureOutput();
    const code = await main([group, "--help"], out, {});
    expect(code).toBe(0);
    const listed = out.stdout.join("\n");
    for (const command of COMMANDS.filter((entry) => entry.name.startsWith(`${group} `))) {
      expect(listed).toContain(`ses-mail ${command.name}  `);
    }
    expect(out.stderr).toEqual([]);
  });

  it("ses-mail rules alone asks which one (exit 1), and a misspelt command gets a suggestion", async () => {
    const bare = captureOutput();
    const misspelt = captureOutput();
    const option = captureOutput();

    const codes = [
      await main(["rules"], bare, {}),
      await main(["rules", "ad", "x@example.com"], misspelt, {}),
      await main(["rules", "add", "x@example.com", "--froward", "a@gmail.com", "--local"], option, {}),
    ];

    expect(codes).toEqual([1, 1, 1]);
    expect(bare.stderr[0]).toBe("ses-mail rules: say which one:");
    expect(bare.stderr.join("\n")).toContain("ses-mail rules add");
    expect(misspelt.stderr[0]).toBe('ses-mail: unknown command "rules ad"; did you mean `ses-mail rules add`?');
    const group = captureOutput();
    expect(await main(["rule", "add", "x@example.com"], group, {})).toBe(1);
    expect(group.stderr[0]).toBe('ses-mail: unknown command "rule"; did you mean `ses-mail rules add`?');
    expect(option.stderr[0]).toMatch(/^ses-mail rules add: unknown option --froward; did you mean --forward\?\nusage: ses-mail rules add /);
  });

  it("answers through the installed command, and `ses-mail help rules add` is `rules add --help`", async () => {
    const bin = path.join(ROOT, "bin", "ses-mail.js");
    const group = await execFileAsync(process.execPath, [bin, "rules", "--help"]);
    const viaHelp = captureOutput();
    expect(await main(["help", "rules", "add"], viaHelp, {})).toBe(0);

    expect(group.stdout).toMatch(/^usage: ses-mail rules <command>/);
    expect(group.stdout).toContain("ses-mail rules test");
    expect(viaHelp.stdout.join("\n")).toBe(commandHelp(COMMANDS.find((command) => command.name === "rules add")!));
  });
});
