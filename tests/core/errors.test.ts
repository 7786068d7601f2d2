import { DecisionTooLargeError } from "../../core/decision";
import { InvalidDeliveryEventError, MailboxRejectedError, SesMailError } from "../../core/errors";
import { invokeArchive, serializeFactory } from "../helpers/lambda-archive";

/** What a handler and the Powertools logger rely on: message, cause, stack, and the class chain. */
function describeErrors() {
  const withCause = new InvalidDeliveryEventError("bad record", { cause: "the cause" });
  const rejected = new MailboxRejectedError("a@gmail.com", 400, "Invalid label");
  return {
    message: withCause.message,
    cause: withCause.cause,
    stackNamesTheError: typeof withCause.stack === "string" && withCause.stack.startsWith("InvalidDeliveryEventError: bad record"),
    chain: [withCause instanceof InvalidDeliveryEventError, withCause instanceof SesMailError, withCause instanceof Error],
    rejected: { text: String(rejected), status: rejected.status, code: rejected.code, isSesMailError: rejected instanceof SesMailError },
    decision: new DecisionTooLargeError("m1", 70000) instanceof SesMailError,
  };
}

describe("SesMailError after Pulumi serializes the code that throws it", () => {
  it("keeps its message, cause, stack and class chain, exactly as unserialized", async () => {
    // Prepare
    const expected = describeErrors();
    const { dir } = await serializeFactory("errors", () => async () => describeErrors());

    // Act
    const outcome = await invokeArchive(dir, {}, {});

    // Assess
    expect(expected).toMatchObject({
      message: "bad record",
      cause: "the cause",
      stackNamesTheError: true,
      chain: [true, true, true],
      decision: true,
    });
    expect(outcome).toMatchObject({ ok: true, result: expected });
  });
});
