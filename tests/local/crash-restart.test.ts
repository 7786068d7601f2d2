/**
 * Crash and restart: `ses-mail local` runs as a child process and kills itself with SIGKILL at a chosen
 * point (SES_MAIL_LOCAL_CRASH_AT); a second run on the same data directory must deliver what the first
 * acknowledged, exactly once.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { CRASH_POINT_VARIABLE, type CrashPoint } from "../../local/crash-points";
import { makeTempDir, TEST_ZONE } from "../helpers/local-mode";
import { createTransport } from "nodemailer";

const ROOT = path.resolve(__dirname, "../..");
const CONFIG = `config:
  ses-mail:domains:
    - test.example.com
  ses-mail:routes:
    - recipient: bob@test.example.com
      actions:
        - type: forward-to-gmail
          target: bob@gmail.com
`;

interface Child {
  readonly process: ChildProcess;
  readonly output: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first output line matching `pattern`. */
  waitFor(pattern: RegExp): Promise<string>;
}

function startChild(dir: string, crashAt?: CrashPoint): Child {
  const env: NodeJS.ProcessEnv = { ...process.env, POWERTOOLS_LOG_LEVEL: "ERROR" };
  if (crashAt) env[CRASH_POINT_VARIABLE] = crashAt;
  else delete env[CRASH_POINT_VARIABLE];
  const child = spawn(
    process.execPath,
    [
      path.join(ROOT, "bin/ses-mail.js"),
      "local",
      "--config",
      path.join(dir, "Pulumi.test.yaml"),
      "--data-dir",
      path.join(dir, "data"),
      "--smtp-port",
      "0",
      "--dynamodb-port",
      "0",
      "--resolver",
      path.join(dir, "zone.json"),
    ],
    { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  const output: string[] = [];
  const watchers: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  let partial = "";
  const onData = (chunk: Buffer) => {
    partial += chunk.toString("utf8");
    const lines = partial.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      output.push(line);
      for (const watcher of [...watchers]) {
        if (watcher.pattern.test(line)) {
          watchers.splice(watchers.indexOf(watcher), 1);
          watcher.resolve(line);
        }
      }
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return {
    process: child,
    output,
    exited,
    waitFor(pattern) {
      const seen = output.find((line) => pattern.test(line));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        watchers.push({ pattern, resolve });
        void exited.then(() => reject(new Error(`exited before printing ${pattern}; output:\n${output.join("\n")}`)));
      });
    },
  };
}

async function smtpPort(child: Child): Promise<number> {
  const line = await child.waitFor(/^\s+SMTP\s+127\.0\.0\.1:\d+/);
  return Number(/:(\d+)/.exec(line)![1]);
}

async function send(port: number, tag: string): Promise<string[]> {
  const transport = createTransport({ host: "127.0.0.1", port, tls: { rejectUnauthorized: false } });
  try {
    const info = await transport.sendMail({
      envelope: { from: "alice@sender.example", to: ["bob@test.example.com"] },
      raw: `From: alice@sender.example\r\nTo: bob@test.example.com\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@sender.example>\r\n\r\nbody\r\n`,
    });
    return (info.accepted as unknown[]).map(String);
  } finally {
    transport.close();
  }
}

function delivered(dir: string, tag: string): number {
  const maildir = path.join(dir, "data", "mail", "bob@gmail.com");
  let count = 0;
  for (const sub of ["new", "cur"]) {
    const folder = path.join(maildir, sub);
    if (!fs.existsSync(folder)) continue;
    for (const name of fs.readdirSync(folder)) if (fs.readFileSync(path.join(folder, name), "latin1").includes(`<${tag}@sender.example>`)) count++;
  }
  return count;
}

function journal(dir: string, queue: string): string[] {
  const folder = path.join(dir, "data", "queues", queue);
  return fs.existsSync(folder) ? fs.readdirSync(folder) : [];
}

describe("local mode survives a crash", () => {
  let dir: string;
  const children: Child[] = [];
  beforeEach(async () => {
    dir = await makeTempDir("ses-mail-crash-");
    fs.writeFileSync(path.join(dir, "Pulumi.test.yaml"), CONFIG);
    fs.writeFileSync(path.join(dir, "zone.json"), JSON.stringify(TEST_ZONE));
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        child.process.kill("SIGKILL");
        await child.exited;
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("delivers a message acknowledged with 250 just before the crash, once, after a restart", async () => {
    // Prepare: the first run dies right after its 250 reply, before routing.
    const first = startChild(dir, "accepted");
    children.push(first);
    const accepted = await send(await smtpPort(first), "crash-accepted");
    const { signal } = await first.exited;
    expect(accepted).toEqual(["bob@test.example.com"]);
    expect(signal).toBe("SIGKILL");
    expect(delivered(dir, "crash-accepted")).toBe(0);
    expect(journal(dir, "input")).toHaveLength(1);

    // Act
    const second = startChild(dir);
    children.push(second);
    await second.waitFor(/recovered\s+1 input/);
    await second.waitFor(/→ bob@test\.example\.com: forward-to-gmail bob@gmail\.com/);
    second.process.kill("SIGINT");
    const stopped = await second.exited;

    // Assess
    expect(delivered(dir, "crash-accepted")).toBe(1);
    expect(journal(dir, "input")).toEqual([]);
    expect(stopped.code).toBe(0);
  });

  it("does not deliver twice when it crashed after the import but before the queue forgot the message", async () => {
    // Prepare: the first run imports, then dies before acknowledging the forwarder queue message.
    const first = startChild(dir, "forwarded");
    children.push(first);
    await send(await smtpPort(first), "crash-forwarded");
    await first.exited;
    expect(delivered(dir, "crash-forwarded")).toBe(1);
    expect(journal(dir, "gmail-forwarder")).toHaveLength(1);

    // Act: the restart hands the same record to the forwarder again.
    const second = startChild(dir);
    children.push(second);
    await second.waitFor(/recovered\s+.*1 forwarder/);
    const line = await second.waitFor(/→ bob@test\.example\.com: forward-to-gmail bob@gmail\.com/);
    second.process.kill("SIGINT");
    await second.exited;

    // Assess: the idempotency record in the routing table (on disk) stopped a second import.
    expect(line).not.toContain("FAILED");
    expect(delivered(dir, "crash-forwarded")).toBe(1);
    expect(journal(dir, "gmail-forwarder")).toEqual([]);
  });
});
