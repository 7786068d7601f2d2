import { CachedRuleReader } from "../../../adapters/local/cached-rules";
import type { StoredItem } from "../../../core/ports";

const rule = (pattern: string, target: string): StoredItem => ({ PK: `ROUTE#${pattern}`, SK: "RULE#v1", target });

/** A table whose rules and write generation a test changes, counting the loads. */
function table(initial: StoredItem[]) {
  const state = { rules: initial, generation: 0, loads: 0, failNext: false };
  const reader = new CachedRuleReader({
    load: async () => {
      state.loads++;
      await new Promise((resolve) => setImmediate(resolve));
      if (state.failNext) {
        state.failNext = false;
        throw new Error("dynalite is restarting");
      }
      return [...state.rules];
    },
    generation: () => state.generation,
  });
  return { state, reader };
}

describe("CachedRuleReader", () => {
  it("answers with the items of the asked patterns that exist, and loads the rules once while nothing is written", async () => {
    // Prepare
    const { state, reader } = table([rule("a@x.example", "one"), rule("*@x.example", "all")]);

    // Act
    const first = await reader.getRuleItems(["a@x.example", "b@x.example", "*@x.example"]);
    const second = await reader.getRuleItems(["b@x.example"]);

    // Assess
    expect([...first.keys()]).toEqual(["a@x.example", "*@x.example"]);
    expect(first.get("a@x.example")).toMatchObject({ target: "one" });
    expect(second.size).toBe(0);
    expect(state.loads).toBe(1);
  });

  it("loads again after a write, so a rule added while it runs routes the next message", async () => {
    // Prepare
    const { state, reader } = table([rule("*@x.example", "all")]);
    await reader.getRuleItems(["new@x.example"]);

    // Act: the CLI writes a rule (dynalite bumps the generation around the write).
    state.rules = [...state.rules, rule("new@x.example", "mine")];
    state.generation += 2;
    const after = await reader.getRuleItems(["new@x.example"]);

    // Assess
    expect(after.get("new@x.example")).toMatchObject({ target: "mine" });
    expect(state.loads).toBe(2);
  });

  it("shares one load among concurrent callers, and tries again after a load that failed", async () => {
    // Prepare
    const { state, reader } = table([rule("a@x.example", "one")]);
    state.failNext = true;

    // Act
    const concurrent = await Promise.allSettled([reader.getRuleItems(["a@x.example"]), reader.getRuleItems(["a@x.example"])]);
    const retried = await reader.getRuleItems(["a@x.example"]);

    // Assess
    expect(concurrent.map((result) => result.status)).toEqual(["rejected", "rejected"]);
    expect(retried.get("a@x.example")).toMatchObject({ target: "one" });
    expect(state.loads).toBe(2);
  });
});
