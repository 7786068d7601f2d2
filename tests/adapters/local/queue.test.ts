import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalQueue, type QueueMessage } from "../../../adapters/local/queue";

let dir: string;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "ses-mail-queue-"));
});
afterEach(async () => {
  await fs.promises.rm(dir, { recursive: true, force: true });
});

function journal(name = "q"): string[] {
  return fs.existsSync(path.join(dir, name)) ? fs.readdirSync(path.join(dir, name)) : [];
}

describe("LocalQueue", () => {
  it("hands messages over in batches of at most batchSize, in order, and forgets them once handled", async () => {
    // Prepare
    const queue = new LocalQueue({ name: "q", dir: path.join(dir, "q"), batchSize: 3 });
    for (let i = 0; i < 7; i++) await queue.enqueue(`m${i}`);
    expect(journal()).toHaveLength(7);
    const batches: string[][] = [];

    // Act
    queue.start(async (messages) => {
      batches.push(messages.map((message) => message.body));
      return { failed: [] };
    });
    await queue.idle();

    // Assess
    expect(batches).toEqual([["m0", "m1", "m2"], ["m3", "m4", "m5"], ["m6"]]);
    expect(journal()).toEqual([]);
  });

  it("offers only the failed messages of a batch again, with their receive count", async () => {
    // Prepare
    const queue = new LocalQueue({ name: "q", dir: path.join(dir, "q"), retryDelayMs: () => 1 });
    const seen: Array<[string, number]> = [];
    queue.start(async (messages) => {
      for (const message of messages) seen.push([message.body, message.receiveCount]);
      return { failed: messages.filter((message) => message.body === "flaky" && message.receiveCount < 2).map((message) => message.id) };
    });

    // Act
    await queue.enqueue("fine");
    await queue.enqueue("flaky");
    await queue.idle();

    // Assess
    expect(seen).toEqual(expect.arrayContaining([["fine", 1], ["flaky", 1], ["flaky", 2]]));
    expect(seen).toHaveLength(3);
    expect(journal()).toEqual([]);
  });

  it("moves a message to the dead-letter folder after maxReceiveCount failures, whole batch when the consumer throws", async () => {
    // Prepare
    const deadLetters: Array<[string, string]> = [];
    const errors: unknown[] = [];
    const queue = new LocalQueue({
      name: "q",
      dir: path.join(dir, "q"),
      maxReceiveCount: 2,
      retryDelayMs: () => 1,
      onDeadLetter: (message, reason) => deadLetters.push([message.body, reason]),
      onHandlerError: (error) => errors.push(error),
    });
    let calls = 0;
    queue.start(async () => {
      calls++;
      throw new Error("gmail is down");
    });

    // Act
    await queue.enqueue("doomed");
    await queue.idle();

    // Assess
    expect(calls).toBe(2);
    expect(errors).toHaveLength(2);
    expect(deadLetters).toEqual([["doomed", "the consumer threw: gmail is down"]]);
    expect(journal()).toEqual([]);
    const [dlqFile] = journal("q-dlq");
    const record = JSON.parse(fs.readFileSync(path.join(dir, "q-dlq", dlqFile!), "utf8")) as Record<string, unknown>;
    expect(record).toMatchObject({ body: "doomed", receiveCount: 2, reason: "the consumer threw: gmail is down" });
  });

  it("recovers what a previous run left in its journal, in enqueue order", async () => {
    // Prepare: a run that accepted messages and died before handling them.
    const crashed = new LocalQueue({ name: "q", dir: path.join(dir, "q") });
    await crashed.enqueue("first");
    await crashed.enqueue("second");
    const restarted = new LocalQueue({ name: "q", dir: path.join(dir, "q") });
    const handled: string[] = [];

    // Act
    const recovered = await restarted.recover();
    restarted.start(async (messages) => {
      handled.push(...messages.map((message) => message.body));
      return { failed: [] };
    });
    await restarted.idle();

    // Assess
    expect(recovered).toBe(2);
    expect(handled).toEqual(["first", "second"]);
    expect(journal()).toEqual([]);
  });

  it("sets an unreadable journal entry aside instead of blocking the queue", async () => {
    // Prepare
    fs.mkdirSync(path.join(dir, "q"));
    fs.writeFileSync(path.join(dir, "q", "0000-broken.json"), "{ not json");
    const queue = new LocalQueue({ name: "q", dir: path.join(dir, "q") });

    // Act
    const recovered = await queue.recover();

    // Assess
    expect(recovered).toBe(0);
    expect(journal()).toEqual([]);
    expect(journal("q-dlq")).toEqual(["0000-broken.json"]);
  });

  it("stops after the running batch and keeps the rest in the journal", async () => {
    // Prepare
    const queue = new LocalQueue({ name: "q", dir: path.join(dir, "q"), batchSize: 1 });
    let release: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      queue.start(async () => {
        resolve();
        await new Promise<void>((done) => (release = done));
        return { failed: [] };
      });
    });
    await queue.enqueue("a");
    await queue.enqueue("b");
    await started;

    // Act
    const stopping = queue.stop();
    release();
    await stopping;

    // Assess
    expect(journal()).toHaveLength(1);
    const [left] = journal();
    expect(JSON.parse(fs.readFileSync(path.join(dir, "q", left!), "utf8"))).toMatchObject({ body: "b" });
  });

  it("never runs more handler calls at once than its concurrency", async () => {
    // Prepare
    const queue = new LocalQueue({ name: "q", batchSize: 1, concurrency: 3 });
    let running = 0;
    let peak = 0;
    queue.start(async (messages: readonly QueueMessage[]) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      return { failed: messages.length > 0 ? [] : [] };
    });

    // Act
    await Promise.all(Array.from({ length: 10 }, (_, i) => queue.enqueue(String(i))));
    await queue.idle();

    // Assess
    expect(peak).toBe(3);
  });

  it("hides a delayed message until its DelaySeconds have passed, across a restart too", async () => {
    // Prepare
    jest.useFakeTimers({ doNotFake: ["setImmediate", "nextTick", "queueMicrotask"] });
    try {
      const first = new LocalQueue({ name: "q", dir: path.join(dir, "q") });
      await first.send("parked", { delaySeconds: 900 });
      const queue = new LocalQueue({ name: "q", dir: path.join(dir, "q") });
      const handled: string[] = [];
      queue.start(async (messages) => {
        handled.push(...messages.map((message) => message.body));
        return { failed: [] };
      });

      // Act
      await queue.recover();
      jest.advanceTimersByTime(899_000);
      const before = [...handled];
      jest.advanceTimersByTime(1_000);
      await queue.idle();

      // Assess
      expect(before).toEqual([]);
      expect(handled).toEqual(["parked"]);
      await expect(first.send("x", { delaySeconds: 901 })).rejects.toThrow(RangeError);
    } finally {
      jest.useRealTimers();
    }
  });

  it("validates its options instead of falling back to defaults", () => {
    // Act / Assess
    expect(() => new LocalQueue({ name: "q", batchSize: 0 })).toThrow(RangeError);
    expect(() => new LocalQueue({ name: "q", batchSize: 11 })).toThrow(RangeError);
    expect(() => new LocalQueue({ name: "q", concurrency: 0 })).toThrow(RangeError);
  });
});
