import {
  canImport,
  GMAIL_INSERT_SCOPE,
  parseOAuthClient,
  parseStoredRefreshToken,
  readGrant,
  serializeStoredRefreshToken,
} from "../../../adapters/gmail/credentials";

describe("the OAuth client JSON, one parser for the CLI and the forwarder", () => {
  it.each([
    [
      "a Desktop app client from the console",
      { installed: { client_id: "id", client_secret: "secret", project_id: "p", redirect_uris: ["http://localhost"] } },
      "installed",
    ],
    ["a Web application client", { web: { client_id: "id", client_secret: "secret" } }, "web"],
    ["the two fields alone", { client_id: "id", client_secret: "secret" }, "fields"],
  ])("reads %s", (_name, json, kind) => {
    expect(parseOAuthClient(JSON.stringify(json))).toEqual({ ok: true, value: { clientId: "id", clientSecret: "secret", kind } });
  });

  it.each([
    ["text that is not JSON", "client_id=x", "is not JSON"],
    ["a client without its secret", JSON.stringify({ installed: { client_id: "id" } }), "has no client_id and client_secret"],
    ["an empty secret", JSON.stringify({ client_id: "id", client_secret: "" }), "has no client_id and client_secret"],
    ["something else", JSON.stringify({ hello: "world" }), "has no client_id and client_secret"],
  ])("says what is wrong with %s", (_name, text, problem) => {
    expect(parseOAuthClient(text)).toEqual({ ok: false, problem });
  });
});

describe("an account's stored refresh token", () => {
  it("reads back what the CLI writes", () => {
    const text = serializeStoredRefreshToken({
      refreshToken: "1//token",
      createdAt: "2026-11-28T10:00:00.000Z",
      expiresAt: "2026-12-05T10:00:00.000Z",
    });
    expect(JSON.parse(text)).toEqual({
      refresh_token: "1//token",
      created_at: "2026-11-28T10:00:00.000Z",
      expires_at: "2026-12-05T10:00:00.000Z",
    });
    expect(parseStoredRefreshToken(text)).toEqual({
      ok: true,
      value: { refreshToken: "1//token", createdAt: "2026-11-28T10:00:00.000Z", expiresAt: "2026-12-05T10:00:00.000Z" },
    });
  });

  it.each([
    ["a bare token", " 1//bare\n", { ok: true, value: { refreshToken: "1//bare" } }],
    ["an empty value", "  ", { ok: false, problem: "is empty" }],
    ["broken JSON", "{refresh", { ok: false, problem: "is not JSON" }],
    ["JSON without the token", JSON.stringify({ created_at: "x" }), { ok: false, problem: "has no refresh_token" }],
  ])("reads %s", (_name, text, expected) => {
    expect(parseStoredRefreshToken(text)).toEqual(expected);
  });
});

describe("the token endpoint's answer", () => {
  const idToken = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.s`;

  it("reads the tokens, the granted scopes and the signed-in address", () => {
    const grant = readGrant({
      access_token: "ya29.a",
      refresh_token: "1//r",
      scope: `openid email ${GMAIL_INSERT_SCOPE}`,
      id_token: idToken({ email: "a@gmail.com" }),
      expiry_date: 1,
    });
    expect(grant).toEqual({
      ok: true,
      value: { accessToken: "ya29.a", refreshToken: "1//r", scopes: ["openid", "email", GMAIL_INSERT_SCOPE], email: "a@gmail.com" },
    });
  });

  it("leaves out what Google did not send, and tolerates an ID token that is not one", () => {
    expect(readGrant({ access_token: "ya29.a", refresh_token: null, id_token: "garbage" })).toEqual({
      ok: true,
      value: { accessToken: "ya29.a", scopes: [] },
    });
    expect(readGrant("not tokens")).toEqual({ ok: false, problem: "is not a token response" });
  });

  it.each([
    [[GMAIL_INSERT_SCOPE], true],
    [["https://mail.google.com/"], true],
    [[], true],
    [["https://www.googleapis.com/auth/gmail.readonly"], false],
  ])("a grant of %j may import into Gmail: %s", (scopes, expected) => {
    expect(canImport({ scopes })).toBe(expected);
  });
});
