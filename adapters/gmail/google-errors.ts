/**
 * Google's failures read into one summary, and classified for the forwarder:
 * - MailboxAuthorizationError: an operator must act (the refresh token expired or was revoked, the client
 *   is wrong, the scope is missing); the forwarder parks the delivery.
 * - MailboxUnavailableError: try again later (throttling, 5xx, timeouts, the network).
 * - MailboxRejectedError: Gmail refused this message for good (another 4xx); the DLQ keeps it.
 *
 * The libraries raise a GaxiosError carrying the response; our own upload reads the body as text. Both
 * carry one of Google's two error shapes:
 * - Google APIs: `{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED", "errors": [{"reason": "rateLimitExceeded"}]}}`
 * - OAuth token endpoint: `{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}`
 */
import { MailboxAuthorizationError, MailboxRejectedError, MailboxUnavailableError } from "../../core/errors";

/** Enough of an error body for a log line; Google's error bodies are small, an HTML error page is not. */
const ERROR_BODY_MAX_CHARS = 4000;

/** Gmail answers some rate limits with 403 and one of these reasons instead of 429. */
const RATE_LIMIT_REASONS: readonly string[] = ["rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded", "quotaExceeded"];

export interface GoogleErrorInfo {
  /** The HTTP status; undefined when no answer came (network, timeout). */
  readonly status?: number;
  /** Google's message, the start of a body that is not Google's JSON, or what went wrong on the network. */
  readonly message: string;
  /** `errors[].reason` of an API error (`rateLimitExceeded`, `insufficientPermissions`, …). */
  readonly reasons: readonly string[];
  /** The OAuth error code (`invalid_grant`, …) of a token endpoint error, and its description. */
  readonly oauthError?: string;
  readonly oauthDescription?: string;
  /** Seconds from a Retry-After header, when there is one. */
  readonly retryAfterSeconds?: number;
}

function retryAfter(header: string | null | undefined, nowMs: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - nowMs) / 1000));
}

function fromBody(status: number, body: unknown, retryAfterHeader: string | null | undefined, nowMs: number): GoogleErrorInfo {
  const after = retryAfter(retryAfterHeader, nowMs);
  const base = { status, ...(after !== undefined ? { retryAfterSeconds: after } : {}) };
  let value = body;
  if (typeof body === "string") {
    try {
      value = JSON.parse(body.slice(0, ERROR_BODY_MAX_CHARS));
    } catch {
      return { ...base, message: body.slice(0, ERROR_BODY_MAX_CHARS).trim() || `HTTP ${status}`, reasons: [] };
    }
  }
  const record = (value ?? {}) as { error?: unknown; error_description?: unknown };
  if (typeof record.error === "string") {
    const description = typeof record.error_description === "string" ? record.error_description : "";
    return {
      ...base,
      message: description ? `${record.error}: ${description}` : record.error,
      reasons: [],
      oauthError: record.error,
      ...(description ? { oauthDescription: description } : {}),
    };
  }
  if (typeof record.error === "object" && record.error !== null) {
    const error = record.error as { message?: unknown; status?: unknown; errors?: unknown };
    const reasons = Array.isArray(error.errors)
      ? error.errors.flatMap((entry) =>
          typeof (entry as { reason?: unknown })?.reason === "string" ? [(entry as { reason: string }).reason] : [],
        )
      : [];
    const message = typeof error.message === "string" ? error.message : JSON.stringify(error).slice(0, 500);
    return { ...base, message: typeof error.status === "string" ? `${error.status}: ${message}` : message, reasons };
  }
  return {
    ...base,
    message: typeof body === "string" && body.trim() ? body.slice(0, ERROR_BODY_MAX_CHARS).trim() : `HTTP ${status}`,
    reasons: [],
  };
}

/** A failed response's status, body text and Retry-After header as a GoogleErrorInfo. */
export function googleErrorFromText(status: number, body: string, retryAfterHeader?: string | null, nowMs = Date.now()): GoogleErrorInfo {
  return fromBody(status, body, retryAfterHeader, nowMs);
}

/**
 * Describes a failure without an answer (DNS, reset, timeout) from its chain of causes. Duck-typed: an
 * error thrown by the runtime's fetch may come from another realm (as under jest), failing `instanceof Error`.
 */
export function networkFailure(error: unknown): string {
  const messages: string[] = [];
  for (
    let current: unknown = error;
    typeof (current as Error | undefined)?.message === "string" && messages.length < 4;
    current = (current as { cause?: unknown }).cause
  ) {
    const { name, message, code } = current as Error & { code?: unknown };
    if (name === "TimeoutError" || code === "TimeoutError") return "the request timed out";
    if (!messages.includes(message)) messages.push(message);
  }
  return messages.length > 0 ? messages.join(": ") : String(error);
}

/**
 * google-auth-library, loaded when an error is read rather than with this module: local mode imports
 * the forwarder, and with it this file, without ever calling Google (0.15 s of each start).
 */
function gaxios(): typeof import("google-auth-library").gaxios {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  return (require("google-auth-library") as typeof import("google-auth-library")).gaxios;
}

/** What a google-auth-library or Gmail client call failed with. */
export function describeGoogleError(error: unknown, nowMs = Date.now()): GoogleErrorInfo {
  if (error instanceof gaxios().GaxiosError && error.response) {
    const { status, data, headers } = error.response as { status: number; data: unknown; headers?: Headers | Record<string, string> };
    const header = headers instanceof Headers ? headers.get("retry-after") : headers?.["retry-after"];
    return fromBody(status, data, header, nowMs);
  }
  return { message: networkFailure(error), reasons: [] };
}

/** True for failures worth retrying later: no answer, timeouts, throttling and server errors. */
function isTransient(info: GoogleErrorInfo): boolean {
  return info.status === undefined || info.status === 408 || info.status === 429 || info.status >= 500;
}

function retryOptions(info: GoogleErrorInfo, cause: unknown): { cause: unknown; retryAfterSeconds?: number } {
  return { cause, ...(info.retryAfterSeconds !== undefined ? { retryAfterSeconds: info.retryAfterSeconds } : {}) };
}

/** A failure of the OAuth token endpoint (refreshing an account's access token). */
export function tokenEndpointError(
  account: string,
  info: GoogleErrorInfo,
  cause?: unknown,
): MailboxUnavailableError | MailboxAuthorizationError {
  if (isTransient(info)) {
    return new MailboxUnavailableError(
      account,
      info.status === undefined
        ? `the OAuth token endpoint did not answer: ${info.message}`
        : `the OAuth token endpoint answered ${info.status} (${info.message})`,
      retryOptions(info, cause),
    );
  }
  // invalid_grant (expired or revoked), invalid_client, unauthorized_client, …: an operator must act.
  return new MailboxAuthorizationError(account, `the OAuth token endpoint refused the refresh token: ${info.status} ${info.message}`, {
    cause,
  });
}

/** A failure of a Gmail API call, in `phase` ("starting the upload", …). */
export function gmailError(account: string, info: GoogleErrorInfo, phase: string, cause?: unknown): Error {
  // The client refreshes the token itself after a 401; when that refresh fails, the token endpoint's error surfaces here.
  if (info.oauthError !== undefined) return tokenEndpointError(account, info, cause);
  if (info.status === undefined) return new MailboxUnavailableError(account, `Gmail did not answer ${phase}: ${info.message}`, { cause });
  const text = `Gmail answered ${info.status} ${phase}: ${info.message}${info.reasons.length > 0 ? ` [${info.reasons.join(", ")}]` : ""}`;
  const rateLimited = info.status === 403 && info.reasons.some((reason) => RATE_LIMIT_REASONS.includes(reason));
  if (isTransient(info) || rateLimited) return new MailboxUnavailableError(account, text, retryOptions(info, cause));
  // 401 after a fresh token, or 403 for a missing scope or a domain policy: the account must be authorized again.
  if (info.status === 401 || info.status === 403) return new MailboxAuthorizationError(account, text, { cause });
  return new MailboxRejectedError(account, info.status, text, { cause });
}
