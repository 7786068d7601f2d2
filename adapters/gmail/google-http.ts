/**
 * HTTP helpers shared by the OAuth token exchange and the Gmail upload: requests with a timeout, and
 * Google's two error shapes read into one summary.
 *
 * - Google APIs: `{"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED", "errors": [{"reason": "rateLimitExceeded"}]}}`
 * - OAuth token endpoint: `{"error": "invalid_grant", "error_description": "Token has been expired or revoked."}`
 */

/** Enough of an error body for a log line; Google's error bodies are small, an HTML error page is not. */
const ERROR_BODY_MAX_CHARS = 4000;

/** `fetch` as the runtime provides it, looked up at call time (a captured global would be serialized by value). */
export type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>;

export function defaultFetch(): FetchFunction {
  return (input, init) => globalThis.fetch(input, init);
}

export interface GoogleErrorInfo {
  readonly status: number;
  /** Google's message, or the start of the body when it is not Google's JSON. */
  readonly message: string;
  /** `errors[].reason` of an API error (`rateLimitExceeded`, `insufficientPermissions`, …). */
  readonly reasons: readonly string[];
  /** The OAuth error code (`invalid_grant`, …) of a token endpoint error. */
  readonly oauthError?: string;
  /** Seconds from a Retry-After header, when there is one. */
  readonly retryAfterSeconds?: number;
}

function retryAfter(header: string | null, nowMs: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - nowMs) / 1000));
}

/** Reads a failed response's body (bounded) into a GoogleErrorInfo. */
export async function readGoogleError(response: Response, nowMs = Date.now()): Promise<GoogleErrorInfo> {
  let text = "";
  try {
    text = (await response.text()).slice(0, ERROR_BODY_MAX_CHARS);
  } catch {
    // the body could not be read; the status still says enough
  }
  const after = retryAfter(response.headers.get("retry-after"), nowMs);
  const base = { status: response.status, ...(after !== undefined ? { retryAfterSeconds: after } : {}) };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ...base, message: text.trim() || response.statusText || `HTTP ${response.status}`, reasons: [] };
  }
  const body = (parsed ?? {}) as { error?: unknown; error_description?: unknown };
  if (typeof body.error === "string") {
    const description = typeof body.error_description === "string" ? body.error_description : "";
    return { ...base, message: description ? `${body.error}: ${description}` : body.error, reasons: [], oauthError: body.error };
  }
  if (typeof body.error === "object" && body.error !== null) {
    const error = body.error as { message?: unknown; status?: unknown; errors?: unknown };
    const reasons = Array.isArray(error.errors)
      ? error.errors.flatMap((entry) => (typeof (entry as { reason?: unknown })?.reason === "string" ? [(entry as { reason: string }).reason] : []))
      : [];
    const message = typeof error.message === "string" ? error.message : JSON.stringify(error).slice(0, 500);
    return { ...base, message: typeof error.status === "string" ? `${error.status}: ${message}` : message, reasons };
  }
  return { ...base, message: text.trim() || `HTTP ${response.status}`, reasons: [] };
}

/** True for failures worth retrying later: timeouts, throttling and server errors. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Gmail answers some rate limits with 403 and one of these reasons instead of 429. */
export const RATE_LIMIT_REASONS: readonly string[] = ["rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded", "quotaExceeded"];

/** Describes a network-level failure (DNS, reset, timeout) for an error message. */
export function networkFailure(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === "TimeoutError" || error.name === "AbortError") return "the request timed out";
    const cause = (error as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? `: ${cause.message}` : "";
    return `${error.message}${detail}`;
  }
  return String(error);
}
