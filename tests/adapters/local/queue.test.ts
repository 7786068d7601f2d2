import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { OutcomeError } from "../../../core/outcomes";
import { deadLetterCount, LocalQueue, readDeadLetters, redriveDeadLetters, type QueueMessage } from "../../../adapters/local/queue";
import { QueueJournal, readQueueJournal } from "../../../adapters/local/queue-journal";

let dir: string;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "ses-mail-queue-"));
});
afterEach(async () => {
  await fs.promises.rm(dir, { recursive: true, force: true });
});

/** The bodies the queues' journal holds for a queue: what a restarted local mode would find. */
async function journalled(name = "q"): Promise<string[]> {
  return ((await readQueueJournal(dir)).get(name) ?? []).map((entry) => entry.body);
}

/** The files in a folder next to the journal (dead letters, redriven ones, an earlier version's journal). */
function files(name: string): string[] {
  return fs.existsSync(path.join(dir, name)) ? fs.readdirSync(path.join(dir, name)) : [];
}

describe("LocalQueue", () => {
  it("hands messages over in batches of at most batchSize, in order, and forgets them once handled", async () => {
    // Prepare
    const queue = new LocalQueue({ name: "q", dir: path.join(dir, "q"), batchSize: 3 });
    for (let i = 0; i < 7; i++) await queue.enqueue(`m${i}`);
    expect(await journalled()).toHaveLength(7);
    const batches: string[][] = [];

    // Act
    queue.start(async (messages) => {
      batches.push(messages.map((message) => message.body));
      return { failed: [] };
    });
    await queue.idle();

    // Assess
    expect(batches).toEqual([["m0", "m1", "m2"], ["m3", "m4", "m5"], ["m6"]]);
    expect(await journalled()).toEqual([]);
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
    expect(seen).toEqual(
      expect.arrayContaining([
        ["fine", 1],
        ["flaky", 1],
        ["flaky", 2],
      ]),
    );
    expect(seen).toHaveLength(3);
    expect(await journalled()).toEqual([]);
  });

  it("moves a message to the dead-letter folder after maxReceiveCount failures, whole batch when the consumer throws", async () => {
    // Prepare
    const deadLetters: Array<[string, OutcomeError]> = [];
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
    const thrown = { code: "UNEXPECTED", message: "the consumer threw: gmail is down" };
    expect(deadLetters).toEqual([["doomed", thrown]]);
    expect(await journalled()).toEqual([]);
    const [dlqFile] = files("q-dlq");
    const record = JSON.parse(fs.readFileSync(path.join(dir, "q-dlq", dlqFile!), "utf8")) as Record<string, unknown>;
    expect(record).toMatchObject({ queue: "q", body: "doomed", receiveCount: 2, error: thrown });
  });

  it("keeps the error the consumer gave for each failed message, says so before each retry, and dead-letters with the last one", async () => {
    // Prepare
    const retries: Array<[string, string, number]> = [];
    const queue = new LocalQueue({
      name: "q",
      dir: path.join(dir, "q"),
      maxReceiveCount: 3,
      retryDelayMs: () => 1,
      onRetry: (message, error, delayMs) => retries.push([message.body, error.code, delayMs]),
    });
    queue.start(async (messages) => ({
      failed: messages.filter((message) => message.body === "bad").map((message) => message.id),
      errors: new Map(
        messages.map((message) => [message.id, { code: `E${message.receiveCount}`, message: `attempt ${message.receiveCount} failed` }]),
      ),
    }));

    // Act
    await queue.enqueue("good");
    await queue.enqueue("bad");
    await queue.idle();

    // Assess
    expect(retries).toEqual([
      ["bad", "E1", 1],
      ["bad", "E2", 1],
    ]);
    const [record, ...others] = await readDeadLetters(path.join(dir, "q-dlq"));
    expect(others).toEqual([]);
    expect(record).toMatchObject({ queue: "q", body: "bad", receiveCount: 3, error: { code: "E3", message: "attempt 3 failed" } });
  });

  it("recovers what a previous run left in its journal, in enqueue order", async () => {
    // Prepare: a run that accepted messages and died before handling them.
    const crashed = new LocalQueue({ name: "q", dir: path.join(dir, "q") });
    await crashed.enqueue("first");
    await crashed.enqueue("second");
    const restarted = new LocalQueue({ name: "q", dir: path.join(dir, "q") });
    const handled: string[] = [];

    // Act
    const { recovered } = await restarted.recover();
    restarted.start(async (messages) => {
      handled.push(...messages.map((message) => message.body));
      return { failed: [] };
    });
    await restarted.idle();

    // Assess
    expect(recovered).toBe(2);
    expect(handled).toEqual(["first", "second"]);
    expect(await journalled()).toEqual([]);
  });

  it("takes an earlier version's journal files into the journal, removing those a crash cut short instead of passing them off as dead letters", async () => {
    // Prepare: an enqueue that died after creating its file (empty) and one that died mid-write.
    fs.mkdirSync(path.join(dir, "q"));
    fs.writeFileSync(path.join(dir, "q", "0000-empty.json"), "");
    fs.writeFileSync(path.join(dir, "q", "0001-torn.json"), '{"body":"half a mess');
    fs.writeFileSync(path.join(dir, "q", "0002-whole.json"), JSON.stringify({ body: "kept", sentTimestamp: 1 }));
    fs.mkdirSync(path.join(dir, "q-dlq"));
    fs.writeFileSync(path.join(dir, "q-dlq", ".0003-x.json.123.abcd.tmp"), "");
    // What an earlier version set aside for such an entry: an empty "dead letter".
    fs.writeFileSync(path.join(dir, "q-dlq", "0004-empty.json"), "");
    const queue = new LocalQueue({ name: "q", dir: path.join(dir, "q") });

    // Act
    const recovery = await queue.recover();

    // Assess
    expect(recovery).toEqual({ recovered: 1, discarded: 2 });
    expect(await journalled()).toEqual(["kept"]);
    expect(files("q")).toEqual([]);
    expect(files("q-dlq")).toEqual([]);
    expect(await deadLetterCount(path.join(dir, "q"))).toBe(0);
  });

  it("sets a whole journal entry that is not a queue message aside as a dead letter", async () => {
    // Prepare
    fs.mkdirSync(path.join(dir, "q"));
    fs.writeFileSync(path.join(dir, "q", "0000-foreign.json"), JSON.stringify({ hello: "world" }));
    const queue = new LocalQueue({ name: "q", dir: path.join(dir, "q") });

    // Act
    const recovery = await queue.recover();

    // Assess
    expect(recovery).toEqual({ recovered: 0, discarded: 0 });
    expect(await journalled()).toEqual([]);
    const [record] = await readDeadLetters(path.join(dir, "q-dlq"));
    expect(record).toMatchObject({ id: "0000-foreign", error: { code: "INVALID_JOURNAL_ENTRY" } });
  });

  it("takes redriven dead letters back, at start and while it runs", async () => {
    // Prepare: two dead letters left by an earlier run.
    const first = new LocalQueue({ name: "q", dir: path.join(dir, "q"), maxReceiveCount: 1 });
    first.start(async (messages) => ({ failed: messages.map((message) => message.id) }));
    await first.enqueue("one");
    await first.enqueue("two");
    await first.idle();
    await first.stop();
    const letters = await readDeadLetters(path.join(dir, "q-dlq"));
    expect(letters.map((letter) => letter.body)).toEqual(["one", "two"]);
    const handled: string[] = [];
    const queue = new LocalQueue({ name: "q", dir: path.join(dir, "q") });
    const done = (count: number) =>
      new Promise<void>((resolve) => {
        queue.start(async (messages) => {
          handled.push(...messages.map((message) => message.body));
          if (handled.length >= count) resolve();
          return { failed: [] };
        });
      });

    // Act: one is handed back before the start, the other while the queue runs.
    expect(await redriveDeadLetters(path.join(dir, "q"), [letters[0]!.id])).toEqual([letters[0]!.id]);
    const recovery = await queue.recover();
    const both = done(2);
    expect(await redriveDeadLetters(path.join(dir, "q"), [letters[1]!.id, "no-such-letter"])).toEqual([letters[1]!.id]);
    await both;
    await queue.idle();
    await queue.stop();

    // Assess
    expect(recovery.recovered).toBe(1);
    expect(handled).toEqual(["one", "two"]);
    expect(await journalled()).toEqual([]);
    expect(files("q-dlq")).toEqual([]);
    expect(files("q-redrive")).toEqual([]);
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
    expect(await journalled()).toEqual(["b"]);
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

describe("QueueJournal", () => {
  it("keeps every queue of a folder in one file, and gives each its messages back after a restart, in order", async () => {
    // Prepare
    const journal = new QueueJournal(dir);
    const entry = (id: string, body: string) => ({ id, body, sentTimestamp: 1, visibleAt: 0 });
    await journal.add("input", entry("1", "first"));
    await journal.add("gmail-forwarder", entry("2", "routed"));
    await journal.add("input", entry("3", "second"));
    await journal.remove("input", "1");
    await journal.release();

    // Act: a new process opens the same folder.
    const reopened = new QueueJournal(dir);
    const input = await reopened.entries("input");
    const forwarder = await reopened.entries("gmail-forwarder");
    await reopened.release();

    // Assess
    expect(fs.readdirSync(dir)).toEqual(["journal.jsonl"]);
    expect(input.map((message) => message.body)).toEqual(["second"]);
    expect(forwarder.map((message) => message.body)).toEqual(["routed"]);
    expect(await journalled("input")).toEqual(["second"]);
  });

  it("keeps a raw message's bytes that came with an enqueue after the entry is removed, across a restart and a compaction, until told its file is done", async () => {
    // Prepare: a journal that compacts once it passes 2 KB, and enough traffic to make it.
    const journal = new QueueJournal(dir, { compactMinBytes: 2048 });
    const bytes = Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x41]);
    await journal.add(
      "input",
      { id: "1", body: "notification", sentTimestamp: 1, visibleAt: 0 },
      { rawMessage: { key: "emails/m1", bytes } },
    );
    await journal.add("input", { id: "2", body: "other", sentTimestamp: 1, visibleAt: 0 }, { rawMessage: { key: "emails/m2", bytes } });
    await journal.remove("input", "1");
    await journal.rawMessageDone("emails/m2");
    for (let i = 0; i < 50; i++) {
      await journal.add("gmail-forwarder", { id: `f${i}`, body: "x".repeat(100), sentTimestamp: 1, visibleAt: 0 });
      await journal.remove("gmail-forwarder", `f${i}`);
    }
    await journal.release();

    // Act
    const reopened = new QueueJournal(dir);
    const afterRestart = await reopened.pendingRawMessages();
    await reopened.release();

    // Assess
    expect(fs.statSync(path.join(dir, "journal.jsonl")).size).toBeLessThan(2048);
    expect(afterRestart.map((raw) => [raw.key, raw.bytes])).toEqual([["emails/m1", bytes]]);
    expect(await journalled("input")).toEqual(["other"]);
  });

  it("moves a message to other queues in one record, or, when a crash cut that record short, leaves it where it was", async () => {
    // Prepare: a notification in the input queue, handed on to the forwarder and the bouncer.
    const input = new LocalQueue({ name: "input", dir: path.join(dir, "input") });
    const forwarder = new LocalQueue({ name: "forwarder", dir: path.join(dir, "forwarder") });
    const bouncer = new LocalQueue({ name: "bouncer", dir: path.join(dir, "bouncer") });
    await input.send("notification");
    let moving!: QueueMessage;
    const handed = new Promise<void>((resolve) =>
      input.start(async ([message]) => {
        moving = message!;
        await input.moveTo(message!, [
          { queue: forwarder, body: "decision" },
          { queue: bouncer, body: "decision" },
        ]);
        resolve();
        return { failed: [] };
      }),
    );
    await handed;
    await input.idle();
    const whole = fs.readFileSync(path.join(dir, "journal.jsonl"), "utf8");

    // Act: what a restart finds, with the move whole, and with the move cut short by the crash.
    const afterMove = await readQueueJournal(dir);
    fs.writeFileSync(path.join(dir, "journal.jsonl"), whole.slice(0, whole.lastIndexOf('{"kind":"move"') + 30));
    const afterTornMove = await readQueueJournal(dir);

    // Assess
    expect(forwarder.depth).toBe(1);
    expect(bouncer.depth).toBe(1);
    expect([...afterMove].map(([queue, entries]) => [queue, entries.map((entry) => entry.body)])).toEqual([
      ["input", []],
      ["forwarder", ["decision"]],
      ["bouncer", ["decision"]],
    ]);
    expect(afterTornMove.get("input")?.map((entry) => entry.id)).toEqual([moving.id]);
    expect(afterTornMove.get("forwarder") ?? []).toEqual([]);
  });

  it("skips a record a crash cut short, and counts it once", async () => {
    // Prepare: the last enqueue was cut short by the crash (its 250 was never sent).
    fs.writeFileSync(
      path.join(dir, "journal.jsonl"),
      '{"kind":"enqueue","queue":"input","id":"1","body":"whole","sentTimestamp":1}\n{"kind":"enqueue","queue":"input","id":"2","bo',
    );
    const queue = new LocalQueue({ name: "input", dir: path.join(dir, "input") });

    // Act
    const recovery = await queue.recover();
    await queue.stop();

    // Assess
    expect(recovery).toEqual({ recovered: 1, discarded: 1 });
    expect(await journalled("input")).toEqual(["whole"]);
  });
});
