import fc from "fast-check";
import type { DecisionDetail } from "../../core/decision";
import { BOUNCE_PART, forwardPart, rawMessageConsumers } from "../../core/delivery";
import type { Outcome } from "../../core/outcomes";
import type { MessageLocation, MessageProgress, MessageRecordEntry, MessageStore, StoredMessage } from "../../core/ports";
import { releaseRawMessage, type RecordedWork } from "../../handlers/raw-message";
import { decisionDetail } from "../helpers/factories";

class MemoryProgress implements MessageProgress {
  readonly done = new Map<string, Set<string>>();
  readonly entries: MessageRecordEntry[] = [];
  async complete(messageId: string, parts: readonly string[]) {
    return this.record(messageId, { outcomes: [], partsDone: parts });
  }
  async record(messageId: string, entry: MessageRecordEntry) {
    this.entries.push(entry);
    const set = this.done.get(messageId) ?? new Set<string>();
    for (const part of entry.partsDone ?? []) set.add(part);
    this.done.set(messageId, set);
    return [...set];
  }
}

function work(outcomes: Outcome[] = []): RecordedWork & { reported: Outcome[] } {
  const reported: Outcome[] = [];
  return { outcomes, reported, report: (outcome) => reported.push(outcome), now: () => new Date("2026-11-28T10:05:00.000Z") };
}

class CountingStore implements MessageStore {
  deletes = 0;
  async open(_location: MessageLocation): Promise<StoredMessage> {
    throw new Error("not used");
  }
  async delete(_location: MessageLocation) {
    this.deletes++;
  }
}

function decisionWith(accounts: string[], bounce: boolean, store: boolean): DecisionDetail {
  return decisionDetail({
    "forward-to-gmail": accounts.map((account, i) => ({ recipient: `r${i}@example.com`, target: account, match: "exact" as const })),
    bounce: bounce ? [{ recipient: "nobody@example.com", match: "default" as const }] : [],
    store: store ? [{ recipient: "r0@example.com", match: "exact" as const }] : [],
  });
}

describe("who deletes the raw message", () => {
  it("deletes it exactly when the last consumer finishes, whatever the order, repeats included; never with store", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.constantFrom("a@gmail.com", "b@gmail.com", "c@gmail.com"), { minLength: 0, maxLength: 3 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.nat(), { minLength: 1, maxLength: 12 }),
        async (accounts, bounce, store, picks) => {
          fc.pre(accounts.length > 0 || bounce);
          // Prepare
          const detail = decisionWith(accounts, bounce, store);
          const consumers = rawMessageConsumers(detail);
          const progress = new MemoryProgress();
          const messages = new CountingStore();
          const finished = new Set<string>();
          // Act: consumers finish in the order `picks` says, some of them twice (redeliveries)
          for (const pick of [...picks, ...consumers.map((_, i) => i)]) {
            const part = consumers[pick % consumers.length]!;
            const outcome = await releaseRawMessage(detail, [part], { progress, messages }, work());
            finished.add(part);
            const allDone = consumers.every((c) => finished.has(c));
            // Assess: deleted only once everything is done, and never when it must be kept
            if (store) expect(outcome.state).toBe("kept");
            else expect(outcome.state).toBe(allDone ? "deleted" : "pending");
          }
          expect(messages.deletes > 0).toBe(!store);
        },
      ),
    );
  });

  it("records the record's outcomes with the decision in one write, then the deletion in a second", async () => {
    const progress = new MemoryProgress();
    const messages = new CountingStore();
    const detail = decisionWith(["a@gmail.com"], false, false);
    const imported: Outcome = {
      kind: "imported",
      messageId: detail.originalMessageId,
      at: "2026-11-28T10:04:00.000Z",
      account: "a@gmail.com",
      mailboxId: "g1",
      labels: ["INBOX"],
      bytes: 10,
      recipients: ["r0@example.com"],
      origin: "event",
    };
    const recorded = work([imported]);

    expect(await releaseRawMessage(detail, [forwardPart("a@gmail.com")], { progress, messages }, recorded)).toEqual({ state: "deleted" });

    const deleted = {
      kind: "raw-message-deleted",
      messageId: detail.originalMessageId,
      at: "2026-11-28T10:05:00.000Z",
      location: detail.s3,
    };
    expect(progress.entries).toEqual([
      { decision: detail, outcomes: [imported], partsDone: ["forward:a@gmail.com"] },
      { outcomes: [deleted] },
    ]);
    expect(recorded.reported).toEqual([deleted]);
    expect(messages.deletes).toBe(1);
  });

  it("records the outcomes of a record that finished nothing (a parked delivery), and deletes nothing", async () => {
    const progress = new MemoryProgress();
    const messages = new CountingStore();
    const detail = decisionWith(["a@gmail.com"], false, false);
    const parked: Outcome = {
      kind: "parked",
      messageId: detail.originalMessageId,
      at: "2026-11-28T10:04:00.000Z",
      account: "a@gmail.com",
      reason: { code: "MAILBOX_AUTHORIZATION", message: "invalid_grant" },
      attempt: 1,
      parkedSince: "2026-11-28T10:04:00.000Z",
    };
    expect(await releaseRawMessage(detail, [], { progress, messages }, work([parked]))).toEqual({
      state: "pending",
      waitingFor: ["forward:a@gmail.com"],
    });
    expect(progress.entries).toEqual([{ decision: detail, outcomes: [parked], partsDone: [] }]);
    expect(messages.deletes).toBe(0);
  });

  it("says what it still waits for", async () => {
    const detail = decisionWith(["a@gmail.com"], true, false);
    const outcome = await releaseRawMessage(
      detail,
      [BOUNCE_PART],
      { progress: new MemoryProgress(), messages: new CountingStore() },
      work(),
    );
    expect(outcome).toEqual({ state: "pending", waitingFor: ["forward:a@gmail.com"] });
  });
});
