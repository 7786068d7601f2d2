/**
 * The storage monitor on a real filesystem that fills up (a small tmpfs): what it reports, and what
 * happens to a delivery or a routing call that fails because the disk filled under it.
 */
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { STORAGE_MIN_FREE_BYTES } from "../../local/limits";
import { StorageMonitor, StorageStoppedError } from "../../local/storage";
import { mountSmallFilesystem, type SmallFilesystem } from "./small-filesystem";

const record = (messageId: string): SQSRecord => ({ messageId, body: "{}" }) as SQSRecord;
const event = (...ids: string[]): SQSEvent => ({ Records: ids.map(record) });
/** Looks again this often while it cannot persist (local mode: STORAGE_RECHECK_MS), so a test waits for the disk, not the clock. */
const RECHECK_MS = 50;

describe("storage monitor", () => {
  let disk: SmallFilesystem;
  let monitor: StorageMonitor;
  const lines: string[] = [];
  beforeEach(() => {
    disk = mountSmallFilesystem(STORAGE_MIN_FREE_BYTES + 8 * 1024 * 1024);
    lines.length = 0;
    monitor = new StorageMonitor({ dir: disk.dir, note: (line) => lines.push(line), recheckMs: RECHECK_MS });
  });
  afterEach(() => {
    monitor.stop();
    disk.remove();
  });

  it("says why it cannot persist while free space is under the minimum, and when it can again", async () => {
    // Act
    const before = await monitor.check();
    disk.fill(1024 * 1024);
    const low = await monitor.check({ fresh: true });
    disk.free();
    const after = await monitor.check({ fresh: true });

    // Assess
    expect(before).toBeUndefined();
    expect(low).toBe(`only 1 MB free under ${disk.dir}, ${Math.floor(STORAGE_MIN_FREE_BYTES / 1024 / 1024)} MB needed`);
    expect(after).toBeUndefined();
    expect(lines).toEqual([
      `storage: cannot persist: ${low}; new mail is refused with 451 and deliveries wait until it can`,
      "storage: can persist again; accepting mail and delivering",
    ]);
  });

  it("runs a delivery the full disk failed again once space is back, instead of reporting it failed", async () => {
    // Prepare: the disk fills while the first call runs; its second record fails for it.
    const calls: string[][] = [];
    const guarded = monitor.guard(async ({ Records }) => {
      calls.push(Records.map((r) => r.messageId));
      if (calls.length > 1) return { batchItemFailures: [] };
      disk.fill();
      setTimeout(() => disk.free(), 300);
      return { batchItemFailures: [{ itemIdentifier: "b" }] };
    });

    // Act
    const response = await guarded(event("a", "b"));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(calls).toEqual([["a", "b"], ["b"]]);
    expect(lines).toHaveLength(2);
  });

  it("waits for space before running a delivery at all", async () => {
    // Prepare
    disk.fill();
    const calls: string[][] = [];
    const guarded = monitor.guard(async ({ Records }) => void calls.push(Records.map((r) => r.messageId)));

    // Act
    const running = guarded(event("a"));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const beforeSpace = calls.length;
    disk.free();
    await running;

    // Assess
    expect(beforeSpace).toBe(0);
    expect(calls).toEqual([["a"]]);
  });

  it("reports a failure that has nothing to do with storage as it is, after one call", async () => {
    // Prepare
    let calls = 0;
    const failing = monitor.guard(async () => {
      calls++;
      return { batchItemFailures: [{ itemIdentifier: "a" }] };
    });
    const throwing = monitor.guard(async () => {
      throw new Error("Gmail said no");
    });

    // Act / Assess
    await expect(failing(event("a", "b"))).resolves.toEqual({ batchItemFailures: [{ itemIdentifier: "a" }] });
    await expect(throwing(event("a"))).rejects.toThrow("Gmail said no");
    expect(calls).toBe(1);
  });

  it("runs the router again when it failed while the disk filled", async () => {
    // Prepare
    let calls = 0;
    const router = monitor.guardRouter(async () => {
      calls++;
      if (calls > 1) return [];
      disk.fill();
      setTimeout(() => disk.free(), 300);
      throw new Error("ENOSPC: no space left on device, write");
    });

    // Act
    const decisions = await router([record("a")]);

    // Assess
    expect(decisions).toEqual([]);
    expect(calls).toBe(2);
  });

  it("gives up waiting when local mode stops: the message stays queued", async () => {
    // Prepare
    disk.fill();
    const guarded = monitor.guard(async () => ({ batchItemFailures: [] }));
    const waiting = guarded(event("a"));

    // Act
    monitor.stop();

    // Assess
    await expect(waiting).rejects.toThrow(StorageStoppedError);
  });
});
