import { resolveRulesTarget } from "../../cli/target";
import type { CommandContext } from "../../cli/framework";

function context(values: Record<string, string | boolean>, env: NodeJS.ProcessEnv = {}): CommandContext {
  return { positionals: [], values, tokens: [], env, out: { line: () => undefined, note: () => undefined, json: () => undefined } };
}

describe("where the rules are", () => {
  it("--stack finds the deployed table by the stack's naming, in the stack's region, with its settings", async () => {
    const target = resolveRulesTarget(context({ stack: "prod" }));
    expect(target.description).toBe("table ses-mail-email-routing-prod (eu-west-2)");
    expect(target.store.tableName).toBe("ses-mail-email-routing-prod");
    expect(await target.store.client.config.region()).toBe("eu-west-2");
    expect(target.settings.defaultAction).toBe("bounce");
  });

  it("--table names a table directly, in the environment's region", async () => {
    const target = resolveRulesTarget(context({ table: "my-rules" }, { AWS_REGION: "us-east-1" }));
    expect(target.store.tableName).toBe("my-rules");
    expect(await target.store.client.config.region()).toBe("us-east-1");
  });

  it("--local (or AWS_ENDPOINT_URL_DYNAMODB alone) is local mode's table, with the test stack's settings", () => {
    expect(resolveRulesTarget(context({ local: true })).description).toBe(
      "local table ses-mail-email-routing-local at http://127.0.0.1:8000",
    );
    expect(resolveRulesTarget(context({}, { AWS_ENDPOINT_URL_DYNAMODB: "http://127.0.0.1:9000" })).description).toBe(
      "local table ses-mail-email-routing-local at http://127.0.0.1:9000",
    );
  });

  it("refuses ambiguous or missing targets, and unknown stacks", () => {
    expect(() => resolveRulesTarget(context({ stack: "prod", local: true }))).toThrow(/only one of/);
    expect(() => resolveRulesTarget(context({}))).toThrow(/say where the rules are/);
    expect(() => resolveRulesTarget(context({ stack: "staging" }))).toThrow(/no Pulumi.staging.yaml/);
  });
});
