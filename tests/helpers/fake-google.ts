/**
 * A Gmail-compatible HTTP server for tests, which Google's own libraries talk to (google-auth-library's
 * OAuth2Client with this token URL, the `@googleapis/gmail` client with this root URL): Google's OAuth
 * token endpoint, the Gmail upload endpoint of `users.messages.import` with the resumable protocol, and
 * `users.labels.list` / `users.labels.create`. It checks what a real server would refuse (grant type,
 * client, bearer token and its scopes, upload headers, declared length, label ids, label names Gmail
 * reserves or already has) and answers with Google's error shapes. Message bodies are hashed as they arrive, never buffered whole (small ones are
 * also kept for byte comparison).
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export const FAKE_CLIENT = { client_id: "1234-test.apps.googleusercontent.com", client_secret: "GOCSPX-test-secret" };

/** System labels Gmail accepts on import (a subset; enough for ses-mail). Their names are their ids. */
const SYSTEM_LABELS = ["INBOX", "UNREAD", "SPAM", "STARRED", "IMPORTANT", "TRASH", "CATEGORY_PERSONAL"];

/** Names Gmail refuses for a user label (users.labels.create answers 400 "Invalid label name"). */
const RESERVED_LABEL_NAMES = ["muted", "sent", "drafts", "chats", "all mail"];

export const GMAIL_INSERT_SCOPE = "https://www.googleapis.com/auth/gmail.insert";
export const GMAIL_LABELS_SCOPE = "https://www.googleapis.com/auth/gmail.labels";
/** What a consent by today's `ses-mail oauth refresh` grants. */
export const DEFAULT_SCOPES: readonly string[] = [GMAIL_INSERT_SCOPE, GMAIL_LABELS_SCOPE];

/** Bodies up to this size are kept for byte-for-byte comparison. */
const KEEP_BODY_BYTES = 1024 * 1024;

export interface ImportRecord {
  readonly account: string;
  readonly id: string;
  readonly labels: readonly string[];
  readonly query: Readonly<Record<string, string>>;
  readonly bytes: number;
  readonly sha256: string;
  /** The bytes, for messages up to 1 MiB. */
  readonly body?: Buffer;
}

export type Endpoint = "token" | "session" | "upload" | "labels-list" | "labels-create";

/** A user label of a mailbox. */
export interface FakeLabel {
  readonly id: string;
  readonly name: string;
}

export interface ScriptedFailure {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  /** Only for requests concerning this account (session/upload); any account when absent. */
  readonly account?: string;
}

export interface FakeGoogle {
  readonly baseUrl: string;
  readonly tokenUrl: string;
  /** Every successful import, in order. */
  readonly imports: ImportRecord[];
  /** Requests seen per endpoint. */
  readonly requests: Record<Endpoint, number>;
  /**
   * Registers a refresh token for an account, the user labels its mailbox has (an id alone is named
   * after itself) and the scopes its consent granted (default DEFAULT_SCOPES).
   */
  addAccount(account: string, refreshToken: string, options?: { userLabels?: Array<string | FakeLabel>; scopes?: readonly string[] }): void;
  /** The user labels of an account's mailbox, as they are now (created ones included). */
  labelsOf(account: string): FakeLabel[];
  /** A label made in Gmail by the person, behind ses-mail's back. */
  addLabel(account: string, label: FakeLabel): void;
  /** Makes a refresh token invalid (`invalid_grant`), as an expiry or a revocation would. */
  revokeRefreshToken(refreshToken: string): void;
  /** Invalidates every access token issued so far (Gmail then answers 401). */
  revokeAccessTokens(): void;
  /** The next `times` (default 1) requests to `endpoint` (optionally for one account) answer with this instead. */
  failNext(endpoint: Endpoint, failure: ScriptedFailure, times?: number): void;
  /** Called with the number of bytes received when the first chunk of an upload arrives. */
  onFirstUploadChunk?: (account: string) => void;
  close(): Promise<void>;
}

function googleError(status: number, message: string, reason: string) {
  return {
    error: {
      code: status,
      message,
      errors: [{ domain: "global", reason, message }],
      status: status === 401 ? "UNAUTHENTICATED" : "INVALID_ARGUMENT",
    },
  };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startFakeGoogle(): Promise<FakeGoogle> {
  const refreshTokens = new Map<string, { account: string; valid: boolean; scopes: readonly string[] }>();
  const accessTokens = new Map<string, { account: string; valid: boolean; scopes: readonly string[] }>();
  const userLabels = new Map<string, FakeLabel[]>();
  let nextLabelId = 100;
  const sessions = new Map<string, { account: string; labels: string[]; length: number; query: Record<string, string> }>();
  const failures: Array<{ endpoint: Endpoint; failure: ScriptedFailure }> = [];
  const imports: ImportRecord[] = [];
  const requests: Record<Endpoint, number> = { token: 0, session: 0, upload: 0, "labels-list": 0, "labels-create": 0 };
  let baseUrl = "";

  function scripted(endpoint: Endpoint, account?: string): ScriptedFailure | undefined {
    const index = failures.findIndex(
      (entry) => entry.endpoint === endpoint && (!entry.failure.account || entry.failure.account === account),
    );
    if (index === -1) return undefined;
    return failures.splice(index, 1)[0]!.failure;
  }

  function bearer(req: IncomingMessage): { account: string; scopes: readonly string[] } | undefined {
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
    const entry = match ? accessTokens.get(match[1]!) : undefined;
    return entry?.valid ? entry : undefined;
  }

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requests.token++;
    const form = new URLSearchParams((await readAll(req)).toString("utf8"));
    if (!String(req.headers["content-type"]).startsWith("application/x-www-form-urlencoded"))
      return send(res, 400, { error: "invalid_request", error_description: "form expected" });
    if (form.get("client_id") !== FAKE_CLIENT.client_id || form.get("client_secret") !== FAKE_CLIENT.client_secret) {
      return send(res, 401, { error: "invalid_client", error_description: "The OAuth client was not found." });
    }
    if (form.get("grant_type") !== "refresh_token") return send(res, 400, { error: "unsupported_grant_type" });
    const entry = refreshTokens.get(form.get("refresh_token") ?? "");
    const failure = scripted("token", entry?.account);
    if (failure) return send(res, failure.status, failure.body ?? {}, failure.headers);
    if (!entry?.valid) return send(res, 400, { error: "invalid_grant", error_description: "Token has been expired or revoked." });
    const accessToken = `ya29.${randomBytes(12).toString("hex")}`;
    accessTokens.set(accessToken, { account: entry.account, valid: true, scopes: entry.scopes });
    send(res, 200, { access_token: accessToken, expires_in: 3599, scope: entry.scopes.join(" "), token_type: "Bearer" });
  }

  async function startSession(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    requests.session++;
    const metadata = await readAll(req);
    const caller = bearer(req);
    const failure = scripted("session", caller?.account);
    if (failure) return send(res, failure.status, failure.body ?? googleError(failure.status, "scripted", "backendError"), failure.headers);
    if (!caller) return send(res, 401, googleError(401, "Invalid Credentials", "authError"));
    if (url.searchParams.get("internalDateSource") !== "receivedTime")
      return send(res, 400, googleError(400, "internalDateSource must be receivedTime here", "badRequest"));
    if (req.headers["x-upload-content-type"] !== "message/rfc822")
      return send(res, 400, googleError(400, "Media type must be message/rfc822", "badContent"));
    const length = Number(req.headers["x-upload-content-length"]);
    if (!Number.isInteger(length) || length <= 0) return send(res, 400, googleError(400, "X-Upload-Content-Length required", "badRequest"));
    if (!String(req.headers["content-type"]).startsWith("application/json"))
      return send(res, 400, googleError(400, "metadata must be JSON", "badRequest"));
    let labels: string[];
    try {
      labels = (JSON.parse(metadata.toString("utf8")) as { labelIds?: string[] }).labelIds ?? [];
    } catch {
      return send(res, 400, googleError(400, "Invalid JSON payload", "parseError"));
    }
    const known = [...SYSTEM_LABELS, ...(userLabels.get(caller.account) ?? []).map((label) => label.id)];
    const unknown = labels.find((label) => !known.includes(label));
    if (unknown) return send(res, 400, googleError(400, `Invalid label: ${unknown}`, "invalidArgument"));
    const uploadId = randomBytes(8).toString("hex");
    sessions.set(uploadId, { account: caller.account, labels, length, query: Object.fromEntries(url.searchParams) });
    res.writeHead(200, {
      location: `${baseUrl}/upload/gmail/v1/users/me/messages/import?uploadType=resumable&upload_id=${uploadId}`,
      "content-length": "0",
    });
    res.end();
  }

  async function upload(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    requests.upload++;
    const session = sessions.get(url.searchParams.get("upload_id") ?? "");
    if (!session) {
      await readAll(req);
      return send(res, 404, googleError(404, "upload session not found", "notFound"));
    }
    const failure = scripted("upload", session.account);
    if (failure) {
      req.resume();
      return send(res, failure.status, failure.body ?? googleError(failure.status, "scripted", "backendError"), failure.headers);
    }
    if (req.headers["content-type"] !== "message/rfc822") {
      req.resume();
      return send(res, 400, googleError(400, "wrong media type", "badContent"));
    }
    const hash = createHash("sha256");
    const kept: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of req) {
      if (bytes === 0) fake.onFirstUploadChunk?.(session.account);
      bytes += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
      if (bytes <= KEEP_BODY_BYTES) kept.push(chunk as Buffer);
    }
    if (bytes !== session.length)
      return send(res, 400, googleError(400, `received ${bytes} bytes, declared ${session.length}`, "badRequest"));
    sessions.delete(url.searchParams.get("upload_id")!);
    const id = randomBytes(8).toString("hex");
    imports.push({
      account: session.account,
      id,
      labels: session.labels,
      query: session.query,
      bytes,
      sha256: hash.digest("hex"),
      ...(bytes <= KEEP_BODY_BYTES ? { body: Buffer.concat(kept) } : {}),
    });
    send(res, 200, { id, threadId: id, labelIds: session.labels });
  }

  /** The caller of a labels request, or the error Gmail answers: no token, or a token without a labels scope. */
  function labelsCaller(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint): { account: string } | undefined {
    const caller = bearer(req);
    const failure = scripted(endpoint, caller?.account);
    if (failure) {
      send(res, failure.status, failure.body ?? googleError(failure.status, "scripted", "backendError"), failure.headers);
      return undefined;
    }
    if (!caller) {
      send(res, 401, googleError(401, "Invalid Credentials", "authError"));
      return undefined;
    }
    const allowed = [GMAIL_LABELS_SCOPE, "https://www.googleapis.com/auth/gmail.modify", "https://mail.google.com/"];
    if (!caller.scopes.some((scope) => allowed.includes(scope))) {
      send(res, 403, {
        error: {
          code: 403,
          message: "Request had insufficient authentication scopes.",
          errors: [{ domain: "global", reason: "insufficientPermissions", message: "Insufficient Permission" }],
          status: "PERMISSION_DENIED",
        },
      });
      return undefined;
    }
    return caller;
  }

  async function listLabels(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requests["labels-list"]++;
    await readAll(req);
    const caller = labelsCaller(req, res, "labels-list");
    if (!caller) return;
    const labels = [
      ...SYSTEM_LABELS.map((id) => ({ id, name: id, type: "system" })),
      ...(userLabels.get(caller.account) ?? []).map((label) => ({ id: label.id, name: label.name, type: "user" })),
    ];
    send(res, 200, { labels });
  }

  async function createLabel(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requests["labels-create"]++;
    const body = await readAll(req);
    const caller = labelsCaller(req, res, "labels-create");
    if (!caller) return;
    let name: unknown;
    try {
      name = (JSON.parse(body.toString("utf8")) as { name?: unknown }).name;
    } catch {
      return send(res, 400, googleError(400, "Invalid JSON payload", "parseError"));
    }
    if (typeof name !== "string" || name.trim() === "" || RESERVED_LABEL_NAMES.includes(name.toLowerCase())) {
      return send(res, 400, googleError(400, "Invalid label name", "invalidArgument"));
    }
    const mine = userLabels.get(caller.account) ?? [];
    const taken = [...SYSTEM_LABELS, ...mine.map((label) => label.name)].some((existing) => existing.toLowerCase() === name.toLowerCase());
    if (taken)
      return send(res, 409, {
        error: {
          code: 409,
          message: "Label name exists or conflicts",
          errors: [{ domain: "global", reason: "duplicate", message: "Label name exists or conflicts" }],
          status: "ABORTED",
        },
      });
    const label = { id: `Label_${nextLabelId++}`, name };
    userLabels.set(caller.account, [...mine, label]);
    send(res, 200, { ...label, type: "user", labelListVisibility: "labelShow", messageListVisibility: "show" });
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", baseUrl);
    const importPath = "/upload/gmail/v1/users/me/messages/import";
    const labelsPath = "/gmail/v1/users/me/labels";
    let route: Promise<void>;
    if (req.method === "POST" && url.pathname === "/token") route = token(req, res);
    else if (url.pathname === labelsPath && req.method === "GET") route = listLabels(req, res);
    else if (url.pathname === labelsPath && req.method === "POST") route = createLabel(req, res);
    else if (url.pathname === importPath && req.method === "POST" && url.searchParams.get("uploadType") === "resumable")
      route = startSession(req, res, url);
    else if (url.pathname === importPath && req.method === "PUT") route = upload(req, res, url);
    else route = Promise.resolve(send(res, 404, googleError(404, `no route ${req.method} ${url.pathname}`, "notFound")));
    route.catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, googleError(500, String(error), "backendError"));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const fake: FakeGoogle = {
    baseUrl,
    tokenUrl: `${baseUrl}/token`,
    imports,
    requests,
    addAccount(account, refreshToken, options = {}) {
      refreshTokens.set(refreshToken, { account, valid: true, scopes: options.scopes ?? DEFAULT_SCOPES });
      userLabels.set(
        account,
        (options.userLabels ?? []).map((label) => (typeof label === "string" ? { id: label, name: label } : label)),
      );
    },
    labelsOf(account) {
      return [...(userLabels.get(account) ?? [])];
    },
    addLabel(account, label) {
      userLabels.set(account, [...(userLabels.get(account) ?? []), label]);
    },
    revokeRefreshToken(refreshToken) {
      const entry = refreshTokens.get(refreshToken);
      if (entry) entry.valid = false;
    },
    revokeAccessTokens() {
      for (const entry of accessTokens.values()) entry.valid = false;
    },
    failNext(endpoint, failure, times = 1) {
      for (let i = 0; i < times; i++) failures.push({ endpoint, failure });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
