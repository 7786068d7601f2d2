/**
 * Crash and restart: `ses-mail local` runs as a child process and kills itself with SIGKILL at a chosen
 * point (SES_MAIL_LOCAL_CRASH_AT); a second run on the same data directory must deliver what the first
 * acknowledged, exactly once.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CRASH_POINT_VARIABLE, DELIVERY_LOCK_VARIABLE, type CrashPoint } from "../../local/crash-points";
import { readQueueJournal } from "../../adapters/local/queue-journal";
import { killChildren, LOCAL_CHILD_TEST_TIMEOUT_MS, spawnLocalMode, type LocalModeChild } from "../helpers/local-child";
import { makeTempDir, TEST_ZONE } from "../helpers/local-mode";
import { createTransport } from "nodemailer";

jest.setTimeout(LOCAL_CHILD_TEST_TIMEOUT_MS);

const CONFIG = `config:
  ses-mail:domains:
    - test.example.com
  ses-mail:routes:
    - recipient: bob@test.example.com
      actions:
        - type: forward-to-gmail
          target: bob@gmail.com
`;

/** `lockMs` shortens the delivery lock a crash leaves (and the forwarder's retry delay); the console is left as an operator gets it. */
function startChild(dir: string, crashAt?: CrashPoint, lockMs?: number): LocalModeChild {
  return spawnLocalMode({
    config: path.join(dir, "Pulumi.test.yaml"),
    dataDir: path.join(dir, "data"),
    resolver: path.join(dir, "zone.json"),
    cwd: dir,
    env: {
      [CRASH_POINT_VARIABLE]: crashAt,
      [DELIVERY_LOCK_VARIABLE]: lockMs === undefined ? undefined : String(lockMs),
      POWERTOOLS_LOG_LEVEL: undefined,
    },
  });
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
    for (const name of fs.readdirSync(folder))
      if (fs.readFileSync(path.join(folder, name), "latin1").includes(`<${tag}@sender.example>`)) count++;
  }
  return count;
}

/** What a queue's journal holds on disk (queues/journal.jsonl): what the next start would find. */
async function journal(dir: string, queue: string): Promise<string[]> {
  return ((await readQueueJournal(path.join(dir, "data", "queues"))).get(queue) ?? []).map((entry) => entry.id);
}

describe("local mode survives a crash", () => {
  let dir: string;
  const children: LocalModeChild[] = [];
  beforeEach(async () => {
    dir = await makeTempDir("ses-mail-crash-");
    fs.writeFileSync(path.join(dir, "Pulumi.test.yaml"), CONFIG);
    fs.writeFileSync(path.join(dir, "zone.json"), JSON.stringify(TEST_ZONE));
  });
  afterEach(async () => {
    await killChildren(children);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("delivers a message acknowledged with 250 just before the crash, once, after a restart", async () => {
    // Prepare: the first run dies right after its 250 reply, before routing.
    const first = startChild(dir, "accepted");
    children.push(first);
    const accepted = await send(await first.smtpPort(), "crash-accepted");
    const { signal } = await first.exited;
    expect(accepted).toEqual(["bob@test.example.com"]);
    expect(signal).toBe("SIGKILL");
    expect(delivered(dir, "crash-accepted")).toBe(0);
    expect(await journal(dir, "input")).toHaveLength(1);

    // Act
    const second = startChild(dir);
    children.push(second);
    await second.waitFor(/recovered\s+1 input/);
    await second.waitFor(/→ bob@test\.example\.com: forward-to-gmail bob@gmail\.com/);
    second.process.kill("SIGINT");
    const stopped = await second.exited;

    // Assess
    expect(delivered(dir, "crash-accepted")).toBe(1);
    expect(await journal(dir, "input")).toEqual([]);
    expect(stopped.code).toBe(0);
  });

  it("delivers a message acknowledged with 250 whose file a power cut took, from the copy its journal keeps", async () => {
    // Prepare: the first run dies right after its 250; then, as after a power cut, the message's file
    // (written but never synced: its bytes were journalled with its notification) is gone.
    const first = startChild(dir, "accepted");
    children.push(first);
    const accepted = await send(await first.smtpPort(), "crash-power-cut");
    await first.exited;
    const emails = path.join(dir, "data", "emails");
    const files = fs.readdirSync(emails).filter((name) => !name.startsWith("."));
    for (const name of files) fs.rmSync(path.join(emails, name));

    // Act
    const second = startChild(dir);
    children.push(second);
    const line = await second.waitFor(/→ bob@test\.example\.com: forward-to-gmail bob@gmail\.com/);
    second.process.kill("SIGINT");
    await second.exited;

    // Assess
    expect(accepted).toEqual(["bob@test.example.com"]);
    expect(files).toHaveLength(1);
    expect(line).not.toContain("FAILED");
    expect(delivered(dir, "crash-power-cut")).toBe(1);
  });

  it("does not deliver twice when it crashed after the import but before the queue forgot the message", async () => {
    // Prepare: the first run imports, then dies before acknowledging the forwarder queue message.
    const first = startChild(dir, "forwarded");
    children.push(first);
    await send(await first.smtpPort(), "crash-forwarded");
    await first.exited;
    expect(delivered(dir, "crash-forwarded")).toBe(1);
    expect(await journal(dir, "gmail-forwarder")).toHaveLength(1);

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
    expect(await journal(dir, "gmail-forwarder")).toEqual([]);
  });

  it("does not import twice when it crashed between the Maildir write and the forwarder's record of it", async () => {
    // Prepare: the first run writes the Maildir file and dies before its idempotency record is completed.
    const first = startChild(dir, "imported", 200);
    children.push(first);
    await send(await first.smtpPort(), "crash-imported");
    const { signal } = await first.exited;
    expect(signal).toBe("SIGKILL");
    expect(delivered(dir, "crash-imported")).toBe(1);
    expect(await journal(dir, "gmail-forwarder")).toHaveLength(1);

    // Act: the restart redelivers the record; once the interrupted attempt's lock has expired, the forwarder imports again.
    const second = startChild(dir, undefined, 200);
    children.push(second);
    const line = await second.waitFor(/→ bob@test\.example\.com: forward-to-gmail bob@gmail\.com/);
    second.process.kill("SIGINT");
    await second.exited;

    // Assess: the Maildir already had that delivery, so there is still one file; the console stayed readable.
    expect(line).not.toContain("FAILED");
    expect(delivered(dir, "crash-imported")).toBe(1);
    expect(await journal(dir, "gmail-forwarder")).toEqual([]);
    expect(second.output.filter((output) => output.trimStart().startsWith("{"))).toEqual([]);
  });

  it("says in one line, not a stack trace, that a delivery interrupted by the crash is still locked", async () => {
    // Prepare: a crash between the import and its record leaves the delivery locked for the real 30 seconds.
    const first = startChild(dir, "imported");
    children.push(first);
    await send(await first.smtpPort(), "crash-locked");
    await first.exited;

    // Act: the restart meets the lock.
    const second = startChild(dir);
    children.push(second);
    const line = await second.waitFor(/ forwarder attempt 1 failed/);
    second.process.kill("SIGINT");
    await second.exited;

    // Assess
    expect(line).toMatch(
      /^\d\d:\d\d:\d\d [a-z0-9]{40} forwarder attempt 1 failed, retrying in 30 s: delivery in progress: an attempt the last stop interrupted still holds its lock$/,
    );
    expect(second.output.filter((output) => output.trimStart().startsWith("{") || /^\s+at /.test(output))).toEqual([]);
    expect(delivered(dir, "crash-locked")).toBe(1);
  });
});
