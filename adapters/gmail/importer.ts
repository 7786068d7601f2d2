/**
 * Gmail `users.messages.import` through the media upload endpoint, with the resumable protocol:
 *
 *   POST {base}/upload/gmail/v1/users/me/messages/import?uploadType=resumable&internalDateSource=receivedTime
 *        Authorization: Bearer …, Content-Type: application/json, X-Upload-Content-Type: message/rfc822,
 *        X-Upload-Content-Length: <size>;  body {"labelIds": [...]}          → 200, Location: <session URI>
 *   PUT  <session URI>, Content-Type: message/rfc822, Content-Length: <size>; body: the raw message
 *                                                                             → 200/201, the Message resource
 *
 * The first request goes through Google's Gmail client (`@googleapis/gmail`) with the account's
 * OAuth2Client (oauth.ts), which also refreshes a token Gmail answers 401 to and asks once more. The
 * PUT streams the message with node:http(s) (upload.ts: the client's own media upload would hold the
 * message in memory on the runtime's fetch), authorized with the same client's request headers.
 *
 * Why resumable rather than the client's multipart upload: the first request carries only the metadata,
 * so an expired or revoked token, a bad label or a rate limit surfaces before a byte of a 40 MB message
 * is read from S3; Google recommends it for large files. The message is streamed from the store straight
 * into the PUT, unchanged and never held in memory.
 *
 * Errors are classified for the forwarder (google-errors.ts): MailboxAuthorizationError (an operator must
 * act: park), MailboxUnavailableError (throttled, 5xx, network: retry later), MailboxRejectedError
 * (permanent: DLQ).
 */
import type { gmail_v1 } from "@googleapis/gmail";
import type { OAuth2Client } from "google-auth-library";
import { z } from "zod";
import { MailboxRejectedError, MailboxUnavailableError } from "../../core/errors";
import { GMAIL_UPLOAD_MAX_BYTES, GOOGLE_REQUEST_TIMEOUT_MS } from "../../core/limits";
import { discardBody, type MailboxImporter, type StoredMessage } from "../../core/ports";
import { describeGoogleError, gmailError, googleErrorFromText, networkFailure } from "./google-errors";
import { googleTransport, type GoogleAccounts } from "./oauth";
import { putStream, type StreamedResponse } from "./upload";
import { builtOnce } from "../../core/built-once";

export const GMAIL_API_BASE_URL = "https://gmail.googleapis.com/";

/**
 * The Gmail API client for every account (each call passes the account's OAuth2Client), on `rootUrl`.
 * It makes no retries of its own: SQS redelivery is the forwarder's backoff.
 */
export function createGmailClient(rootUrl: string = GMAIL_API_BASE_URL, timeoutMs: number = GOOGLE_REQUEST_TIMEOUT_MS): gmail_v1.Gmail {
  // Loaded on first use rather than with this module: local mode loads the forwarder, which imports this
  // file, and writes to a Maildir unless real Gmail is configured (about 0.15 s of each start). A package
  // `require` inside a function is serialized by reference, so the Lambda loads it from its archive.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use, see above
  const { gmail } = require("@googleapis/gmail") as typeof import("@googleapis/gmail");
  return gmail({ version: "v1", rootUrl, retry: false, ...googleTransport(timeoutMs) });
}

export interface GmailImporterOptions {
  readonly accounts: GoogleAccounts;
  /** Scheme and host of the Gmail API; a test server stands in for Google here. */
  readonly apiBaseUrl?: string;
  /** Timeout of the session request; the upload itself is bounded by the function's timeout. */
  readonly requestTimeoutMs?: number;
}

function messageSchema() {
  return builtOnce("adapters/gmail/importer:messageSchema", () => {
    return z.object({ id: z.string().min(1), threadId: z.string().optional() }).loose();
  });
}

function header(headers: unknown, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const value = (headers as Record<string, unknown> | undefined)?.[name];
  return typeof value === "string" ? value : undefined;
}

export class GmailImporter implements MailboxImporter {
  private readonly accounts: GoogleAccounts;
  private readonly base: URL;
  private readonly gmail: gmail_v1.Gmail;
  private readonly schema: ReturnType<typeof messageSchema>;

  constructor(options: GmailImporterOptions) {
    this.accounts = options.accounts;
    this.base = new URL(options.apiBaseUrl ?? GMAIL_API_BASE_URL);
    this.gmail = createGmailClient(this.base.toString(), options.requestTimeoutMs);
    this.schema = messageSchema();
  }

  async importMessage(account: string, message: StoredMessage, labels: readonly string[]): Promise<{ id: string }> {
    try {
      if (message.size > GMAIL_UPLOAD_MAX_BYTES) {
        throw new MailboxRejectedError(
          account,
          413,
          `the message is ${message.size} bytes, over Gmail's upload limit of ${GMAIL_UPLOAD_MAX_BYTES}`,
        );
      }
      const auth = await this.accounts.authorize(account);
      const sessionUrl = await this.startSession(account, auth, message.size, labels);
      return await this.upload(account, auth, sessionUrl, message);
    } finally {
      discardBody(message.body);
    }
  }

  private async startSession(account: string, auth: OAuth2Client, size: number, labels: readonly string[]): Promise<URL> {
    let location: string | undefined;
    try {
      const response = await this.gmail.users.messages.import(
        { auth, userId: "me", uploadType: "resumable", internalDateSource: "receivedTime", requestBody: { labelIds: [...labels] } },
        {
          // The upload endpoint: without a media body the client would call the metadata-only one.
          url: `${this.base.origin}/upload/gmail/v1/users/{userId}/messages/import`,
          headers: { "x-upload-content-type": "message/rfc822", "x-upload-content-length": String(size) },
        },
      );
      location = header(response.headers, "location");
    } catch (error) {
      throw gmailError(account, describeGoogleError(error), "starting the upload", error);
    }
    if (!location) throw new MailboxUnavailableError(account, "Gmail started an upload without a session URI");
    let sessionUrl: URL;
    try {
      sessionUrl = new URL(location, this.base);
    } catch (error) {
      throw new MailboxUnavailableError(account, "Gmail returned a session URI that is not a URL", { cause: error });
    }
    if (sessionUrl.protocol !== this.base.protocol) {
      throw new MailboxUnavailableError(account, `Gmail returned a session URI with scheme ${sessionUrl.protocol}`);
    }
    return sessionUrl;
  }

  private async upload(account: string, auth: OAuth2Client, sessionUrl: URL, message: StoredMessage): Promise<{ id: string }> {
    // The session URI is the upload's capability; the token goes only to the API's own origin.
    const authorization = sessionUrl.origin === this.base.origin ? (await auth.getRequestHeaders()).get("authorization") : null;
    let response: StreamedResponse;
    try {
      response = await putStream(
        sessionUrl,
        { ...(authorization ? { authorization } : {}), "content-type": "message/rfc822", "content-length": String(message.size) },
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
      throw gmailError(account, info, "uploading the message");
    }
    let json: unknown;
    try {
      json = JSON.parse(response.text);
    } catch (error) {
      throw new MailboxUnavailableError(account, "Gmail confirmed the upload with a body that is not JSON", { cause: error });
    }
    const parsed = this.schema.safeParse(json);
    if (!parsed.success)
      throw new MailboxUnavailableError(account, "Gmail confirmed the upload without a message id", { cause: parsed.error });
    return { id: parsed.data.id };
  }
}
