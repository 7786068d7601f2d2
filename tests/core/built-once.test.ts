import { z } from "zod";
import { builtOnce } from "../../core/built-once";

describe("builtOnce", () => {
  it("builds a value on the first call with a key and returns the same value after", () => {
    // Prepare
    const build = jest.fn(() => ({ built: true }));

    // Act
    const first = builtOnce("test:value", build);
    const second = builtOnce("test:value", build);

    // Assess
    expect(second).toBe(first);
    expect(build).toHaveBeenCalledTimes(1);
    expect(builtOnce("test:other", () => "another")).toBe("another");
  });

  it("keeps what it built out of a Pulumi-serialized closure, which still runs", async () => {
    // Prepare: a schema built and used in this process, as the deploying process may have
    const schema = () => builtOnce("test:schema", () => z.object({ address: z.string() }));
    expect(schema().parse({ address: "a@example.com" })).toEqual({ address: "a@example.com" });
    const factory = () => (value: unknown) => schema().safeParse(value).success;

    // Act
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- large, and only this test needs it
    const pulumi = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
    const { text } = await pulumi.runtime.serializeFunction(factory, { isFactoryFunction: true });
    const module = { exports: {} as { handler?: (value: unknown) => boolean } };
    new Function("module", "exports", "require", text)(module, module.exports, require);

    // Assess: the code names zod by require and carries no built schema
    expect(text).toContain('require("zod")');
    expect(text).not.toMatch(/_zod|ZodObject/);
    expect(module.exports.handler!({ address: "b@example.com" })).toBe(true);
    expect(module.exports.handler!({ address: 1 })).toBe(false);
  });
});
