/**
 * The SES sender against a local endpoint speaking SES's query protocol: throttling (SES's `Throttling`,
 * its sending rate or daily quota) is retried by the client the adapter builds, and a send still
 * throttled after every attempt is a retryable BounceSendError; a refused message is neither.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { isSesThrottling, SES_SEND_MAX_ATTEMPTS, SesRawMailSender } from "../../../adapters/aws/ses-sender";
import { BounceSendError, ErrorCode } from "../../../core/errors";

type Answer = "ok" | "throttle" | "reject";

/** SES on localhost: answers each SendRawEmail with the next scripted answer (the last one repeats). */
async function fakeSes(script: readonly Answer[]): Promise<{ endpoint: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const error = (code: string, message: string) =>
    `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r-${requests}</RequestId></ErrorResponse>`;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const answer = script[Math.min(requests, script.length - 1)]!;
      requests += 1;
      if (answer === "ok") {
        res.writeHead(200, { "content-type": "text/xml" });
        res.end(
          `<SendRawEmailResponse><SendRawEmailResult><MessageId>0102-sent-${requests}</MessageId></SendRawEmailResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></SendRawEmailResponse>`,
        );
      } else {
        res.writeHead(400, { "content-type": "text/xml" });
        res.end(
          answer === "throttle"
            ? error("Throttling", "Maximum sending rate exceeded.")
            : error("MessageRejected", "Email address is not verified."),
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const report = {
  from: "MAILER-DAEMON@example.com",
  to: ["sender@elsewhere.example"],
  raw: Buffer.from("From: MAILER-DAEMON@example.com\r\n\r\nreport\r\n"),
};

/**
 * Runs `send` with the SDK's own backoff between attempts in virtual time: the waits (seconds, growing
 * per attempt) pass at once while every HTTP round trip to the local SES is real.
 */
async function withVirtualBackoff<T>(send: () => Promise<T>): Promise<T> {
  jest.useFakeTimers({ doNotFake: ["nextTick", "setImmediate", "queueMicrotask"] });
  try {
    let settled: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    send().then(
      (value) => (settled = { ok: true, value }),
      (error: unknown) => (settled = { ok: false, error }),
    );
    while (!settled) {
      await jest.advanceTimersByTimeAsync(50);
      // Let the sockets' I/O run between steps of virtual time.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const outcome: { ok: true; value: T } | { ok: false; error: unknown } = settled;
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  } finally {
    jest.useRealTimers();
  }
}

describe("SES sender", () => {
  let ses: Awaited<ReturnType<typeof fakeSes>> | undefined;
  const previous = process.env.AWS_ENDPOINT_URL_SES;

  async function senderFor(script: readonly Answer[]): Promise<SesRawMailSender> {
    ses = await fakeSes(script);
    // The adapter builds its own client (with its retry settings); the endpoint comes from the environment.
    process.env.AWS_ENDPOINT_URL_SES = ses.endpoint;
    return new SesRawMailSender();
  }

  afterEach(async () => {
    await ses?.close();
    ses = undefined;
    if (previous === undefined) delete process.env.AWS_ENDPOINT_URL_SES;
    else process.env.AWS_ENDPOINT_URL_SES = previous;
  });

  it("retries a throttled send until SES takes it", async () => {
    const sender = await senderFor(["throttle", "throttle", "ok"]);
    expect(await withVirtualBackoff(() => sender.sendRawMessage(report))).toEqual({ messageId: "0102-sent-3" });
    expect(ses!.requests()).toBe(3);
  });

  it("a send still throttled after every attempt is a retryable failure", async () => {
    const sender = await senderFor(["throttle"]);
    const failure = await withVirtualBackoff(() => sender.sendRawMessage(report)).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(BounceSendError);
    expect(failure).toMatchObject({
      retryable: true,
      code: ErrorCode.BounceSendThrottled,
      message: expect.stringMatching(/Throttling: Maximum sending rate exceeded/),
    });
    expect(ses!.requests()).toBe(SES_SEND_MAX_ATTEMPTS);
  });

  it("a refused message is not retried and not retryable", async () => {
    const sender = await senderFor(["reject", "ok"]);
    const failure = await sender.sendRawMessage(report).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({
      retryable: false,
      code: ErrorCode.BounceSendFailed,
      message: expect.stringMatching(/MessageRejected/),
    });
    expect(ses!.requests()).toBe(1);
  });

  it("classifies SES's throttling by name, and the SDK's throttling flag", () => {
    expect(isSesThrottling(Object.assign(new Error("Daily message quota exceeded."), { name: "Throttling" }))).toBe(true);
    expect(isSesThrottling(Object.assign(new Error("slow down"), { name: "Other", $retryable: { throttling: true } }))).toBe(true);
    expect(isSesThrottling(Object.assign(new Error("no"), { name: "MessageRejected" }))).toBe(false);
    expect(isSesThrottling("Throttling")).toBe(false);
  });
});
