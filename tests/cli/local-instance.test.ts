import { exec } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { readyLines } from "../../cli/local";
import { main } from "../../cli/main";
import { INSTANCE_FILE, writeInstance } from "../../local/instance";
import { captureOutput } from "../helpers/cli";
import { LOCAL_CHILD_TEST_TIMEOUT_MS, spawnLocalMode, type LocalModeChild } from "../helpers/local-child";
import { TEST_ZONE } from "../helpers/local-mode";

jest.setTimeout(LOCAL_CHILD_TEST_TIMEOUT_MS);

const execAsync = promisify(exec);
const ROOT = path.resolve(__dirname, "..", "..");

/** A printed `npx ses-mail …` line as the CLI's argv (run in the project, where `npx ses-mail` is this CLI). */
function argvOf(line: string): string[] {
  const words = line.trim().split(/\s+/);
  expect(words.slice(0, 2)).toEqual(["npx", "ses-mail"]);
  return words.slice(2);
}

async function cli(argv: string[], cwd?: string) {
  const out = captureOutput();
  const before = process.cwd();
  if (cwd) process.chdir(cwd);
  try {
    const code = await main(argv, out, { PATH: process.env.PATH });
    return { code, ...out };
  } finally {
    process.chdir(before);
  }
}

describe("ses-mail local: commands find the running instance, and what it prints works as printed", () => {
  let dir: string;
  let dataDir: string;
  let local: LocalModeChild;

  beforeAll(async () => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "ses-mail-instance-")));
    dataDir = path.join(dir, ".ses-mail");
    const zone = path.join(dir, "zone.json");
    fs.writeFileSync(zone, JSON.stringify(TEST_ZONE));
    // Started from the project, as `npm start` is, on ports picked free (not the defaults --local used to assume).
    local = spawnLocalMode({ config: path.join(ROOT, "Pulumi.test.yaml"), dataDir, resolver: zone, cwd: ROOT });
    await local.waitFor(/^ {2}and see what happened|^ {2}npx ses-mail trace/);
  }, 60_000);
  afterAll(async () => {
    if (local.process.exitCode === null) {
      local.process.kill("SIGINT");
      await local.exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("prints a rules command for its data directory, and the command reaches it on its port", async () => {
    // Prepare: the banner's rules line, e.g. `rules  3 loaded (…), default action bounce: npx ses-mail rules list --local --data-dir /tmp/…`.
    const line = await local.waitFor(/^ {2}rules /);
    const command = line.slice(line.indexOf("npx ses-mail"));
    expect(command).toBe(`npx ses-mail rules list --local --data-dir ${dataDir}`);

    // Act: as printed, from the project; and plain --local from the folder holding .ses-mail.
    const printed = await cli(argvOf(command));
    const plain = await cli(["rules", "add", "jane@test.example.com", "--forward", "jane@gmail.com", "--label", "Family", "--local"], dir);

    // Assess
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContainEqual(
      expect.stringMatching(/^\*@test\.example\.com\s+enabled\s+forward-to-gmail ses-mail-test@gmail\.com/),
    );
    const endpoint = JSON.parse(fs.readFileSync(path.join(dataDir, INSTANCE_FILE), "utf8")).dynamodbEndpoint as string;
    expect(endpoint).not.toBe("http://127.0.0.1:8000");
    expect(plain).toMatchObject({
      code: 0,
      stdout: [
        `added jane@test.example.com → forward-to-gmail jane@gmail.com [Family] in local table ses-mail-email-routing-local at ${endpoint}`,
      ],
    });
  });

  it("prints a test message command that delivers, and a trace command that finds it; the label name becomes a Maildir++ folder", async () => {
    // Prepare: the Ready lines, with the rule above (jane@ → jane@gmail.com [Family]) in place.
    await local.waitFor(/^Ready\./);
    const start = local.output.findIndex((line) => line.startsWith("Ready."));
    const [, send, , trace] = local.output.slice(start, start + 4);
    expect(send).toMatch(
      /^ {2}printf 'Subject: hi\\r\\n\\r\\nIt works\.\\r\\n' \| curl -sS smtp:\/\/127\.0\.0\.1:\d+ --mail-from alice@sender\.example --mail-rcpt hello@test\.example\.com -T -$/,
    );

    // Act: the printed command exactly, then the same to jane with a nested label.
    await execAsync(send!.trim(), { cwd: ROOT, shell: "/bin/sh" });
    await execAsync(send!.trim().replace("hello@test.example.com", "jane@test.example.com"), { cwd: ROOT, shell: "/bin/sh" });
    await local.waitFor(/jane@test\.example\.com: forward-to-gmail jane@gmail\.com/);
    const traced = await cli(argvOf(trace!));

    // Assess
    expect(traced.code).toBe(0);
    expect(traced.stdout.join("\n")).toMatch(
      /^1 message\(s\) to hello@test\.example\.com since .*\n.* from alice@sender\.example {2}"hi" {2}in ses-mail-test@gmail\.com$/m,
    );
    const inbox = fs.readdirSync(path.join(dataDir, "mail", "ses-mail-test@gmail.com", "new"));
    expect(inbox).toHaveLength(1);
    expect(fs.readFileSync(path.join(dataDir, "mail", "ses-mail-test@gmail.com", "new", inbox[0]!), "utf8")).toMatch(
      /\r\nSubject: hi\r\n\r\nIt works\.\r\n$/,
    );
    expect(fs.readdirSync(path.join(dataDir, "mail", "jane@gmail.com", ".Family", "new"))).toHaveLength(1);
  });

  it("files a message a spam filter marked (X-Spam-Flag: YES) into .Spam, through the verdict policy", async () => {
    const port = await local.smtpPort();

    await execAsync(
      `printf 'X-Spam-Flag: YES\\r\\nX-Spam-Status: Yes, score=9.1\\r\\nSubject: cheap\\r\\n\\r\\nBuy.\\r\\n' | curl -sS smtp://127.0.0.1:${port} --mail-from alice@sender.example --mail-rcpt offers@test.example.com -T -`,
      { shell: "/bin/sh" },
    );
    const line = await local.waitFor(/offers@test\.example\.com/);

    expect(line).toMatch(/offers@test\.example\.com: forward-to-gmail ses-mail-test@gmail\.com/);
    expect(fs.readdirSync(path.join(dataDir, "mail", "ses-mail-test@gmail.com", ".Spam", "cur"))).toHaveLength(1);
  });

  it("after it stops, says so for its data directory, and a record left by a killed run is recognized", async () => {
    local.process.kill("SIGINT");
    await local.exited;

    const removed = !fs.existsSync(path.join(dataDir, INSTANCE_FILE));
    const stopped = await cli(["rules", "list", "--local"], dir);
    // A record of a process that is gone, as kill -9 leaves it.
    await writeInstance(dataDir, {
      pid: 2 ** 22 + 1,
      hostname: os.hostname(),
      dynamodbEndpoint: "http://127.0.0.1:1",
      smtp: "127.0.0.1:1",
      startedAt: new Date().toISOString(),
    });
    const stale = await cli(["rules", "list", "--data-dir", dataDir]);

    expect(removed).toBe(true);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr[0]).toMatch(
      new RegExp(
        `cannot reach the local table .*: is local mode running on ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\? \\(npm start\\)`,
      ),
    );
    expect(stale.code).toBe(1);
    expect(stale.stderr[0]).toBe(
      `ses-mail rules list: local mode is not running on ${dataDir}: its last run (process ${2 ** 22 + 1}) stopped without cleaning up. Start it: ses-mail local --data-dir ${dataDir}`,
    );
  });
});

describe("the Ready lines", () => {
  it("reach a wildcard listen address through the loopback, and quote what the shell would split", () => {
    expect(readyLines({ smtpHost: "0.0.0.0", smtpPort: 2525, domain: "test.example.com", dataDirArgs: "--local" })).toEqual([
      "Ready. Send a test message (Ctrl-C stops):",
      "  printf 'Subject: hi\\r\\n\\r\\nIt works.\\r\\n' | curl -sS smtp://127.0.0.1:2525 --mail-from alice@sender.example --mail-rcpt hello@test.example.com -T -",
      "and see what happened to it:",
      "  npx ses-mail trace --recipient hello@test.example.com --local",
    ]);
    expect(readyLines({ smtpHost: "::1", smtpPort: 25, domain: "x.example", dataDirArgs: "--local --data-dir 'my data'" })[1]).toContain(
      "smtp://[::1]:25",
    );
  });
});
