import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { GoogleAccounts } from "../../../adapters/gmail/oauth";
import { MailboxAuthorizationError, MailboxUnavailableError } from "../../../core/errors";
import { oauthClientParameter, refreshTokenParameter } from "../../../core/parameters";
import { MemorySecrets } from "../../helpers/delivery";
import { FAKE_CLIENT, startFakeGoogle, type FakeGoogle } from "../../helpers/fake-google";

/** Only Date is faked: the HTTP exchanges with the fake Google keep real timers. */
const ONLY_DATE = [
  "hrtime",
  "nextTick",
  "performance",
  "queueMicrotask",
  "requestAnimationFrame",
  "cancelAnimationFrame",
  "requestIdleCallback",
  "cancelIdleCallback",
  "setImmediate",
  "clearImmediate",
  "setInterval",
  "clearInterval",
  "setTimeout",
  "clearTimeout",
] as const;

describe("Google OAuth access tokens from SSM refresh tokens, through google-auth-library", () => {
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
    secrets.values.set(
      refreshTokenParameter("test", "me@gmail.com"),
      JSON.stringify({ refresh_token: "1//me", expires_at: "2026-12-05T00:00:00Z" }),
    );
    now = Date.parse("2026-11-28T10:00:00Z");
  });
  afterEach(() => jest.useRealTimers());

  function accounts() {
    return new GoogleAccounts({ secrets, environment: "test", tokenUrl: google.tokenUrl, now: () => new Date(now) });
  }

  async function bearer(provider: GoogleAccounts): Promise<string | null> {
    const client = await provider.authorize("me@gmail.com");
    return (await client.getRequestHeaders()).get("authorization");
  }

  it("shares one exchange among concurrent requests and keeps the token until 5 minutes before it expires", async () => {
    // Prepare: the library reads the clock through Date.
    jest.useFakeTimers({ doNotFake: [...ONLY_DATE], now: Date.parse("2026-11-28T10:00:00Z") });
    const provider = accounts();
    const before = google.requests.token;

    // Act
    const [a, b, c] = await Promise.all([bearer(provider), bearer(provider), bearer(provider)]);
    jest.setSystemTime(Date.parse("2026-11-28T10:00:00Z") + 3599_000 - 301_000);
    const stillCached = await bearer(provider);
    jest.setSystemTime(Date.parse("2026-11-28T10:00:00Z") + 3599_000 - 299_000);
    const refreshed = await bearer(provider);

    // Assess
    expect(a).toMatch(/^Bearer ya29\./);
    expect(new Set([a, b, c, stillCached]).size).toBe(1);
    expect(refreshed).not.toBe(a);
    expect(google.requests.token - before).toBe(2);
  });

  it("reads the client and the token once per 5 minutes, not per delivery", async () => {
    const provider = accounts();
    await Promise.all([provider.authorize("me@gmail.com"), provider.authorize("me@gmail.com")]);
    await provider.authorize("me@gmail.com");
    expect(secrets.reads).toBe(2);
    now += 5 * 60 * 1000;
    await provider.authorize("me@gmail.com");
    expect(secrets.reads).toBe(4);
  });

  it("uses a refresh token the CLI stored since the cached one was refused, without waiting for the cache to expire", async () => {
    // Prepare: the old token in the secret cache and its access token expired; in SSM, a new one.
    jest.useFakeTimers({ doNotFake: [...ONLY_DATE], now: Date.parse("2026-11-28T10:00:00Z") });
    google.addAccount("me@gmail.com", "1//me-new");
    const provider = accounts();
    await provider.authorize("me@gmail.com");
    google.revokeRefreshToken("1//me");
    secrets.values.set(refreshTokenParameter("test", "me@gmail.com"), JSON.stringify({ refresh_token: "1//me-new" }));
    jest.setSystemTime(Date.parse("2026-11-28T11:00:00Z"));

    try {
      // Act
      const renewed = await provider.authorize("me@gmail.com");

      // Assess
      expect(renewed.credentials).toMatchObject({ refresh_token: "1//me-new", access_token: expect.stringMatching(/^ya29\./) });
      expect(secrets.reads).toBe(4);
    } finally {
      google.addAccount("me@gmail.com", "1//me");
    }
  });

  it.each([
    ["the client is missing", () => secrets.values.delete(oauthClientParameter("test")), /Google OAuth client is not configured/],
    ["the client is not JSON", () => secrets.values.set(oauthClientParameter("test"), "client_id=x"), /oauth-client is not JSON/],
    [
      "the client has no secret",
      () => secrets.values.set(oauthClientParameter("test"), JSON.stringify({ installed: { client_id: "x" } })),
      /has no client_id and client_secret/,
    ],
    [
      "the client secret is wrong",
      () => secrets.values.set(oauthClientParameter("test"), JSON.stringify({ installed: { ...FAKE_CLIENT, client_secret: "wrong" } })),
      /401 invalid_client/,
    ],
    [
      "the token is not JSON",
      () => secrets.values.set(refreshTokenParameter("test", "me@gmail.com"), "{refresh"),
      /me_at_gmail.com is not JSON/,
    ],
    [
      "the refresh token was revoked",
      () => secrets.values.set(refreshTokenParameter("test", "me@gmail.com"), "1//unknown"),
      /400 invalid_grant: Token has been expired or revoked/,
    ],
  ])("asks for an operator (MailboxAuthorizationError) when %s", async (_name, breakIt, message) => {
    breakIt();
    const error = await accounts()
      .authorize("me@gmail.com")
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MailboxAuthorizationError);
    expect((error as Error).message).toMatch(message);
  });

  it("refuses a token granted without a Gmail import scope", async () => {
    google.failNext("token", {
      status: 200,
      body: { access_token: "ya29.readonly", expires_in: 3599, scope: "https://www.googleapis.com/auth/gmail.readonly" },
    });
    await expect(accounts().authorize("me@gmail.com")).rejects.toThrow(/without a Gmail import scope/);
  });

  it("treats a token endpoint that stays throttled through the library's retries as temporary, and keeps Retry-After", async () => {
    // google-auth-library asks again three times on 429 and 5xx before giving up.
    google.failNext("token", { status: 429, body: { error: "rate_limit_exceeded" }, headers: { "retry-after": "12" } }, 4);
    const error = await accounts()
      .authorize("me@gmail.com")
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MailboxUnavailableError);
    expect((error as MailboxUnavailableError).retryAfterSeconds).toBe(12);
    expect((error as Error).message).toMatch(/answered 429 \(rate_limit_exceeded\)/);
  });

  it("rides out one throttled answer from the token endpoint", async () => {
    google.failNext("token", { status: 503, body: { error: "temporarily_unavailable" } });
    const client = await accounts().authorize("me@gmail.com");
    expect(client.credentials.access_token).toMatch(/^ya29\./);
  });

  it("treats an unreachable token endpoint as temporary", async () => {
    // A port that was just free: nothing listens there.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const provider = new GoogleAccounts({
      secrets,
      environment: "test",
      tokenUrl: `http://127.0.0.1:${port}/token`,
      requestTimeoutMs: 2000,
    });
    const error = await provider.authorize("me@gmail.com").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MailboxUnavailableError);
    expect((error as Error).message).toMatch(/token endpoint did not answer: .*ECONNREFUSED/);
  });
});
