/**
 * Google's OAuth 2.0 flow for installed applications, on a loopback redirect (RFC 8252 §7.3) with PKCE
 * (RFC 7636, S256): the browser sends the authorization code to a one-shot HTTP server on
 * 127.0.0.1, which the CLI exchanges for a refresh token. Written with `fetch` and `node:http`; the
 * Google endpoints and the browser are injected, so a test plays both.
 *
 * Scopes: `gmail.insert` is the narrowest Gmail scope `users.messages.import` accepts ("Add emails into
 * your Gmail mailbox": no reading, no sending). `openid email` add the signed-in address to the token
 * response (the ID token), so the CLI can refuse to store a token consented by a different account
 * than the one asked for; they grant nothing beyond the address itself.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { UserError } from "./framework";

export const GOOGLE_ENDPOINTS = {
  authorizationUrl: "https://accounts.google.com/o/oauth2/v2/auth",
  tokenUrl: "https://oauth2.googleapis.com/token",
} as const;
export type GoogleEndpoints = { readonly authorizationUrl: string; readonly tokenUrl: string };

export const GMAIL_INSERT_SCOPE = "https://www.googleapis.com/auth/gmail.insert";
export const OAUTH_SCOPES: readonly string[] = ["openid", "email", GMAIL_INSERT_SCOPE];

/** How long the person has to sign in and consent in the browser before the CLI gives up. */
export const CONSENT_TIMEOUT_MS = 5 * 60 * 1000;
/** One request to Google's token endpoint; it normally answers in well under a second. */
export const TOKEN_REQUEST_TIMEOUT_MS = 30 * 1000;
/** Where the Cloud console lists a project's OAuth clients. */
export const CREDENTIALS_CONSOLE_URL = "https://console.cloud.google.com/apis/credentials";
export const CONSENT_SCREEN_CONSOLE_URL = "https://console.cloud.google.com/auth/audience";
export const ACCOUNT_PERMISSIONS_URL = "https://myaccount.google.com/permissions";

export interface OAuthClient {
  readonly clientId: string;
  readonly clientSecret: string;
}

function clientFileSchema() {
  const credentials = z.object({ client_id: z.string().min(1), client_secret: z.string().min(1) }).loose();
  return z.union([z.object({ installed: credentials }).loose(), z.object({ web: credentials }).loose()]);
}

/**
 * Validates an OAuth client JSON as downloaded from the Cloud console. Only a "Desktop app" client
 * (`{"installed": …}`) accepts a loopback redirect on any port; a "Web application" client answers
 * `redirect_uri_mismatch`, so it is refused here with what to do instead.
 */
export function parseClientFile(text: string, source: string): OAuthClient {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UserError(`${source} is not JSON: download the OAuth client from ${CREDENTIALS_CONSOLE_URL} (Download JSON)`);
  }
  const parsed = clientFileSchema().safeParse(json);
  if (!parsed.success) {
    throw new UserError(`${source} is not a Google OAuth client file (expected {"installed": {"client_id", "client_secret", …}}): download it from ${CREDENTIALS_CONSOLE_URL}`);
  }
  if ("web" in parsed.data && !("installed" in parsed.data)) {
    throw new UserError(`${source} is a "Web application" client; ses-mail needs a "Desktop app" client (Create credentials → OAuth client ID → Desktop app at ${CREDENTIALS_CONSOLE_URL})`);
  }
  const installed = (parsed.data as { installed: { client_id: string; client_secret: string } }).installed;
  return { clientId: installed.client_id, clientSecret: installed.client_secret };
}

/** Reads the client stored in SSM: the console file, or just `{client_id, client_secret}`. */
export function parseStoredClient(text: string): OAuthClient | undefined {
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const inner = (json.installed ?? json.web ?? json) as Record<string, unknown>;
    if (typeof inner.client_id === "string" && typeof inner.client_secret === "string" && inner.client_id && inner.client_secret) {
      return { clientId: inner.client_id, clientSecret: inner.client_secret };
    }
  } catch {
    // not JSON: fall through
  }
  return undefined;
}

export interface Pkce {
  readonly verifier: string;
  readonly challenge: string;
}

/** A PKCE pair: 32 random bytes as the verifier (43 characters), its SHA-256 as the challenge. */
export function createPkce(): Pkce {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: pkceChallenge(verifier) };
}

export function pkceChallenge(verifier: string): string {
  return createHash("sha256").update(verifier, "ascii").digest("base64url");
}

export interface AuthorizationRequest {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly challenge: string;
  readonly state: string;
  /** Pre-selects the account in Google's chooser. */
  readonly loginHint: string;
}

export function authorizationUrl(endpoint: string, request: AuthorizationRequest): string {
  const url = new URL(endpoint);
  const params: Record<string, string> = {
    client_id: request.clientId,
    redirect_uri: request.redirectUri,
    response_type: "code",
    scope: OAUTH_SCOPES.join(" "),
    code_challenge: request.challenge,
    code_challenge_method: "S256",
    state: request.state,
    // A refresh token, and a new one every time: without prompt=consent Google returns a refresh
    // token only on an account's first consent.
    access_type: "offline",
    prompt: "consent",
    login_hint: request.loginHint,
  };
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

/** What Google says in the `error` of a redirect or a token response, and what the operator should do. */
export function explainGoogleError(code: string, description?: string): string {
  const detail = description ? ` (${description})` : "";
  switch (code) {
    case "access_denied":
      return `consent was declined${detail}: run the command again and choose Allow; if the Google app is in Testing, add the account as a test user at ${CONSENT_SCREEN_CONSOLE_URL}`;
    case "invalid_client":
    case "unauthorized_client":
      return `Google does not accept the stored OAuth client (${code}${detail}): it was deleted, or its secret was reset. Download the Desktop app client again from ${CREDENTIALS_CONSOLE_URL} and run \`ses-mail oauth set-client FILE\``;
    case "redirect_uri_mismatch":
      return `Google refused the loopback redirect (redirect_uri_mismatch${detail}): the stored client is not a "Desktop app" client. Create one at ${CREDENTIALS_CONSOLE_URL} and run \`ses-mail oauth set-client FILE\``;
    case "invalid_grant":
      return `Google refused the authorization code (invalid_grant${detail}): it expired or was already used. Run the command again`;
    case "invalid_scope":
      return `Google refused the Gmail scope (invalid_scope${detail}): enable the Gmail API for the project and add the gmail.insert scope on the consent screen (${CONSENT_SCREEN_CONSOLE_URL})`;
    case "admin_policy_enforced":
    case "org_internal":
      return `the account's organization does not allow this app (${code}${detail}): use an account of the app's organization, or make the app External`;
    default:
      return `Google answered ${code}${detail}`;
  }
}

export interface LoopbackResult {
  readonly code: string;
}

export interface Loopback {
  readonly redirectUri: string;
  readonly port: number;
  /** Settles when the browser arrives with a code (resolve) or an error (reject), or on timeout. */
  readonly result: Promise<LoopbackResult>;
  close(): Promise<void>;
}

function page(res: ServerResponse, status: number, title: string, text: string): void {
  const escape = (value: string) => value.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const body = `<!doctype html><meta charset="utf-8"><title>ses-mail: ${escape(title)}</title><h1>${escape(title)}</h1><p>${escape(text)}</p>`;
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(body), "cache-control": "no-store", connection: "close" });
  res.end(body);
}

/**
 * Starts the one-shot redirect server on 127.0.0.1 (a random free port unless `port` is given).
 * Requests whose `state` does not match are answered 400 and ignored (they did not come from our
 * authorization request); the first matching one settles `result`.
 */
export async function startLoopback(options: { state: string; timeoutMs: number; port?: number; timeoutMessage: string }): Promise<Loopback> {
  let settle: { resolve: (value: LoopbackResult) => void; reject: (error: Error) => void } | undefined;
  const result = new Promise<LoopbackResult>((resolve, reject) => (settle = { resolve, reject }));
  let done = false;
  const finish = (outcome: { code: string } | Error) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    if (outcome instanceof Error) settle!.reject(outcome);
    else settle!.resolve(outcome);
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method !== "GET" || url.pathname !== "/") {
      page(res, 404, "Not found", "This server only receives Google's redirect for ses-mail.");
      return;
    }
    const query = url.searchParams;
    if (query.get("state") !== options.state) {
      page(res, 400, "Unexpected request", "This request does not belong to the authorization ses-mail started. Use the link the command printed.");
      return;
    }
    const error = query.get("error");
    if (error) {
      page(res, 200, "Authorization not completed", `Google answered ${error}. Return to the terminal for what to do.`);
      finish(new UserError(explainGoogleError(error, query.get("error_description") ?? undefined)));
      return;
    }
    const code = query.get("code");
    if (!code) {
      page(res, 400, "No authorization code", "Google's redirect carried no code. Run the command again.");
      finish(new UserError("Google's redirect carried neither a code nor an error: run the command again"));
      return;
    }
    page(res, 200, "ses-mail is authorized", "You can close this tab and return to the terminal.");
    finish({ code });
  });
  server.keepAliveTimeout = 1000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new UserError(`port ${options.port} on 127.0.0.1 is in use: choose another with --port, or leave --port out for a free one`)
          : error,
      ),
    );
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const timer = setTimeout(() => finish(new UserError(options.timeoutMessage)), options.timeoutMs);
  timer.unref();

  return {
    port,
    redirectUri: `http://127.0.0.1:${port}`,
    result,
    close: () =>
      new Promise<void>((resolve) => {
        finish(new UserError("the authorization was abandoned"));
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TokenGrant {
  readonly refreshToken: string;
  readonly scopes: readonly string[];
  /** The signed-in account, from the ID token, when Google sent one. */
  readonly email?: string;
}

function tokenResponseSchema() {
  return z
    .object({
      access_token: z.string().optional(),
      refresh_token: z.string().optional(),
      scope: z.string().optional(),
      id_token: z.string().optional(),
      error: z.string().optional(),
      error_description: z.string().optional(),
    })
    .loose();
}

/**
 * The `email` claim of an ID token. Its signature is not checked: the token came straight from Google's
 * token endpoint over TLS, which OpenID Connect Core §3.1.3.7 accepts in place of the signature.
 */
export function idTokenEmail(idToken: string): string | undefined {
  const payload = idToken.split(".")[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { email?: unknown };
    return typeof claims.email === "string" ? claims.email : undefined;
  } catch {
    return undefined;
  }
}

/** Exchanges the authorization code for tokens (RFC 6749 §4.1.3 with the PKCE verifier). */
export async function exchangeCode(
  tokenUrl: string,
  args: { client: OAuthClient; code: string; redirectUri: string; verifier: string },
  fetchImpl: typeof fetch = fetch,
): Promise<TokenGrant> {
  const form = new URLSearchParams({
    grant_type: "authorization_code",
    code: args.code,
    client_id: args.client.clientId,
    client_secret: args.client.clientSecret,
    redirect_uri: args.redirectUri,
    code_verifier: args.verifier,
  });
  let response: Response;
  try {
    response = await fetchImpl(tokenUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: form.toString(),
      signal: AbortSignal.timeout(TOKEN_REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    throw new UserError(`Google's token endpoint did not answer (${error instanceof Error ? error.message : String(error)}): check the network and run the command again`, { cause: error });
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UserError(`Google's token endpoint answered ${response.status} with a body that is not JSON: run the command again`);
  }
  const parsed = tokenResponseSchema().safeParse(json);
  if (!parsed.success) throw new UserError(`Google's token endpoint answered ${response.status} with an unexpected body: run the command again`);
  const body = parsed.data;
  if (!response.ok || body.error) {
    throw new UserError(explainGoogleError(body.error ?? `HTTP ${response.status}`, body.error_description));
  }
  if (!body.refresh_token) {
    throw new UserError(
      `Google returned no refresh token: remove ses-mail's access for the account at ${ACCOUNT_PERMISSIONS_URL} and run the command again (Google sends a refresh token only with a fresh consent)`,
    );
  }
  const scopes = (body.scope ?? "").split(" ").filter(Boolean);
  return {
    refreshToken: body.refresh_token,
    scopes,
    ...(body.id_token && idTokenEmail(body.id_token) ? { email: idTokenEmail(body.id_token)! } : {}),
  };
}

/**
 * Whether two addresses are the same Google account: case-insensitive, and for gmail.com (and its
 * alias googlemail.com) dots in the local part do not count.
 */
export function sameGoogleAccount(a: string, b: string): boolean {
  const key = (address: string) => {
    const [local = "", domain = ""] = address.trim().toLowerCase().split(/@(?=[^@]*$)/);
    const gmail = domain === "gmail.com" || domain === "googlemail.com";
    return gmail ? `${local.replace(/\./g, "")}@gmail.com` : `${local}@${domain}`;
  };
  return key(a) === key(b);
}
