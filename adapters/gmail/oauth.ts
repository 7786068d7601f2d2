/**
 * Google OAuth through google-auth-library: one OAuth2Client per Gmail account, built from the stack's
 * OAuth client and the account's refresh token, which the CLI stores in SSM.
 *
 * - The OAuth client (`oauthClientParameter`) and each account's refresh token (`refreshTokenParameter`)
 *   are SecureString parameters, read through a SecretStore and reused for SECRET_CACHE_TTL_MS.
 * - The library exchanges the refresh token for an access token, caches it in the account's client
 *   across invocations of a warm container, refreshes it ACCESS_TOKEN_REFRESH_MARGIN_SECONDS before it
 *   expires (or after Gmail answered 401), shares one exchange among concurrent requests, and retries the
 *   token endpoint itself on 429 and 5xx (three times, within about two seconds).
 * - A missing or placeholder secret, or a token endpoint that refuses the grant (`invalid_grant`: the token
 *   expired, which for apps in "Testing" happens after 7 days, or was revoked) is a
 *   MailboxAuthorizationError: an operator has to act, and the forwarder parks the delivery. Before saying
 *   so, the secrets are read again, uncached, in case the CLI just stored a new token.
 * - Throttling, server errors and network failures that outlast the retries are MailboxUnavailableError.
 */
import type { OAuth2Client } from "google-auth-library";
import { MailboxAuthorizationError, MailboxUnavailableError } from "../../core/errors";
import { ACCESS_TOKEN_REFRESH_MARGIN_SECONDS, GOOGLE_REQUEST_TIMEOUT_MS, SECRET_CACHE_TTL_MS } from "../../core/limits";
import { oauthClientParameter, PARAMETER_PLACEHOLDER, refreshTokenParameter } from "../../core/parameters";
import type { Clock, SecretStore } from "../../core/ports";
import { canImport, parseOAuthClient, parseStoredRefreshToken, readGrant, type OAuthClientCredentials } from "./credentials";
import { describeGoogleError, tokenEndpointError } from "./google-errors";

export const GOOGLE_ENDPOINTS = {
  authorizationUrl: "https://accounts.google.com/o/oauth2/v2/auth",
  tokenUrl: "https://oauth2.googleapis.com/token",
} as const;

/**
 * Transport options for every Google request: the runtime's own `fetch`, looked up at call time (without
 * one, gaxios loads node-fetch, which the Lambda archives leave out), and a timeout. Only small JSON
 * requests go through it; the message upload has its own streamed request (upload.ts).
 */
export function googleTransport(timeoutMs: number = GOOGLE_REQUEST_TIMEOUT_MS): { fetchImplementation: typeof fetch; timeout: number } {
  return { fetchImplementation: (input, init) => globalThis.fetch(input, init), timeout: timeoutMs };
}

/** An OAuth2Client for a client ID and secret, talking to `endpoints` (a test server stands in for Google). */
export function createOAuthClient(args: {
  client: Pick<OAuthClientCredentials, "clientId" | "clientSecret">;
  tokenUrl?: string;
  authorizationUrl?: string;
  redirectUri?: string;
  timeoutMs?: number;
}): OAuth2Client {
  // Loaded here, not with this module: local mode imports the forwarder, and with it this file, without
  // calling Google unless it delivers to real Gmail (0.15 s of each start otherwise).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
  const { OAuth2Client } = require("google-auth-library") as typeof import("google-auth-library");
  return new OAuth2Client({
    clientId: args.client.clientId,
    clientSecret: args.client.clientSecret,
    ...(args.redirectUri ? { redirectUri: args.redirectUri } : {}),
    endpoints: {
      oauth2TokenUrl: args.tokenUrl ?? GOOGLE_ENDPOINTS.tokenUrl,
      oauth2AuthBaseUrl: args.authorizationUrl ?? GOOGLE_ENDPOINTS.authorizationUrl,
    },
    eagerRefreshThresholdMillis: ACCESS_TOKEN_REFRESH_MARGIN_SECONDS * 1000,
    // Refresh after a 401 even when the cached token has not reached its expiry (it was revoked).
    forceRefreshOnFailure: true,
    transporterOptions: googleTransport(args.timeoutMs),
  });
}

export interface GoogleAccountsOptions {
  readonly secrets: SecretStore;
  /** The stack's environment; parameter names come from core/parameters.ts. */
  readonly environment: string;
  /** The token endpoint; a test server stands in for Google here. */
  readonly tokenUrl?: string;
  readonly requestTimeoutMs?: number;
  readonly secretCacheTtlMs?: number;
  /** For the secret cache; injected by tests. */
  readonly now?: Clock;
}

interface AccountSecrets {
  readonly client: OAuthClientCredentials;
  readonly refreshToken: string;
  readonly fromCache: boolean;
}

/** Authorized OAuth2Clients, one per Gmail account. */
export class GoogleAccounts {
  private readonly secrets: SecretStore;
  private readonly environment: string;
  private readonly tokenUrl: string | undefined;
  private readonly requestTimeoutMs: number;
  private readonly secretCacheTtlMs: number;
  private readonly now: Clock;
  private readonly clients = new Map<string, { client: OAuth2Client; key: string }>();
  private readonly secretCache = new Map<string, { value: string | undefined; readAtMs: number }>();
  private readonly secretReads = new Map<string, Promise<string | undefined>>();

  constructor(options: GoogleAccountsOptions) {
    this.secrets = options.secrets;
    this.environment = options.environment;
    this.tokenUrl = options.tokenUrl;
    this.requestTimeoutMs = options.requestTimeoutMs ?? GOOGLE_REQUEST_TIMEOUT_MS;
    this.secretCacheTtlMs = options.secretCacheTtlMs ?? SECRET_CACHE_TTL_MS;
    this.now = options.now ?? (() => new Date());
  }

  /** The account's OAuth2Client with a valid access token. */
  async authorize(account: string): Promise<OAuth2Client> {
    const first = await this.readSecrets(account, false);
    try {
      return await this.withAccessToken(account, first);
    } catch (error) {
      if (!(error instanceof MailboxAuthorizationError) || !first.fromCache) throw error;
      // The CLI may have stored a new token since we cached the old one: look once more, uncached.
      const again = await this.readSecrets(account, true);
      if (again.refreshToken === first.refreshToken && again.client.clientSecret === first.client.clientSecret) throw error;
      return this.withAccessToken(account, again);
    }
  }

  private async withAccessToken(account: string, secrets: AccountSecrets): Promise<OAuth2Client> {
    const key = `${secrets.client.clientId}\n${secrets.client.clientSecret}\n${secrets.refreshToken}`;
    let entry = this.clients.get(account);
    if (!entry || entry.key !== key) {
      const client = createOAuthClient({
        client: secrets.client,
        ...(this.tokenUrl ? { tokenUrl: this.tokenUrl } : {}),
        timeoutMs: this.requestTimeoutMs,
      });
      client.setCredentials({ refresh_token: secrets.refreshToken });
      entry = { client, key };
      this.clients.set(account, entry);
    }
    try {
      await entry.client.getAccessToken();
    } catch (error) {
      throw tokenEndpointError(account, describeGoogleError(error), error);
    }
    const grant = readGrant(entry.client.credentials);
    if (!grant.ok || !grant.value.accessToken)
      throw new MailboxUnavailableError(account, "the OAuth token endpoint answered without an access token");
    if (!canImport(grant.value)) {
      this.clients.delete(account);
      throw new MailboxAuthorizationError(
        account,
        `the token was granted without a Gmail import scope (it has: ${grant.value.scopes.join(" ")}); authorize the account again`,
      );
    }
    return entry.client;
  }

  private async readSecrets(account: string, uncached: boolean): Promise<AccountSecrets> {
    const clientName = oauthClientParameter(this.environment);
    const tokenName = refreshTokenParameter(this.environment, account);
    const [clientText, tokenText] = await Promise.all([this.secret(clientName, uncached), this.secret(tokenName, uncached)]);
    const unset = (value: string | undefined) => value === undefined || value.trim() === "" || value === PARAMETER_PLACEHOLDER;
    if (unset(clientText.value)) {
      throw new MailboxAuthorizationError(
        account,
        `the Google OAuth client is not configured (SSM ${clientName}); store it with the ses-mail CLI`,
      );
    }
    const client = parseOAuthClient(clientText.value!);
    if (!client.ok) throw new MailboxAuthorizationError(account, `the Google OAuth client in SSM ${clientName} ${client.problem}`);
    if (unset(tokenText.value)) {
      throw new MailboxAuthorizationError(
        account,
        `no refresh token for this account (SSM ${tokenName}); authorize it with the ses-mail CLI`,
      );
    }
    const token = parseStoredRefreshToken(tokenText.value!);
    if (!token.ok) throw new MailboxAuthorizationError(account, `the refresh token in SSM ${tokenName} ${token.problem}`);
    return { client: client.value, refreshToken: token.value.refreshToken, fromCache: clientText.fromCache || tokenText.fromCache };
  }

  private async secret(name: string, uncached: boolean): Promise<{ value: string | undefined; fromCache: boolean }> {
    const cached = this.secretCache.get(name);
    if (!uncached && cached && this.now().getTime() - cached.readAtMs < this.secretCacheTtlMs)
      return { value: cached.value, fromCache: true };
    // Concurrent deliveries for one account share one read.
    let reading = this.secretReads.get(name);
    if (!reading) {
      reading = this.secrets.getSecret(name).finally(() => this.secretReads.delete(name));
      this.secretReads.set(name, reading);
    }
    const value = await reading;
    this.secretCache.set(name, { value, readAtMs: this.now().getTime() });
    return { value, fromCache: false };
  }
}
