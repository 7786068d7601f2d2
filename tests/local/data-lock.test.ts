/**
 * One local mode per data directory: the lock file, and two real `ses-mail local` processes on one
 * directory (the second refuses in one line; a holder killed with SIGKILL does not block the next start).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { holderAlive, LOCK_FILE, lockDataDirectory, processStart, type LockHolder } from "../../local/data-lock";
import { killChildren, LOCAL_CHILD_TEST_TIMEOUT_MS, spawnLocalMode, type LocalModeChild } from "../helpers/local-child";
import { makeTempDir } from "../helpers/local-mode";

jest.setTimeout(LOCAL_CHILD_TEST_TIMEOUT_MS);

const ROOT = path.resolve(__dirname, "..", "..");

const CONFIG = `config:
  ses-mail:domains:
    - test.example.com
`;

describe("the data directory lock", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir("ses-mail-lock-");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const writeLock = (holder: Partial<LockHolder>) =>
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ hostname: os.hostname(), since: "2026-11-28T10:00:00.000Z", ...holder }));

  it("is taken once: a second taker is told which process holds it, and may take it once released", async () => {
    // Prepare
    const lock = await lockDataDirectory(dir);

    // Act
    const second = lockDataDirectory(dir);

    // Assess
    await expect(second).rejects.toThrow(
      new RegExp(
        `^the data directory ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is in use by local mode in process ${process.pid} \\(since .*\\): stop it first, or give this one another --data-dir$`,
      ),
    );
    await expect(second).rejects.toMatchObject({ name: "LocalStartError" });
    await lock.release();
    expect(fs.readdirSync(dir)).not.toContain(LOCK_FILE);
    const again = await lockDataDirectory(dir);
    expect(again.holder.pid).toBe(process.pid);
    await again.release();
  });

  it("takes over a lock whose process is gone", async () => {
    // Prepare: a process that has exited; its id is free.
    const child = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => child.once("exit", resolve));
    writeLock({ pid: child.pid! });

    // Act
    const lock = await lockDataDirectory(dir);

    // Assess
    expect(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), "utf8"))).toMatchObject({ pid: process.pid });
    await lock.release();
  });

  it("takes over a lock whose process id was reused by another process (a different start time)", async () => {
    // Prepare: this very process id, but another process start.
    expect(processStart(process.pid)).toMatch(/^[0-9a-f-]+\/\d+$/);
    writeLock({ pid: process.pid, processStart: "00000000-0000-0000-0000-000000000000/1" });

    // Act
    const lock = await lockDataDirectory(dir);

    // Assess
    expect(lock.holder.processStart).toBe(processStart(process.pid));
    await lock.release();
  });

  it.each([
    ["a lock that does not parse", "not json"],
    ["an empty lock", ""],
  ])("takes over %s (never written by local mode, which writes it whole)", async (_name, content) => {
    // Prepare
    fs.writeFileSync(path.join(dir, LOCK_FILE), content);

    // Act
    const lock = await lockDataDirectory(dir);

    // Assess
    expect(lock.holder.pid).toBe(process.pid);
    await lock.release();
  });

  it("refuses a lock taken on another host, which it cannot check, naming the host and the file", async () => {
    // Prepare
    writeLock({ pid: 4242, hostname: "other-host.example" });

    // Act / Assess
    expect(holderAlive({ pid: 4242, hostname: "other-host.example", since: "x" })).toBe(true);
    await expect(lockDataDirectory(dir)).rejects.toThrow(
      /in use by local mode in process 4242 on other-host\.example .*remove .*ses-mail\.lock if it is gone/,
    );
  });

  it("lets only one of many starts racing for a stale lock win", async () => {
    // Prepare
    const child = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => child.once("exit", resolve));
    writeLock({ pid: child.pid! });

    // Act
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => lockDataDirectory(dir)));

    // Assess
    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
    expect(
      results.filter((result) => result.status === "rejected").map((result) => String((result as PromiseRejectedResult).reason)),
    ).toEqual(Array(7).fill(expect.stringMatching(/in use by local mode in process/)));
  });
});

describe("two `ses-mail local` on one data directory", () => {
  let dir: string;
  const children: LocalModeChild[] = [];
  beforeEach(async () => {
    dir = await makeTempDir("ses-mail-lock-e2e-");
    fs.writeFileSync(path.join(dir, "Pulumi.test.yaml"), CONFIG);
  });
  afterEach(async () => {
    await killChildren(children);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = () => {
    const child = spawnLocalMode({ config: path.join(dir, "Pulumi.test.yaml"), dataDir: path.join(dir, "data"), cwd: ROOT });
    children.push(child);
    return child;
  };

  it("refuses the second in one line naming the first's process, exit code 1; the first keeps running", async () => {
    // Prepare
    const first = start();
    await first.waitFor(/^Ready\./);

    // Act
    const second = start();
    const { code } = await second.exited;

    // Assess
    expect(code).toBe(1);
    const said = second.output.filter((line) => line.trim() !== "");
    expect(said).toEqual([
      expect.stringMatching(
        new RegExp(
          `^ses-mail local: the data directory .* is in use by local mode in process ${first.process.pid} \\(since [^)]+\\): stop it first, or give this one another --data-dir$`,
        ),
      ),
    ]);
    expect(first.process.exitCode).toBeNull();
    first.process.kill("SIGINT");
    expect((await first.exited).code).toBe(0);
    expect(fs.readdirSync(path.join(dir, "data"))).not.toContain(LOCK_FILE);
  });

  it("starts on a directory whose holder was killed with SIGKILL", async () => {
    // Prepare
    const first = start();
    await first.waitFor(/^Ready\./);
    first.process.kill("SIGKILL");
    await first.exited;
    expect(fs.readdirSync(path.join(dir, "data"))).toContain(LOCK_FILE);

    // Act
    const second = start();
    await second.waitFor(/^Ready\./);

    // Assess
    expect(JSON.parse(fs.readFileSync(path.join(dir, "data", LOCK_FILE), "utf8"))).toMatchObject({ pid: second.process.pid });
    second.process.kill("SIGINT");
    expect((await second.exited).code).toBe(0);
  });
});
