/**
 * Local mode's delivery state (adapters/local/delivery-state.ts) against the contracts the AWS adapters
 * keep on the routing table (tests/adapters/aws/delivery-state.test.ts), and across a restart: what was
 * recorded is read back from the file, as the routing table would still hold it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalDeliveryState } from "../../../adapters/local/delivery-state";
import { DeliveryInProgressError, DeliveryStateError } from "../../../core/errors";
import { DELIVERY_RECORD_TTL_SECONDS } from "../../../core/retention";
import { mountSmallFilesystem } from "../../local/small-filesystem";

let dir: string;
let file: string;
const opened: LocalDeliveryState[] = [];
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "ses-mail-delivery-state-"));
  file = path.join(dir, "delivery-state.jsonl");
});
afterEach(async () => {
  for (const state of opened.splice(0)) await state.close().catch(() => undefined);
  await fs.promises.rm(dir, { recursive: true, force: true });
});

async function open(options: { lockMs?: number; now?: () => number; at?: string; syncLocks?: boolean } = {}): Promise<LocalDeliveryState> {
  const state = await LocalDeliveryState.open({
    file: options.at ?? file,
    lockMs: () => options.lockMs ?? 30_000,
    ...(options.now ? { now: options.now } : {}),
    ...(options.syncLocks !== undefined ? { syncLocks: options.syncLocks } : {}),
  });
  opened.push(state);
  return state;
}

/** Closes a state as a crash would leave it: nothing more is written, the file stays as it is. */
async function restart(state: LocalDeliveryState, options: { lockMs?: number; now?: () => number } = {}): Promise<LocalDeliveryState> {
  await state.close();
  return open(options);
}

describe("LocalDeliveryState: idempotency", () => {
  it("runs the work once per key, replays the recorded result, and keeps keys apart, across a restart too", async () => {
    // Prepare
    const state = await open();
    let runs = 0;
    const work = async () => ({ gmailId: `g${++runs}`, bytes: 42 });

    // Act
    const first = await state.idempotency.once("m1|a@gmail.com", work);
    const again = await state.idempotency.once("m1|a@gmail.com", work);
    const other = await state.idempotency.once("m1|b@gmail.com", work);
    const restarted = await restart(state);
    const afterRestart = await restarted.idempotency.once("m1|a@gmail.com", work);

    // Assess
    expect(first).toEqual({ value: { gmailId: "g1", bytes: 42 }, replayed: false });
    expect(again).toEqual({ value: { gmailId: "g1", bytes: 42 }, replayed: true });
    expect(other).toEqual({ value: { gmailId: "g2", bytes: 42 }, replayed: false });
    expect(afterRestart).toEqual({ value: { gmailId: "g1", bytes: 42 }, replayed: true });
    expect(runs).toBe(2);
  });

  it("leaves no record when the work fails, so a retry runs it again (after a restart as well)", async () => {
    // Prepare
    const state = await open();

    // Act
    const failed = state.idempotency.once("m2|a@gmail.com", async () => Promise.reject(new Error("Gmail 503")));
    await expect(failed).rejects.toThrow("Gmail 503");
    const restarted = await restart(state);

    // Assess
    await expect(restarted.idempotency.once("m2|a@gmail.com", async () => ({ gmailId: "later" }))).resolves.toEqual({
      value: { gmailId: "later" },
      replayed: false,
    });
  });

  it("refuses a second concurrent run of the same key with DeliveryInProgressError", async () => {
    // Prepare
    const state = await open();
    let release!: () => void;
    const slow = state.idempotency.once(
      "m3|a@gmail.com",
      () => new Promise<{ gmailId: string }>((resolve) => (release = () => resolve({ gmailId: "slow" }))),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));

    // Act / Assess
    await expect(state.idempotency.once("m3|a@gmail.com", async () => ({ gmailId: "duplicate" }))).rejects.toBeInstanceOf(
      DeliveryInProgressError,
    );
    release();
    await expect(slow).resolves.toEqual({ value: { gmailId: "slow" }, replayed: false });
    await expect(state.idempotency.once("m3|a@gmail.com", async () => ({ gmailId: "x" }))).resolves.toMatchObject({ replayed: true });
  });

  it("keeps a crashed run's lock across the restart, then lets a redelivery take over and says the earlier run was interrupted", async () => {
    // Prepare: a run that never finished (the process died during the import).
    let now = Date.parse("2026-12-01T10:00:00Z");
    const crashed = await open({ lockMs: 30_000, now: () => now });
    const never = new Promise<never>(() => undefined);
    void crashed.idempotency.once("m4|a@gmail.com", () => never);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const restarted = await restart(crashed, { lockMs: 30_000, now: () => now });
    const runs: boolean[] = [];
    const work = async ({ interruptedEarlier }: { interruptedEarlier: boolean }) => {
      runs.push(interruptedEarlier);
      return { gmailId: "second" };
    };

    // Act
    now += 10_000;
    const whileLocked = await restarted.idempotency.once("m4|a@gmail.com", work).catch((error: unknown) => error);
    now += 25_000;
    const retried = await restarted.idempotency.once("m4|a@gmail.com", work);

    // Assess
    expect(whileLocked).toBeInstanceOf(DeliveryInProgressError);
    expect(retried).toEqual({ value: { gmailId: "second" }, replayed: false });
    expect(runs).toEqual([true]);
  });

  it("syncs a run's lock before its work by default; with syncLocks: false only writes it, and it still survives the process", async () => {
    // Prepare: each run notes, once its work starts, whether its lock was synced and is in the file.
    const seen: Array<{ synced: boolean; inFile: boolean }> = [];
    const runIn = (state: LocalDeliveryState, key: string) => {
      const before = state.syncs;
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const run = state.idempotency.once(key, async () => {
        seen.push({ synced: state.syncs > before, inFile: fs.readFileSync(file, "utf8").includes(key) });
        await held;
        return { gmailId: key };
      });
      return { run, release };
    };
    const synced = await open();

    // Act: a run with synced locks, to its end; then one without, left running as kill -9 would leave it.
    const first = runIn(synced, "m7|a@gmail.com");
    await new Promise((resolve) => setTimeout(resolve, 20));
    first.release();
    await first.run;
    await synced.close();
    const written = await open({ syncLocks: false });
    const second = runIn(written, "m8|a@gmail.com");
    await new Promise((resolve) => setTimeout(resolve, 20));
    const restarted = await open({ syncLocks: false });
    const whileLocked = await restarted.idempotency
      .once("m8|a@gmail.com", async () => ({ gmailId: "again" }))
      .catch((error: unknown) => error);
    second.release();
    await second.run;

    // Assess
    expect(seen).toEqual([
      { synced: true, inFile: true },
      { synced: false, inFile: true },
    ]);
    expect(whileLocked).toBeInstanceOf(DeliveryInProgressError);
  });

  it("tells a run that nothing was interrupted: a first run, a retry after a failure, another key", async () => {
    // Prepare
    const state = await open();
    const seen: Array<[string, boolean]> = [];
    const note =
      (label: string) =>
      async ({ interruptedEarlier }: { interruptedEarlier: boolean }) => {
        seen.push([label, interruptedEarlier]);
        return { gmailId: label };
      };

    // Act
    await state.idempotency.once("m6|a@gmail.com", note("first"));
    await state.idempotency.once("m6|a@gmail.com", note("replayed"));
    await expect(state.idempotency.once("m7|a@gmail.com", async () => Promise.reject(new Error("Gmail 503")))).rejects.toThrow("Gmail 503");
    await state.idempotency.once("m7|a@gmail.com", note("after a failure"));

    // Assess
    expect(seen).toEqual([
      ["first", false],
      ["after a failure", false],
    ]);
  });

  it("forgets a delivery once its record has expired, as DynamoDB's TTL would", async () => {
    // Prepare
    let now = Date.parse("2026-12-01T10:00:00Z");
    const state = await open({ now: () => now });
    await state.idempotency.once("m8|a@gmail.com", async () => ({ gmailId: "old" }));

    // Act
    now += DELIVERY_RECORD_TTL_SECONDS * 1000;
    const later = await state.idempotency.once("m8|a@gmail.com", async () => ({ gmailId: "new" }));

    // Assess
    expect(later).toEqual({ value: { gmailId: "new" }, replayed: false });
  });
});

describe("LocalDeliveryState: message progress", () => {
  it("grows a set of done parts, idempotently, and keeps it across a restart", async () => {
    // Prepare
    const state = await open();

    // Act
    const first = await state.messageProgress.complete("m1", ["forward:a@gmail.com"]);
    const both = await state.messageProgress.complete("m1", ["bounce", "forward:a@gmail.com"]);
    const other = await state.messageProgress.record("m2", { outcomes: [], partsDone: ["bounce"] });
    const restarted = await restart(state);
    const afterRestart = await restarted.messageProgress.record("m1", { outcomes: [], partsDone: ["bounce"] });

    // Assess
    expect(first).toEqual(["forward:a@gmail.com"]);
    expect([...both].sort()).toEqual(["bounce", "forward:a@gmail.com"]);
    expect(other).toEqual(["bounce"]);
    expect([...afterRestart].sort()).toEqual(["bounce", "forward:a@gmail.com"]);
  });

  it("records nothing for a call without parts (the outcomes are in outcomes.jsonl) and refuses complete() without parts", async () => {
    // Prepare
    const state = await open();

    // Act
    const none = await state.messageProgress.record("m3", {
      outcomes: [{ kind: "stored", messageId: "m3", at: "2026-12-01T10:00:00.000Z", recipients: ["x@example.com"] }],
    });

    // Assess
    expect(none).toEqual([]);
    await expect(state.messageProgress.complete("m3", [])).rejects.toBeInstanceOf(DeliveryStateError);
    expect(fs.readFileSync(file, "utf8")).toBe("");
  });
});

describe("LocalDeliveryState: bounce throttle", () => {
  it("holds a key for its window, frees it only for its holder, takes over an expired claim, and keeps claims across a restart", async () => {
    // Prepare
    let now = Date.parse("2026-12-01T10:00:00Z");
    const state = await open({ now: () => now });
    const key = "s@x.example|r@example.com";

    // Act / Assess
    expect(await state.throttle.acquire(key, 3600)).toBe(true);
    expect(await state.throttle.acquire(key, 3600)).toBe(false);
    const restarted = await restart(state, { now: () => now });
    await restarted.throttle.release(key); // not this process's claim: nothing happens
    expect(await restarted.throttle.acquire(key, 3600)).toBe(false);
    now += 3600 * 1000;
    expect(await restarted.throttle.acquire(key, 3600)).toBe(true);
    await restarted.throttle.release(key);
    expect(await restarted.throttle.acquire(key, 3600)).toBe(true);
  });
});

describe("LocalDeliveryState on a full disk", () => {
  it("fails with DeliveryStateError and changes nothing when it cannot record, and records again once there is room", async () => {
    // Prepare
    const disk = mountSmallFilesystem(4 * 1024 * 1024);
    try {
      const state = await open({ at: path.join(disk.dir, "delivery-state.jsonl") });
      disk.fill();
      let ran = false;

      // Act
      const importing = await state.idempotency
        .once("m1|a@gmail.com", async () => {
          ran = true;
          return { gmailId: "g" };
        })
        .catch((error: unknown) => error);
      const claiming = await state.throttle.acquire("k", 60).catch((error: unknown) => error);
      const marking = await state.messageProgress.complete("m1", ["bounce"]).catch((error: unknown) => error);
      disk.free();
      const afterwards = await state.idempotency.once("m1|a@gmail.com", async () => ({ gmailId: "g2" }));

      // Assess
      expect(importing).toBeInstanceOf(DeliveryStateError);
      expect(ran).toBe(false);
      expect(claiming).toBeInstanceOf(DeliveryStateError);
      expect(marking).toBeInstanceOf(DeliveryStateError);
      expect(afterwards).toEqual({ value: { gmailId: "g2" }, replayed: false });
      expect(await state.throttle.acquire("k", 60)).toBe(true);
      expect(await state.messageProgress.complete("m1", ["forward:a@gmail.com"])).toEqual(["forward:a@gmail.com"]);
    } finally {
      for (const state of opened.splice(0)) await state.close().catch(() => undefined);
      disk.remove();
    }
  });
});
