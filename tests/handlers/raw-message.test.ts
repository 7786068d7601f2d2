import fc from "fast-check";
import type { DecisionDetail } from "../../core/decision";
import { BOUNCE_PART, forwardPart, rawMessageConsumers } from "../../core/delivery";
import type { MessageLocation, MessageProgress, MessageStore, StoredMessage } from "../../core/ports";
import { releaseRawMessage } from "../../handlers/raw-message";
import { decisionDetail } from "../helpers/factories";

class MemoryProgress implements MessageProgress {
  readonly done = new Map<string, Set<string>>();
  writes = 0;
  async complete(messageId: string, parts: readonly string[]) {
    this.writes++;
    const set = this.done.get(messageId) ?? new Set<string>();
    for (const part of parts) set.add(part);
    this.done.set(messageId, set);
    return [...set];
  }
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
            const outcome = await releaseRawMessage(detail, [part], { progress, messages });
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

  it("does not touch the table when one invocation finished every consumer itself", async () => {
    const progress = new MemoryProgress();
    const messages = new CountingStore();
    const detail = decisionWith(["a@gmail.com"], false, false);
    expect(await releaseRawMessage(detail, [forwardPart("a@gmail.com")], { progress, messages })).toEqual({ state: "deleted" });
    expect(progress.writes).toBe(0);
  });

  it("says what it still waits for", async () => {
    const detail = decisionWith(["a@gmail.com"], true, false);
    const outcome = await releaseRawMessage(detail, [BOUNCE_PART], { progress: new MemoryProgress(), messages: new CountingStore() });
    expect(outcome).toEqual({ state: "pending", waitingFor: ["forward:a@gmail.com"] });
  });
});
