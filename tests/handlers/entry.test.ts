/**
 * The one Lambda entry every handler's factory goes through: the environment is parsed into typed settings
 * or refused naming every wrong variable, and each invocation carries the Lambda context into the logs and
 * writes its metrics, also when it fails.
 */
import type { Context } from "aws-lambda";
import { z } from "zod";
import { ErrorCode, InvalidEnvironmentError } from "../../core/errors";
import { lambdaEntry, parseEnvironment } from "../../handlers/entry";
import type { Observability } from "../../handlers/observability";

function schema() {
  return z
    .object({ TABLE: z.string().min(1), LIMIT: z.coerce.number().int().positive().default(10) })
    .transform((data) => ({ table: data.TABLE, limit: data.LIMIT }));
}

const CONTEXT = {
  functionName: "ses-mail-test-function",
  awsRequestId: "request-1",
  invokedFunctionArn: "arn:aws:lambda:eu-west-2:123456789012:function:ses-mail-test-function",
  memoryLimitInMB: "128",
  functionVersion: "$LATEST",
  getRemainingTimeInMillis: () => 1000,
} as unknown as Context; // only the fields Powertools reads; the rest of Context is callbacks Lambda no longer uses

describe("parseEnvironment", () => {
  it("returns the typed settings of a valid environment", () => {
    // Act
    const settings = parseEnvironment("test function", schema(), { TABLE: "routing", LIMIT: "5", UNRELATED: "x" });

    // Assess
    expect(settings).toEqual({ table: "routing", limit: 5 });
  });

  it("refuses a wrong environment with one error naming the function and every wrong variable", () => {
    // Act
    let caught: unknown;
    try {
      parseEnvironment("test function", schema(), { LIMIT: "-1" });
    } catch (error) {
      caught = error;
    }

    // Assess
    expect(caught).toBeInstanceOf(InvalidEnvironmentError);
    expect(caught).toMatchObject({
      code: ErrorCode.InvalidConfig,
      message: expect.stringMatching(/^test function environment: TABLE .+; LIMIT .+$/),
    });
  });
});

describe("lambdaEntry", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  /** An entry whose handler fails when the event asks it to; records what the handler saw. */
  function entry() {
    const seen: { observability?: Observability; settings?: { table: string; limit: number }; published: number; contexts: unknown[] } = {
      published: 0,
      contexts: [],
    };
    const handler = lambdaEntry({
      service: "entry-test",
      readEnvironment: (env) => parseEnvironment("entry test", schema(), env),
      build: (settings, observability) => {
        seen.settings = settings;
        seen.observability = observability;
        jest.spyOn(observability.metrics, "publishStoredMetrics").mockImplementation(() => {
          seen.published += 1;
        });
        jest.spyOn(observability.logger, "addContext").mockImplementation((context) => {
          seen.contexts.push(context);
        });
        return async (event: { fail?: boolean }) => {
          observability.metrics.addMetric("Handled", "Count", 1);
          if (event.fail) throw new Error("the handler failed");
          return settings.table;
        };
      },
    });
    return { handler, seen };
  }

  it("builds the handler once from the environment and publishes metrics after every invocation, failed ones included", async () => {
    // Prepare
    process.env.TABLE = "ses-mail-email-routing-test";
    const { handler, seen } = entry();

    // Act
    const first = await handler({}, CONTEXT);
    const failed = await handler({ fail: true }, CONTEXT).catch((error: unknown) => error);

    // Assess
    expect(seen.settings).toEqual({ table: "ses-mail-email-routing-test", limit: 10 });
    expect(first).toBe("ses-mail-email-routing-test");
    expect(failed).toEqual(new Error("the handler failed"));
    expect(seen.published).toBe(2);
    expect(seen.contexts).toEqual([CONTEXT, CONTEXT]);
  });

  it("runs without a Lambda context (tests, local mode)", async () => {
    // Prepare
    process.env.TABLE = "t";
    const { handler, seen } = entry();

    // Act / Assess
    await expect(handler({})).resolves.toBe("t");
    expect(seen.contexts).toEqual([]);
    expect(seen.published).toBe(1);
  });

  it("fails at cold start when the environment is wrong", () => {
    // Prepare
    delete process.env.TABLE;

    // Act / Assess
    expect(() => entry()).toThrow(/^entry test environment: TABLE /);
  });
});
