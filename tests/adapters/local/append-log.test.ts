import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AppendLog, type LogRecord } from "../../../adapters/local/append-log";
import { mountSmallFilesystem } from "../../local/small-filesystem";

let dir: string;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "ses-mail-append-log-"));
});
afterEach(async () => {
  await fs.promises.rm(dir, { recursive: true, force: true });
});

/** A key-value state kept by an AppendLog, as its owners keep theirs: changed in memory, then appended. */
class KeyValues {
  readonly values = new Map<string, string>();
  log!: AppendLog;

  static async open(file: string, compactMinBytes?: number): Promise<{ state: KeyValues; skipped: number }> {
    const state = new KeyValues();
    const { log, opening } = await AppendLog.open({
      file,
      replay: (record) => state.apply(record),
      snapshot: () => [...state.values].map(([key, value]) => ({ key, value })),
      ...(compactMinBytes !== undefined ? { compactMinBytes } : {}),
    });
    state.log = log;
    return { state, skipped: opening.skipped };
  }

  apply(record: LogRecord): void {
    if (typeof record.key !== "string") return;
    if (typeof record.value === "string") this.values.set(record.key, record.value);
    else this.values.delete(record.key);
  }

  set(key: string, value: string | undefined, options?: { sync?: boolean }): Promise<void> {
    if (value === undefined) this.values.delete(key);
    else this.values.set(key, value);
    return this.log.append(value === undefined ? { key } : { key, value }, options);
  }
}

describe("AppendLog", () => {
  it("replays every record after a restart, in order, so the state is what it was", async () => {
    // Prepare
    const file = path.join(dir, "state.jsonl");
    const { state } = await KeyValues.open(file);
    await state.set("a", "1");
    await state.set("b", "2");
    await state.set("a", "3");
    await state.set("b", undefined);
    await state.log.close();

    // Act
    const { state: reopened, skipped } = await KeyValues.open(file);

    // Assess
    expect([...reopened.values]).toEqual([["a", "3"]]);
    expect(skipped).toBe(0);
  });

  it("cuts off the torn last line a crash left, and appends whole records after it", async () => {
    // Prepare: a write the crash interrupted after half a record.
    const file = path.join(dir, "state.jsonl");
    fs.writeFileSync(file, '{"key":"a","value":"1"}\n{"key":"b","val');

    // Act
    const { state, skipped } = await KeyValues.open(file);
    await state.set("c", "3");
    await state.log.close();
    const { state: reopened } = await KeyValues.open(file);

    // Assess
    expect(skipped).toBe(1);
    expect([...reopened.values]).toEqual([
      ["a", "1"],
      ["c", "3"],
    ]);
    expect(fs.readFileSync(file, "utf8")).toBe('{"key":"a","value":"1"}\n{"key":"c","value":"3"}\n');
  });

  it("commits records appended together with one write and one sync (group commit)", async () => {
    // Prepare
    const { state } = await KeyValues.open(path.join(dir, "state.jsonl"));

    // Act: fifty appends in one turn of the event loop, then one more on its own.
    await Promise.all(Array.from({ length: 50 }, (_, i) => state.set(`k${i}`, String(i))));
    const together = { ...state.log.counts };
    await state.set("alone", "x");

    // Assess
    expect(together).toEqual({ writes: 1, syncs: 1, compactions: 0 });
    expect(state.log.counts).toEqual({ writes: 2, syncs: 2, compactions: 0 });
  });

  it("writes a record that need not be synced without syncing it, and syncs it with the next one that must be", async () => {
    // Prepare
    const { state } = await KeyValues.open(path.join(dir, "state.jsonl"));

    // Act
    await state.set("ack", "1", { sync: false });
    const afterUnsynced = { ...state.log.counts };
    await state.set("durable", "2");

    // Assess
    expect(afterUnsynced).toEqual({ writes: 1, syncs: 0, compactions: 0 });
    expect(state.log.counts).toEqual({ writes: 2, syncs: 1, compactions: 0 });
  });

  it("compacts the file to the live state once it has grown past its threshold, and reopens to the same state", async () => {
    // Prepare: one key rewritten many times, so nearly every record is dead.
    const file = path.join(dir, "state.jsonl");
    const { state } = await KeyValues.open(file, 4096);
    await state.set("kept", "forever");

    // Act
    for (let i = 0; i < 200; i++) await state.set("counter", String(i));
    await state.log.close();
    const { state: reopened } = await KeyValues.open(file);

    // Assess
    expect(state.log.counts.compactions).toBeGreaterThanOrEqual(1);
    expect(fs.statSync(file).size).toBeLessThan(4096);
    expect([...reopened.values].sort()).toEqual([
      ["counter", "199"],
      ["kept", "forever"],
    ]);
  });

  it("rejects appends while the disk is full and recovers by itself once there is room, with a whole file", async () => {
    // Prepare
    const disk = mountSmallFilesystem(4 * 1024 * 1024);
    try {
      const file = path.join(disk.dir, "state.jsonl");
      const { state } = await KeyValues.open(file);
      await state.set("before", "1");
      disk.fill();

      // Act
      const whileFull = await state.set("while-full", "x".repeat(64 * 1024)).then(
        () => "written",
        (error: NodeJS.ErrnoException) => error.code,
      );
      await state.set("while-full", undefined).catch(() => undefined);
      disk.free();
      await state.set("after", "2");
      await state.log.close();
      const { state: reopened, skipped } = await KeyValues.open(file);

      // Assess
      expect(whileFull).toBe("ENOSPC");
      expect(skipped).toBe(0);
      expect([...reopened.values]).toEqual([
        ["before", "1"],
        ["after", "2"],
      ]);
    } finally {
      disk.remove();
    }
  });
});
