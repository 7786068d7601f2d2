/**
 * Google's side of the installed-app OAuth flow, for CLI tests: an authorization endpoint that checks
 * what Google checks (client, loopback redirect, PKCE S256, scopes, offline access) and redirects back
 * with a code or an error, a token endpoint that checks the code, the redirect URI and the PKCE
 * verifier, and a scripted "browser" that follows the printed URL to the CLI's loopback server.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export const CONSENT_CLIENT = { client_id: "5678-cli.apps.googleusercontent.com", client_secret: "GOCSPX-cli-secret" };

/** What the person does in the browser. */
export type Consent =
  | { kind: "allow"; signedInAs: string; grantedScopes?: string }
  | { kind: "deny" }
  /** Google's own error page: no redirect reaches the CLI. */
  | { kind: "error-page"; error: string };

/** How the token endpoint answers the exchange. */
export type TokenScript =
  { kind: "ok" } | { kind: "error"; status: number; error: string; description?: string } | { kind: "no-refresh-token" };

export interface FakeConsent {
  readonly authorizationUrl: string;
  readonly tokenUrl: string;
  consent: Consent;
  token: TokenScript;
  /** Query parameters of every authorization request, in order. */
  readonly authorizations: Array<Record<string, string>>;
  /** Form fields of every token request, in order. */
  readonly exchanges: Array<Record<string, string>>;
  /** Refresh tokens issued, in order. */
  readonly issued: string[];
  /** The browser step: follows the URL the CLI printed, as a person's browser would. */
  browser(url: string): Promise<boolean>;
  /** Pages the browser ended on (status and text), in order. */
  readonly pages: Array<{ status: number; text: string }>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function unsignedIdToken(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.c2lnbmF0dXJl`;
}

export async function startFakeConsent(): Promise<FakeConsent> {
  const codes = new Map<string, { challenge: string; redirectUri: string; email: string; scopes: string }>();
  const state: Omit<FakeConsent, "authorizationUrl" | "tokenUrl" | "close" | "browser"> = {
    consent: { kind: "allow", signedInAs: "someone@gmail.com" },
    token: { kind: "ok" },
    authorizations: [],
    exchanges: [],
    issued: [],
    pages: [],
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://fake");
    if (req.method === "GET" && url.pathname === "/o/oauth2/v2/auth") {
      const query = Object.fromEntries(url.searchParams);
      state.authorizations.push(query);
      const consent = state.consent;
      const problem =
        query.client_id !== CONSENT_CLIENT.client_id
          ? "invalid_client"
          : !/^http:\/\/127\.0\.0\.1:\d+$/.test(query.redirect_uri ?? "")
            ? "redirect_uri_mismatch"
            : query.response_type !== "code" || query.code_challenge_method !== "S256" || !query.code_challenge
              ? "invalid_request"
              : undefined;
      if (problem || consent.kind === "error-page") {
        res.writeHead(400, { "content-type": "text/html" });
        res.end(`<h1>Error 400: ${problem ?? (consent as { error: string }).error}</h1>`);
        return;
      }
      const back = new URL(query.redirect_uri!);
      back.searchParams.set("state", query.state ?? "");
      if (consent.kind === "deny") {
        back.searchParams.set("error", "access_denied");
      } else {
        const code = `code-${randomBytes(6).toString("hex")}`;
        codes.set(code, {
          challenge: query.code_challenge!,
          redirectUri: query.redirect_uri!,
          email: consent.signedInAs,
          scopes: consent.grantedScopes ?? query.scope ?? "",
        });
        back.searchParams.set("code", code);
        back.searchParams.set("scope", query.scope ?? "");
      }
      res.writeHead(302, { location: back.toString() });
      res.end();
      return;
    }
    if (req.method === "POST" && url.pathname === "/token") {
      const form = Object.fromEntries(new URLSearchParams(await readBody(req)));
      state.exchanges.push(form);
      const script = state.token;
      if (script.kind === "error")
        return json(res, script.status, { error: script.error, ...(script.description ? { error_description: script.description } : {}) });
      const grant = codes.get(form.code ?? "");
      if (form.grant_type !== "authorization_code" || !grant)
        return json(res, 400, { error: "invalid_grant", error_description: "Bad Request" });
      if (form.client_id !== CONSENT_CLIENT.client_id || form.client_secret !== CONSENT_CLIENT.client_secret) {
        return json(res, 401, { error: "invalid_client", error_description: "Unauthorized" });
      }
      if (form.redirect_uri !== grant.redirectUri)
        return json(res, 400, { error: "redirect_uri_mismatch", error_description: "Bad Request" });
      const challenge = createHash("sha256")
        .update(form.code_verifier ?? "")
        .digest("base64url");
      if (challenge !== grant.challenge) return json(res, 400, { error: "invalid_grant", error_description: "Invalid code verifier." });
      codes.delete(form.code!);
      const refreshToken = `1//refresh-${randomBytes(8).toString("hex")}`;
      if (script.kind !== "no-refresh-token") state.issued.push(refreshToken);
      return json(res, 200, {
        access_token: `ya29.${randomBytes(8).toString("hex")}`,
        expires_in: 3599,
        token_type: "Bearer",
        scope: grant.scopes,
        id_token: unsignedIdToken({ iss: "https://accounts.google.com", email: grant.email, email_verified: true }),
        ...(script.kind === "no-refresh-token" ? {} : { refresh_token: refreshToken }),
      });
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fake: FakeConsent = Object.assign(state, {
    authorizationUrl: `${base}/o/oauth2/v2/auth`,
    tokenUrl: `${base}/token`,
    async browser(url: string) {
      // Not awaited by the CLI beyond starting: a real browser runs on its own.
      void fetch(url, { redirect: "follow" })
        .then(async (response) => void state.pages.push({ status: response.status, text: await response.text() }))
        .catch((error: unknown) => void state.pages.push({ status: 0, text: String(error) }));
      return true;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
  return fake;
}
