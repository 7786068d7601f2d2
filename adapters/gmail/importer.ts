/**
 * Gmail `users.messages.import` through the media upload endpoint, with the resumable protocol:
 *
 *   POST {base}/upload/gmail/v1/users/me/messages/import?uploadType=resumable&internalDateSource=receivedTime
 *        Authorization: Bearer …, Content-Type: application/json, X-Upload-Content-Type: message/rfc822,
 *        X-Upload-Content-Length: <size>;  body {"labelIds": [...]}          → 200, Location: <session URI>
 *   PUT  <session URI>, Content-Type: message/rfc822, Content-Length: <size>; body: the raw message
 *                                                                             → 200/201, the Message resource
 *
 * The small JSON requests use `fetch`; the PUT uses node:http(s) (see putStream for why).
 *
 * Why resumable rather than multipart: the first request carries only the metadata, so an expired
 * access token (401), a bad label (400) or a rate limit surfaces before a byte of a 40 MB message is
 * read from S3, and a 401 is retried with a fresh token without re-opening the message. The message is
 * streamed from the store straight into the PUT, unchanged and never held in memory.
 *
 * Errors are classified for the forwarder: MailboxAuthorizationError (an operator must act: park),
 * MailboxUnavailableError (throttled, 5xx, network: retry later), MailboxRejectedError (permanent: DLQ).
 */
import { z } from "zod";
import { MailboxAuthorizationError, MailboxRejectedError, MailboxUnavailableError } from "../../core/errors";
import { GMAIL_UPLOAD_MAX_BYTES, GOOGLE_REQUEST_TIMEOUT_MS } from "../../core/limits";
import type { MailboxImporter, StoredMessage } from "../../core/ports";
import {
  defaultFetch,
  googleErrorFromText,
  isTransientStatus,
  networkFailure,
  putStream,
  RATE_LIMIT_REASONS,
  readGoogleError,
  type FetchFunction,
  type GoogleErrorInfo,
  type StreamedResponse,
} from "./google-http";
import type { AccessTokenProvider } from "./oauth";

export const GMAIL_API_BASE_URL = "https://gmail.googleapis.com";

export interface GmailImporterOptions {
  readonly tokens: AccessTokenProvider;
  /** Scheme and host of the Gmail API; a test server stands in for Google here. */
  readonly apiBaseUrl?: string;
  readonly fetch?: FetchFunction;
  /** Timeout of the session request; the upload itself is bounded by the function's timeout. */
  readonly requestTimeoutMs?: number;
}

function messageSchema() {
  return z.object({ id: z.string().min(1), threadId: z.string().optional() }).loose();
}

/** Ends a stream we will not read (or finished reading), so its socket is released. */
function discard(body: NodeJS.ReadableStream): void {
  const stream = body as NodeJS.ReadableStream & { destroy?: () => void; destroyed?: boolean };
  if (typeof stream.destroy === "function" && !stream.destroyed) stream.destroy();
}

export class GmailImporter implements MailboxImporter {
  private readonly tokens: AccessTokenProvider;
  private readonly base: URL;
  private readonly fetch: FetchFunction;
  private readonly requestTimeoutMs: number;
  private readonly schema: ReturnType<typeof messageSchema>;

  constructor(options: GmailImporterOptions) {
    this.tokens = options.tokens;
    this.base = new URL(options.apiBaseUrl ?? GMAIL_API_BASE_URL);
    this.fetch = options.fetch ?? defaultFetch();
    this.requestTimeoutMs = options.requestTimeoutMs ?? GOOGLE_REQUEST_TIMEOUT_MS;
    this.schema = messageSchema();
  }

  async importMessage(account: string, message: StoredMessage, labels: readonly string[]): Promise<{ id: string }> {
    try {
      if (message.size > GMAIL_UPLOAD_MAX_BYTES) {
        throw new MailboxRejectedError(account, 413, `the message is ${message.size} bytes, over Gmail's upload limit of ${GMAIL_UPLOAD_MAX_BYTES}`);
      }
      let token = await this.tokens.accessToken(account);
      let session = await this.startSession(account, token, message.size, labels);
      if (session.kind === "unauthorized") {
        // The cached token was revoked or expired early: one fresh token, then it is the operator's turn.
        token = await this.tokens.accessToken(account, { forceRefresh: true });
        session = await this.startSession(account, token, message.size, labels);
        if (session.kind === "unauthorized") throw this.classify(account, session.info, "starting the upload");
      }
      return await this.upload(account, token, session.url, message);
    } finally {
      discard(message.body);
    }
  }

  private async startSession(
    account: string,
    token: string,
    size: number,
    labels: readonly string[],
  ): Promise<{ kind: "session"; url: URL } | { kind: "unauthorized"; info: GoogleErrorInfo }> {
    const url = new URL("/upload/gmail/v1/users/me/messages/import", this.base);
    url.searchParams.set("uploadType", "resumable");
    url.searchParams.set("internalDateSource", "receivedTime");
    let response: Response;
    try {
      response = await this.fetch(url.toString(), {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json; charset=UTF-8",
          "x-upload-content-type": "message/rfc822",
          "x-upload-content-length": String(size),
        },
        body: JSON.stringify({ labelIds: labels }),
        redirect: "manual",
        signal: AbortSignal.timeout(this.requestTimeoutMs),
      });
    } catch (error) {
      throw new MailboxUnavailableError(account, `Gmail did not answer the upload request: ${networkFailure(error)}`, { cause: error });
    }
    if (response.status === 401) return { kind: "unauthorized", info: await readGoogleError(response) };
    if (!response.ok) throw this.classify(account, await readGoogleError(response), "starting the upload");
    await response.body?.cancel();
    const location = response.headers.get("location");
    if (!location) throw new MailboxUnavailableError(account, `Gmail started an upload without a session URI (HTTP ${response.status})`);
    let sessionUrl: URL;
    try {
      sessionUrl = new URL(location, this.base);
    } catch (error) {
      throw new MailboxUnavailableError(account, "Gmail returned a session URI that is not a URL", { cause: error });
    }
    if (sessionUrl.protocol !== this.base.protocol) {
      throw new MailboxUnavailableError(account, `Gmail returned a session URI with scheme ${sessionUrl.protocol}`);
    }
    return { kind: "session", url: sessionUrl };
  }

  private async upload(account: string, token: string, sessionUrl: URL, message: StoredMessage): Promise<{ id: string }> {
    let response: StreamedResponse;
    try {
      response = await putStream(
        sessionUrl,
        {
          // The session URI is the upload's capability; the token goes only to the API's own origin.
          ...(sessionUrl.origin === this.base.origin ? { authorization: `Bearer ${token}` } : {}),
          "content-type": "message/rfc822",
          "content-length": String(message.size),
        },
        // The stored bytes, as they arrive from the store: never decoded, never buffered whole.
        message.body,
      );
    } catch (error) {
      throw new MailboxUnavailableError(account, `the upload to Gmail failed: ${networkFailure(error)}`, { cause: error });
    }
    if (response.status === 308) {
      throw new MailboxUnavailableError(account, "Gmail received only part of the upload (308); it is retried from the start");
    }
    if (response.status < 200 || response.status > 299) {
      const info = googleErrorFromText(response.status, response.text, response.headers["retry-after"]);
      // A 401 here would mean the token expired during the upload: the stream is spent, so retry later.
      if (info.status === 401) throw new MailboxUnavailableError(account, `Gmail refused the upload's credentials (${info.message})`);
      throw this.classify(account, info, "uploading the message");
    }
    let json: unknown;
    try {
      json = JSON.parse(response.text);
    } catch (error) {
      throw new MailboxUnavailableError(account, "Gmail confirmed the upload with a body that is not JSON", { cause: error });
    }
    const parsed = this.schema.safeParse(json);
    if (!parsed.success) throw new MailboxUnavailableError(account, "Gmail confirmed the upload without a message id", { cause: parsed.error });
    return { id: parsed.data.id };
  }

  private classify(account: string, info: GoogleErrorInfo, phase: string): Error {
    const text = `Gmail answered ${info.status} ${phase}: ${info.message}${info.reasons.length > 0 ? ` [${info.reasons.join(", ")}]` : ""}`;
    const rateLimited = info.status === 403 && info.reasons.some((reason) => RATE_LIMIT_REASONS.includes(reason));
    if (isTransientStatus(info.status) || rateLimited) {
      return new MailboxUnavailableError(account, text, info.retryAfterSeconds !== undefined ? { retryAfterSeconds: info.retryAfterSeconds } : {});
    }
    // 401 after a fresh token, or 403 for a missing scope or a domain policy: the account must be authorized again.
    if (info.status === 401 || info.status === 403) return new MailboxAuthorizationError(account, text);
    return new MailboxRejectedError(account, info.status, text);
  }
}
