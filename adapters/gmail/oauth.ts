/**
 * Google OAuth access tokens for each Gmail account, from the refresh tokens the CLI stores in SSM.
 *
 * - The OAuth client (`oauthClientParameter`) and each account's refresh token (`refreshTokenParameter`)
 *   are SecureString parameters, read through a SecretStore and reused for SECRET_CACHE_TTL_MS.
 * - An access token is exchanged with `grant_type=refresh_token` (RFC 6749 §6) and cached per account,
 *   across invocations of a warm container, until ACCESS_TOKEN_REFRESH_MARGIN_SECONDS before it expires.
 *   Concurrent requests for one account share one exchange.
 * - A missing or placeholder secret, or a token endpoint that refuses the grant (`invalid_grant`: the
 *   token expired, which for apps in "Testing" happens after 7 days, or was revoked) is a
 *   MailboxAuthorizationError: an operator has to act, and the forwarder parks the delivery. Before
 *   saying so, the secrets are read again, uncached, in case the CLI just stored a new token.
 * - Throttling, server errors and network failures are MailboxUnavailableError (retried later).
 */
import { z } from "zod";
import { MailboxAuthorizationError, MailboxUnavailableError } from "../../core/errors";
import { ACCESS_TOKEN_REFRESH_MARGIN_SECONDS, GOOGLE_REQUEST_TIMEOUT_MS, SECRET_CACHE_TTL_MS } from "../../core/limits";
import { oauthClientParameter, PARAMETER_PLACEHOLDER, refreshTokenParameter } from "../../core/parameters";
import type { SecretStore } from "../../core/ports";
import { defaultFetch, isTransientStatus, networkFailure, readGoogleError, type FetchFunction } from "./google-http";

export const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";

/** Scopes that allow `users.messages.import`; a token with a scope list naming none of them cannot import. */
export const GMAIL_IMPORT_SCOPES: readonly string[] = [
  "https://www.googleapis.com/auth/gmail.insert",
  "https://www.googleapis.com/auth/gmail.modify",
  "https://mail.google.com/",
];

export interface AccessTokenProvider {
  /** A valid access token for the account; `forceRefresh` skips the cache (after Gmail answered 401). */
  accessToken(account: string, options?: { forceRefresh?: boolean }): Promise<string>;
}

export interface GoogleOAuthTokensOptions {
  readonly secrets: SecretStore;
  /** The stack's environment; parameter names come from core/parameters.ts. */
  readonly environment: string;
  /** The token endpoint; a test server stands in for Google here. */
  readonly tokenUrl?: string;
  readonly fetch?: FetchFunction;
  /** Epoch milliseconds; injected by tests. */
  readonly now?: () => number;
  readonly requestTimeoutMs?: number;
  readonly secretCacheTtlMs?: number;
}

interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

function clientSchema() {
  const credentials = z.object({ client_id: z.string().min(1), client_secret: z.string().min(1) }).loose();
  // As downloaded from the Cloud console ({"installed": …} or {"web": …}), or just the two fields.
  return z.union([
    z.object({ installed: credentials }).loose().transform((value) => value.installed),
    z.object({ web: credentials }).loose().transform((value) => value.web),
    credentials,
  ]);
}

function refreshTokenSchema() {
  return z.object({ refresh_token: z.string().min(1) }).loose();
}

function tokenResponseSchema() {
  return z
    .object({
      access_token: z.string().min(1),
      expires_in: z.coerce.number().positive(),
      scope: z.string().optional(),
    })
    .loose();
}

export class GoogleOAuthTokens implements AccessTokenProvider {
  private readonly secrets: SecretStore;
  private readonly environment: string;
  private readonly tokenUrl: string;
  private readonly fetch: FetchFunction;
  private readonly now: () => number;
  private readonly requestTimeoutMs: number;
  private readonly secretCacheTtlMs: number;
  private readonly schemas: {
    client: ReturnType<typeof clientSchema>;
    refreshToken: ReturnType<typeof refreshTokenSchema>;
    tokenResponse: ReturnType<typeof tokenResponseSchema>;
  };
  private readonly tokens = new Map<string, { token: string; expiresAtMs: number }>();
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly secretCache = new Map<string, { value: string | undefined; readAtMs: number }>();

  constructor(options: GoogleOAuthTokensOptions) {
    this.secrets = options.secrets;
    this.environment = options.environment;
    this.tokenUrl = options.tokenUrl ?? GOOGLE_TOKEN_URL;
    this.fetch = options.fetch ?? defaultFetch();
    this.now = options.now ?? (() => Date.now());
    this.requestTimeoutMs = options.requestTimeoutMs ?? GOOGLE_REQUEST_TIMEOUT_MS;
    this.secretCacheTtlMs = options.secretCacheTtlMs ?? SECRET_CACHE_TTL_MS;
    this.schemas = { client: clientSchema(), refreshToken: refreshTokenSchema(), tokenResponse: tokenResponseSchema() };
  }

  async accessToken(account: string, options: { forceRefresh?: boolean } = {}): Promise<string> {
    const cached = this.tokens.get(account);
    if (!options.forceRefresh && cached && cached.expiresAtMs - ACCESS_TOKEN_REFRESH_MARGIN_SECONDS * 1000 > this.now()) {
      return cached.token;
    }
    if (options.forceRefresh) this.tokens.delete(account);
    const pending = this.inflight.get(account);
    if (pending) return pending;
    const exchange = this.refresh(account).finally(() => this.inflight.delete(account));
    this.inflight.set(account, exchange);
    return exchange;
  }

  private async refresh(account: string): Promise<string> {
    const first = await this.readSecrets(account, false);
    try {
      return await this.exchange(account, first);
    } catch (error) {
      if (!(error instanceof MailboxAuthorizationError) || !first.fromCache) throw error;
      // The CLI may have stored a new token since we cached the old one: look once more, uncached.
      const again = await this.readSecrets(account, true);
      if (again.refreshToken === first.refreshToken && again.client.clientSecret === first.client.clientSecret) throw error;
      return this.exchange(account, again);
    }
  }

  private async readSecrets(account: string, uncached: boolean): Promise<{ client: ClientCredentials; refreshToken: string; fromCache: boolean }> {
    const clientName = oauthClientParameter(this.environment);
    const tokenName = refreshTokenParameter(this.environment, account);
    const [clientText, tokenText] = await Promise.all([this.secret(clientName, uncached), this.secret(tokenName, uncached)]);
    return {
      client: this.parseClient(account, clientName, clientText.value),
      refreshToken: this.parseRefreshToken(account, tokenName, tokenText.value),
      fromCache: clientText.fromCache || tokenText.fromCache,
    };
  }

  private async secret(name: string, uncached: boolean): Promise<{ value: string | undefined; fromCache: boolean }> {
    const cached = this.secretCache.get(name);
    if (!uncached && cached && this.now() - cached.readAtMs < this.secretCacheTtlMs) return { value: cached.value, fromCache: true };
    const value = await this.secrets.getSecret(name);
    this.secretCache.set(name, { value, readAtMs: this.now() });
    return { value, fromCache: false };
  }

  private parseClient(account: string, name: string, text: string | undefined): ClientCredentials {
    if (text === undefined || text.trim() === "" || text === PARAMETER_PLACEHOLDER) {
      throw new MailboxAuthorizationError(account, `the Google OAuth client is not configured (SSM ${name}); store it with the ses-mail CLI`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new MailboxAuthorizationError(account, `the Google OAuth client in SSM ${name} is not JSON`, { cause: error });
    }
    const parsed = this.schemas.client.safeParse(json);
    if (!parsed.success) {
      throw new MailboxAuthorizationError(account, `the Google OAuth client in SSM ${name} has no client_id/client_secret`, { cause: parsed.error });
    }
    return { clientId: parsed.data.client_id, clientSecret: parsed.data.client_secret };
  }

  private parseRefreshToken(account: string, name: string, text: string | undefined): string {
    if (text === undefined || text.trim() === "" || text === PARAMETER_PLACEHOLDER) {
      throw new MailboxAuthorizationError(account, `no refresh token for this account (SSM ${name}); authorize it with the ses-mail CLI`);
    }
    const trimmed = text.trim();
    if (!trimmed.startsWith("{")) return trimmed; // a bare token is accepted too
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (error) {
      throw new MailboxAuthorizationError(account, `the refresh token in SSM ${name} is not JSON`, { cause: error });
    }
    const parsed = this.schemas.refreshToken.safeParse(json);
    if (!parsed.success) throw new MailboxAuthorizationError(account, `the refresh token in SSM ${name} has no refresh_token`, { cause: parsed.error });
    return parsed.data.refresh_token;
  }

  private async exchange(account: string, secrets: { client: ClientCredentials; refreshToken: string }): Promise<string> {
    const form = new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: secrets.refreshToken,
      client_id: secrets.client.clientId,
      client_secret: secrets.client.clientSecret,
    });
    let response: Response;
    try {
      response = await this.fetch(this.tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: form.toString(),
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
    } catch (error) {
      throw new MailboxUnavailableError(account, `the OAuth token endpoint did not answer: ${networkFailure(error)}`, { cause: error });
    }
    if (!response.ok) {
      const info = await readGoogleError(response, this.now());
      if (isTransientStatus(info.status)) {
        throw new MailboxUnavailableError(account, `the OAuth token endpoint answered ${info.status} (${info.message})`, {
          ...(info.retryAfterSeconds !== undefined ? { retryAfterSeconds: info.retryAfterSeconds } : {}),
        });
      }
      // invalid_grant (expired or revoked), invalid_client, unauthorized_client, …: an operator must act.
      throw new MailboxAuthorizationError(account, `the OAuth token endpoint refused the refresh token: ${info.status} ${info.message}`);
    }
    let json: unknown;
    try {
      json = await response.json();
    } catch (error) {
      throw new MailboxUnavailableError(account, "the OAuth token endpoint answered with a body that is not JSON", { cause: error });
    }
    const parsed = this.schemas.tokenResponse.safeParse(json);
    if (!parsed.success) throw new MailboxUnavailableError(account, "the OAuth token endpoint answered without an access token", { cause: parsed.error });
    const scopes = parsed.data.scope?.split(" ").filter(Boolean);
    if (scopes && scopes.length > 0 && !scopes.some((scope) => GMAIL_IMPORT_SCOPES.includes(scope))) {
      throw new MailboxAuthorizationError(account, `the token was granted without a Gmail import scope (it has: ${scopes.join(" ")}); authorize the account again`);
    }
    this.tokens.set(account, { token: parsed.data.access_token, expiresAtMs: this.now() + parsed.data.expires_in * 1000 });
    return parsed.data.access_token;
  }
}
