/**
 * Google's OAuth 2.0 flow for installed applications, on a loopback redirect (RFC 8252 §7.3) with PKCE
 * (RFC 7636, S256), through google-auth-library's OAuth2Client: it makes the code verifier and its
 * challenge, builds the authorization URL and exchanges the code for tokens. The one-shot HTTP server on
 * 127.0.0.1 that receives the browser's redirect is ours (the library has none). The Google endpoints
 * and the browser are injected, so a test plays both.
 *
 * Scopes: `gmail.insert` is the narrowest Gmail scope `users.messages.import` accepts ("Add emails into
 * your Gmail mailbox": no reading, no sending). `gmail.labels` is the narrowest that lists and creates
 * labels ("See and edit your email labels": labels only, no message), so rules can name labels as people
 * see them (adapters/gmail/labels.ts); a consent that leaves it out still imports, without those labels.
 * `openid email` add the signed-in address to the token
 * response (the ID token), so the CLI can refuse to store a token consented by a different account
 * than the one asked for; they grant nothing beyond the address itself.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CodeChallengeMethod } from "google-auth-library";
import {
  GMAIL_INSERT_SCOPE,
  GMAIL_LABELS_SCOPE,
  parseOAuthClient,
  readGrant,
  type Grant,
  type OAuthClientCredentials,
} from "../adapters/gmail/credentials";
import { describeGoogleError } from "../adapters/gmail/google-errors";
import { GMAIL_DOMAINS } from "../core/addresses";
import { createOAuthClient } from "../adapters/gmail/oauth";
import { UserError } from "./framework";

export type GoogleEndpoints = { readonly authorizationUrl: string; readonly tokenUrl: string };

export const OAUTH_SCOPES: readonly string[] = ["openid", "email", GMAIL_INSERT_SCOPE, GMAIL_LABELS_SCOPE];

/** How long the person has to sign in and consent in the browser before the CLI gives up. */
export const CONSENT_TIMEOUT_MS = 5 * 60 * 1000;
/** One request to Google's token endpoint; it normally answers in well under a second. */
export const TOKEN_REQUEST_TIMEOUT_MS = 30 * 1000;
/** Where the Cloud console lists a project's OAuth clients. */
export const CREDENTIALS_CONSOLE_URL = "https://console.cloud.google.com/apis/credentials";
export const CONSENT_SCREEN_CONSOLE_URL = "https://console.cloud.google.com/auth/audience";
export const ACCOUNT_PERMISSIONS_URL = "https://myaccount.google.com/permissions";

/**
 * Validates an OAuth client JSON as downloaded from the Cloud console. Only a "Desktop app" client
 * (`{"installed": …}`) accepts a loopback redirect on any port; a "Web application" client answers
 * `redirect_uri_mismatch`, so it is refused here with what to do instead.
 */
export function parseClientFile(text: string, source: string): OAuthClientCredentials {
  const parsed = parseOAuthClient(text);
  if (!parsed.ok && parsed.problem === "is not JSON") {
    throw new UserError(`${source} is not JSON: download the OAuth client from ${CREDENTIALS_CONSOLE_URL} (Download JSON)`);
  }
  if (!parsed.ok || parsed.value.kind === "fields") {
    throw new UserError(
      `${source} is not a Google OAuth client file (expected {"installed": {"client_id", "client_secret", …}}): download it from ${CREDENTIALS_CONSOLE_URL}`,
    );
  }
  if (parsed.value.kind === "web") {
    throw new UserError(
      `${source} is a "Web application" client; ses-mail needs a "Desktop app" client (Create credentials → OAuth client ID → Desktop app at ${CREDENTIALS_CONSOLE_URL})`,
    );
  }
  return parsed.value;
}

export interface Consent {
  /** The URL to open in the browser. */
  readonly url: string;
  /** Exchanges the code the browser brought back (with the PKCE verifier) for tokens. */
  exchange(code: string): Promise<Grant>;
}

/** Starts an installed-app consent for `loginHint` that returns to `redirectUri` with `state`. */
export async function startConsent(args: {
  client: Pick<OAuthClientCredentials, "clientId" | "clientSecret">;
  google: GoogleEndpoints;
  redirectUri: string;
  state: string;
  loginHint: string;
}): Promise<Consent> {
  const oauth = createOAuthClient({
    client: args.client,
    authorizationUrl: args.google.authorizationUrl,
    tokenUrl: args.google.tokenUrl,
    redirectUri: args.redirectUri,
    timeoutMs: TOKEN_REQUEST_TIMEOUT_MS,
  });
  const { codeVerifier, codeChallenge } = await oauth.generateCodeVerifierAsync();
  const url = oauth.generateAuthUrl({
    scope: [...OAUTH_SCOPES],
    code_challenge: codeChallenge,
    code_challenge_method: CodeChallengeMethod.S256,
    state: args.state,
    // A refresh token, and a new one every time: without prompt=consent Google returns a refresh
    // token only on an account's first consent.
    access_type: "offline",
    prompt: "consent",
    login_hint: args.loginHint,
  });
  return {
    url,
    async exchange(code) {
      let tokens: unknown;
      try {
        tokens = (await oauth.getToken({ code, codeVerifier, redirect_uri: args.redirectUri })).tokens;
      } catch (error) {
        const info = describeGoogleError(error);
        if (info.status === undefined)
          throw new UserError(`Google's token endpoint did not answer (${info.message}): check the network and run the command again`, {
            cause: error,
          });
        if (info.oauthError) throw new UserError(explainGoogleError(info.oauthError, info.oauthDescription), { cause: error });
        throw new UserError(`Google's token endpoint answered ${info.status} (${info.message}): run the command again`, { cause: error });
      }
      const grant = readGrant(tokens);
      if (!grant.ok) throw new UserError("Google's token endpoint answered with an unexpected body: run the command again");
      if (!grant.value.refreshToken) {
        throw new UserError(
          `Google returned no refresh token: remove ses-mail's access for the account at ${ACCOUNT_PERMISSIONS_URL} and run the command again (Google sends a refresh token only with a fresh consent)`,
        );
      }
      return grant.value;
    },
  };
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
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    connection: "close",
  });
  res.end(body);
}

/**
 * Starts the one-shot redirect server on 127.0.0.1 (a random free port unless `port` is given).
 * Requests whose `state` does not match are answered 400 and ignored (they did not come from our
 * authorization request); the first matching one settles `result`.
 */
export async function startLoopback(options: {
  state: string;
  timeoutMs: number;
  port?: number;
  timeoutMessage: string;
}): Promise<Loopback> {
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
      page(
        res,
        400,
        "Unexpected request",
        "This request does not belong to the authorization ses-mail started. Use the link the command printed.",
      );
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

/**
 * Whether two addresses are the same Google account: case-insensitive, and for gmail.com (and its
 * alias googlemail.com) dots in the local part do not count.
 */
export function sameGoogleAccount(a: string, b: string): boolean {
  const key = (address: string) => {
    const [local = "", domain = ""] = address
      .trim()
      .toLowerCase()
      .split(/@(?=[^@]*$)/);
    const gmail = GMAIL_DOMAINS.includes(domain);
    return gmail ? `${local.replace(/\./g, "")}@gmail.com` : `${local}@${domain}`;
  };
  return key(a) === key(b);
}
