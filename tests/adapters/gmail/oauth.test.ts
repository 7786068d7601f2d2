import { GoogleOAuthTokens } from "../../../adapters/gmail/oauth";
import { googleErrorFromText } from "../../../adapters/gmail/google-http";
import { MailboxAuthorizationError, MailboxUnavailableError } from "../../../core/errors";
import { oauthClientParameter, refreshTokenParameter } from "../../../core/parameters";
import { MemorySecrets } from "../../helpers/delivery";
import { FAKE_CLIENT, startFakeGoogle, type FakeGoogle } from "../../helpers/fake-google";

describe("Google OAuth access tokens from SSM refresh tokens", () => {
  let google: FakeGoogle;
  let secrets: MemorySecrets;
  let now: number;

  beforeAll(async () => {
    google = await startFakeGoogle();
    google.addAccount("me@gmail.com", "1//me");
  });
  afterAll(async () => {
    await google.close();
  });
  beforeEach(() => {
    secrets = new MemorySecrets();
    secrets.values.set(oauthClientParameter("test"), JSON.stringify({ web: FAKE_CLIENT }));
    secrets.values.set(refreshTokenParameter("test", "me@gmail.com"), JSON.stringify({ refresh_token: "1//me", expires_at: "2026-12-05T00:00:00Z" }));
    now = Date.parse("2026-11-28T10:00:00Z");
  });

  function tokens() {
    return new GoogleOAuthTokens({ secrets, environment: "test", tokenUrl: google.tokenUrl, now: () => now });
  }

  it("shares one exchange among concurrent requests and caches the token until 5 minutes before it expires", async () => {
    const provider = tokens();
    const before = google.requests.token;

    const [a, b, c] = await Promise.all([provider.accessToken("me@gmail.com"), provider.accessToken("me@gmail.com"), provider.accessToken("me@gmail.com")]);
    now += 3599_000 - 301_000;
    const stillCached = await provider.accessToken("me@gmail.com");
    now += 2_000;
    const refreshed = await provider.accessToken("me@gmail.com");

    expect(new Set([a, b, c, stillCached]).size).toBe(1);
    expect(refreshed).not.toBe(a);
    expect(google.requests.token - before).toBe(2);
  });

  it("reads the client and the token once per 5 minutes, not per exchange", async () => {
    const provider = tokens();
    await provider.accessToken("me@gmail.com");
    await provider.accessToken("me@gmail.com", { forceRefresh: true });
    expect(secrets.reads).toBe(2);
    now += 5 * 60 * 1000;
    await provider.accessToken("me@gmail.com", { forceRefresh: true });
    expect(secrets.reads).toBe(4);
  });

  it.each([
    ["the client is missing", () => secrets.values.delete(oauthClientParameter("test")), /Google OAuth client is not configured/],
    ["the client is not JSON", () => secrets.values.set(oauthClientParameter("test"), "client_id=x"), /is not JSON/],
    ["the client secret is wrong", () => secrets.values.set(oauthClientParameter("test"), JSON.stringify({ installed: { ...FAKE_CLIENT, client_secret: "wrong" } })), /401 invalid_client/],
    ["the refresh token was revoked", () => secrets.values.set(refreshTokenParameter("test", "me@gmail.com"), "1//unknown"), /invalid_grant: Token has been expired or revoked/],
  ])("asks for an operator (MailboxAuthorizationError) when %s", async (_name, breakIt, message) => {
    breakIt();
    const error = await tokens().accessToken("me@gmail.com").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MailboxAuthorizationError);
    expect((error as Error).message).toMatch(message);
  });

  it("refuses a token granted without a Gmail import scope", async () => {
    google.failNext("token", { status: 200, body: { access_token: "ya29.readonly", expires_in: 3599, scope: "https://www.googleapis.com/auth/gmail.readonly" } });
    await expect(tokens().accessToken("me@gmail.com")).rejects.toThrow(/without a Gmail import scope/);
  });

  it("treats a throttled or failing token endpoint as temporary, and keeps Retry-After", async () => {
    google.failNext("token", { status: 429, body: { error: "rate_limit_exceeded" }, headers: { "retry-after": "12" } });
    const error = await tokens().accessToken("me@gmail.com").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MailboxUnavailableError);
    expect((error as MailboxUnavailableError).retryAfterSeconds).toBe(12);
  });

  it("treats an unreachable token endpoint as temporary", async () => {
    const provider = new GoogleOAuthTokens({ secrets, environment: "test", tokenUrl: "http://127.0.0.1:9/token", requestTimeoutMs: 2000 });
    await expect(provider.accessToken("me@gmail.com")).rejects.toBeInstanceOf(MailboxUnavailableError);
  });

  it("reads Google's two error shapes", () => {
    expect(googleErrorFromText(400, JSON.stringify({ error: "invalid_grant", error_description: "Bad Request" }))).toMatchObject({ oauthError: "invalid_grant", message: "invalid_grant: Bad Request" });
    expect(
      googleErrorFromText(403, JSON.stringify({ error: { code: 403, message: "Rate Limit Exceeded", status: "PERMISSION_DENIED", errors: [{ reason: "rateLimitExceeded" }] } }), "Wed, 21 Oct 2026 07:28:00 GMT", Date.parse("2026-10-21T07:27:00Z")),
    ).toEqual({ status: 403, message: "PERMISSION_DENIED: Rate Limit Exceeded", reasons: ["rateLimitExceeded"], retryAfterSeconds: 60 });
    expect(googleErrorFromText(502, "<html>Bad Gateway</html>")).toMatchObject({ status: 502, message: "<html>Bad Gateway</html>", reasons: [] });
  });
});
