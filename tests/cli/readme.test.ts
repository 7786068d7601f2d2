/**
 * The README's rule examples, run as printed against a running local mode, and every `ses-mail`
 * command in README, SETUP, LOCAL, DEPLOY and OPERATIONS checked against the commands and options
 * that exist: the docs show only commands that work as printed.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadStackConfig } from "../../config/load";
import { type Command } from "../../cli/framework";
import { allCommands, main } from "../../cli/main";
import { startLocalMode, type LocalMode } from "../../local/mode";
import { captureOutput } from "../helpers/cli";
import { commandWords, parseWithOptions } from "../helpers/command-lines";

const ROOT = path.resolve(__dirname, "..", "..");

/** The fenced code blocks of a Markdown section (from its `## title` to the next `## `), of one language when given. */
function codeBlocks(markdown: string, section?: string, language?: string): string[] {
  let text = markdown;
  if (section) {
    const start = markdown.indexOf(`\n## ${section}\n`);
    expect(start).toBeGreaterThan(-1);
    const end = markdown.indexOf("\n## ", start + 1);
    text = markdown.slice(start, end === -1 ? undefined : end);
  }
  return [...text.matchAll(/```([a-z]*)\n([\s\S]*?)```/g)]
    .filter((match) => language === undefined || match[1] === language)
    .map((match) => match[2]!);
}

/** The CLI arguments of a documented command line (after `npx ses-mail`). */
function documentedArgv(line: string): string[] {
  return commandWords(line).slice(1);
}

function findCommand(argv: readonly string[]): Command | undefined {
  return [...allCommands()]
    .sort((a, b) => b.name.length - a.name.length)
    .find((command) => command.name.split(" ").every((word, i) => argv[i] === word));
}

describe("the README's rule examples, as printed, against a running local mode", () => {
  let dir: string;
  let mode: LocalMode;
  let cwd: string;

  beforeAll(async () => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-readme-")));
    mode = await startLocalMode({
      config: loadStackConfig("test"),
      configSource: { stack: "test" },
      dataDir: path.join(dir, ".ses-mail"),
      smtpPort: 0,
      dynamodbPort: 0,
      output: () => undefined,
    });
    // The README's commands run from the folder holding .ses-mail, as after `npm start`.
    cwd = process.cwd();
    process.chdir(dir);
  });
  afterAll(async () => {
    process.chdir(cwd);
    await mode.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("adds, lists and tests the rules, printing the README's `rules test` output", async () => {
    // Prepare: the Rules section's commands, and the output it shows.
    const [commands, shown] = codeBlocks(fs.readFileSync(path.join(ROOT, "README.md"), "utf8"), "Rules");
    const lines = commands!.split("\n").filter((line) => line.startsWith("npx ses-mail "));
    expect(lines.map((line) => documentedArgv(line).slice(0, 2).join(" "))).toEqual(["rules add", "rules add", "rules list", "rules test"]);

    // Act
    const results = [];
    for (const line of lines) {
      const out = captureOutput();
      results.push({ command: line, code: await main(documentedArgv(line), out, { PATH: process.env.PATH }), ...out });
    }

    // Assess: every command worked, without a warning, and `rules test` printed what the README shows.
    expect(results.map((result) => [result.command, result.code, result.stderr])).toEqual(lines.map((line) => [line, 0, []]));
    expect(results[3]!.stdout).toEqual(shown!.trimEnd().split("\n"));
    expect(results[2]!.stdout).toContainEqual(
      expect.stringMatching(/^old-newsletter@test\.example\.com\s+enabled\s+drop\s+unsubscribed long ago$/),
    );
  });
});

describe("every ses-mail command the docs show exists and parses as printed", () => {
  const documents = ["README.md", "docs/SETUP.md", "docs/LOCAL.md", "docs/DEPLOY.md", "docs/OPERATIONS.md"];
  const lines = documents.flatMap((document) =>
    codeBlocks(fs.readFileSync(path.join(ROOT, document), "utf8"), undefined, "sh")
      .flatMap((block) => block.split("\n"))
      .map((line) => line.trim())
      .filter((line) => /^(npx )?ses-mail [a-z]/.test(line))
      .map((line) => [document, line] as const),
  );

  it("finds the commands to check", () => {
    expect(lines.length).toBeGreaterThan(40);
  });

  it.each(lines)("%s: %s", (_document, line) => {
    const argv = documentedArgv(line);
    const command = findCommand(argv);
    expect({ line, command: command?.name }).toEqual({ line, command: expect.any(String) });
    const positionals = parseWithOptions(command!, argv.slice(command!.name.split(" ").length));
    const [min, max] = command!.positionals;
    expect(positionals.length).toBeGreaterThanOrEqual(min);
    expect(positionals.length).toBeLessThanOrEqual(max);
  });
});
