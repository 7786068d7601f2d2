import { describeGoogleError, gmailError, googleErrorFromText, tokenEndpointError } from "../../../adapters/gmail/google-errors";
import { createOAuthClient } from "../../../adapters/gmail/oauth";
import { MailboxAuthorizationError, MailboxRejectedError, MailboxUnavailableError } from "../../../core/errors";
import { FAKE_CLIENT, startFakeGoogle, type FakeGoogle } from "../../helpers/fake-google";

describe("Google's two error shapes", () => {
  it("reads a token endpoint error", () => {
    expect(googleErrorFromText(400, JSON.stringify({ error: "invalid_grant", error_description: "Bad Request" }))).toEqual({
      status: 400,
      message: "invalid_grant: Bad Request",
      reasons: [],
      oauthError: "invalid_grant",
      oauthDescription: "Bad Request",
    });
  });

  it("reads an API error with its reasons and a Retry-After date", () => {
    const body = JSON.stringify({
      error: { code: 403, message: "Rate Limit Exceeded", status: "PERMISSION_DENIED", errors: [{ reason: "rateLimitExceeded" }] },
    });
    expect(googleErrorFromText(403, body, "Wed, 21 Oct 2026 07:28:00 GMT", Date.parse("2026-10-21T07:27:00Z"))).toEqual({
      status: 403,
      message: "PERMISSION_DENIED: Rate Limit Exceeded",
      reasons: ["rateLimitExceeded"],
      retryAfterSeconds: 60,
    });
  });

  it("keeps the start of a body that is not Google's JSON", () => {
    expect(googleErrorFromText(502, "<html>Bad Gateway</html>")).toEqual({ status: 502, message: "<html>Bad Gateway</html>", reasons: [] });
  });
});

describe("errors raised by google-auth-library, classified for the forwarder", () => {
  let google: FakeGoogle;
  beforeAll(async () => {
    google = await startFakeGoogle();
  });
  afterAll(() => google.close());

  async function refreshFailure(refreshToken: string) {
    const client = createOAuthClient({
      client: { clientId: FAKE_CLIENT.client_id, clientSecret: FAKE_CLIENT.client_secret },
      tokenUrl: google.tokenUrl,
    });
    client.setCredentials({ refresh_token: refreshToken });
    return client.getAccessToken().then(
      () => {
        throw new Error("expected the refresh to fail");
      },
      (error: unknown) => error,
    );
  }

  it("reads a GaxiosError's status and OAuth error, and parks on invalid_grant", async () => {
    const error = await refreshFailure("1//never-issued");
    const info = describeGoogleError(error);
    expect(info).toMatchObject({ status: 400, oauthError: "invalid_grant", oauthDescription: "Token has been expired or revoked." });
    expect(tokenEndpointError("a@gmail.com", info)).toBeInstanceOf(MailboxAuthorizationError);
  });

  it("reads Retry-After from the response headers of a throttled refresh", async () => {
    google.addAccount("a@gmail.com", "1//a");
    google.failNext("token", { status: 429, body: { error: "rate_limit_exceeded" }, headers: { "retry-after": "7" } }, 4);
    const info = describeGoogleError(await refreshFailure("1//a"));
    expect(info).toMatchObject({ status: 429, retryAfterSeconds: 7 });
    expect(tokenEndpointError("a@gmail.com", info)).toEqual(
      expect.objectContaining({ name: "MailboxUnavailableError", retryAfterSeconds: 7 }),
    );
  });
});

describe("Gmail's answers, classified", () => {
  const api = (status: number, reason = "backendError") =>
    googleErrorFromText(status, JSON.stringify({ error: { code: status, message: "m", errors: [{ reason }] } }));

  it.each([
    ["429", api(429), MailboxUnavailableError],
    ["500", api(500), MailboxUnavailableError],
    ["no answer", { message: "fetch failed", reasons: [] }, MailboxUnavailableError],
    ["403 userRateLimitExceeded", api(403, "userRateLimitExceeded"), MailboxUnavailableError],
    ["403 insufficientPermissions", api(403, "insufficientPermissions"), MailboxAuthorizationError],
    ["401", api(401, "authError"), MailboxAuthorizationError],
    [
      "a refresh refused while retrying a 401 (invalid_grant)",
      googleErrorFromText(400, JSON.stringify({ error: "invalid_grant" })),
      MailboxAuthorizationError,
    ],
    ["400 invalidArgument", api(400, "invalidArgument"), MailboxRejectedError],
    ["404", api(404, "notFound"), MailboxRejectedError],
  ])("%s", (_name, info, kind) => {
    expect(gmailError("a@gmail.com", info, "starting the upload")).toBeInstanceOf(kind);
  });
});
