/**
 * The three Google OAuth documents ses-mail reads and writes, each with one parser:
 * - the OAuth client JSON, as downloaded from the Cloud console (`{"installed": {client_id, client_secret, …}}`,
 *   or `{"web": …}`, or just the two fields), which `ses-mail oauth set-client` stores in SSM and the
 *   forwarder and `oauth refresh` read back;
 * - an account's stored refresh token, the SecureString `{refresh_token, created_at, expires_at}` that
 *   `ses-mail oauth refresh` writes and the forwarder reads (a bare token is accepted too);
 * - the token endpoint's answer, as google-auth-library hands it over (`Credentials`), read by the CLI after
 *   the consent and by the forwarder after each refresh.
 * Zod schemas are built on first use (core/built-once.ts): a module-level schema cannot be serialized into a Lambda.
 */
import { z } from "zod";
import { builtOnce } from "../../core/built-once";

/** The narrowest Gmail scope `users.messages.import` accepts: "Add emails into your Gmail mailbox". */
export const GMAIL_INSERT_SCOPE = "https://www.googleapis.com/auth/gmail.insert";

/** Scopes that allow `users.messages.import`; a token whose scope list names none of them cannot import. */
export const GMAIL_IMPORT_SCOPES: readonly string[] = [
  GMAIL_INSERT_SCOPE,
  "https://www.googleapis.com/auth/gmail.modify",
  "https://mail.google.com/",
];

/**
 * The narrowest Gmail scope that lists and creates labels (`users.labels.list`, `users.labels.create`):
 * "See and edit your email labels". It reaches no message, and Google classes it non-sensitive. ses-mail
 * asks for it so a rule can name labels as a person sees them (core/labels.ts).
 */
export const GMAIL_LABELS_SCOPE = "https://www.googleapis.com/auth/gmail.labels";

/** Scopes that allow listing and creating labels. */
export const GMAIL_LABEL_SCOPES: readonly string[] = [
  GMAIL_LABELS_SCOPE,
  "https://www.googleapis.com/auth/gmail.modify",
  "https://mail.google.com/",
];

/** Whether granted scopes allow managing labels; an empty list (the endpoint did not say) is given the benefit of the doubt. */
export function canManageLabels(scopes: readonly string[]): boolean {
  return scopes.length === 0 || scopes.some((scope) => GMAIL_LABEL_SCOPES.includes(scope));
}

export interface OAuthClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
  /**
   * What the JSON was: a console "Desktop app" client (`installed`), a "Web application" client (`web`,
   * whose loopback redirects Google refuses), or the two fields alone.
   */
  readonly kind: "installed" | "web" | "fields";
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

function clientSchema() {
  return builtOnce("adapters/gmail/credentials:clientSchema", () => {
    const fields = z.object({ client_id: z.string().min(1), client_secret: z.string().min(1) }).loose();
    const read = (value: z.infer<typeof fields>, kind: OAuthClientCredentials["kind"]): OAuthClientCredentials => ({
      clientId: value.client_id,
      clientSecret: value.client_secret,
      kind,
    });
    return z.union([
      z
        .object({ installed: fields })
        .loose()
        .transform((value) => read(value.installed, "installed")),
      z
        .object({ web: fields })
        .loose()
        .transform((value) => read(value.web, "web")),
      fields.transform((value) => read(value, "fields")),
    ]);
  });
}

/** Reads an OAuth client JSON; `problem` says what is wrong with it in a few words. */
export function parseOAuthClient(text: string): Parsed<OAuthClientCredentials> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, problem: "is not JSON" };
  }
  const parsed = clientSchema().safeParse(json);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, problem: "has no client_id and client_secret" };
}

/** An account's refresh token as stored in SSM. */
export interface StoredRefreshToken {
  readonly refreshToken: string;
  readonly createdAt?: string;
  readonly expiresAt?: string;
}

function storedTokenSchema() {
  return builtOnce("adapters/gmail/credentials:storedTokenSchema", () => {
    return z.object({ refresh_token: z.string().min(1), created_at: z.string().optional(), expires_at: z.string().optional() }).loose();
  });
}

export function parseStoredRefreshToken(text: string): Parsed<StoredRefreshToken> {
  const trimmed = text.trim();
  if (trimmed === "") return { ok: false, problem: "is empty" };
  if (!trimmed.startsWith("{")) return { ok: true, value: { refreshToken: trimmed } }; // a bare token
  let json: unknown;
  try {
    json = JSON.parse(trimmed);
  } catch {
    return { ok: false, problem: "is not JSON" };
  }
  const parsed = storedTokenSchema().safeParse(json);
  if (!parsed.success) return { ok: false, problem: "has no refresh_token" };
  const { refresh_token, created_at, expires_at } = parsed.data;
  return {
    ok: true,
    value: {
      refreshToken: refresh_token,
      ...(created_at ? { createdAt: created_at } : {}),
      ...(expires_at ? { expiresAt: expires_at } : {}),
    },
  };
}

export function serializeStoredRefreshToken(token: Required<StoredRefreshToken>): string {
  return JSON.stringify({ refresh_token: token.refreshToken, created_at: token.createdAt, expires_at: token.expiresAt });
}

/** What the token endpoint granted. */
export interface Grant {
  readonly accessToken?: string;
  readonly refreshToken?: string;
  /** The granted scopes; empty when the endpoint did not say. */
  readonly scopes: readonly string[];
  /** The signed-in account, from the ID token (`openid email` scopes), when there is one. */
  readonly email?: string;
}

function tokenResponseSchema() {
  return builtOnce("adapters/gmail/credentials:tokenResponseSchema", () => {
    const text = z.string().min(1).nullish();
    return z
      .object({ access_token: text, refresh_token: text, scope: z.string().nullish(), id_token: text, token_type: z.string().nullish() })
      .loose();
  });
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

/** Reads the token endpoint's answer (google-auth-library's `Credentials`). */
export function readGrant(tokens: unknown): Parsed<Grant> {
  const parsed = tokenResponseSchema().safeParse(tokens);
  if (!parsed.success) return { ok: false, problem: "is not a token response" };
  const { access_token, refresh_token, scope, id_token } = parsed.data;
  const email = id_token ? idTokenEmail(id_token) : undefined;
  return {
    ok: true,
    value: {
      ...(access_token ? { accessToken: access_token } : {}),
      ...(refresh_token ? { refreshToken: refresh_token } : {}),
      scopes: (scope ?? "").split(" ").filter(Boolean),
      ...(email ? { email } : {}),
    },
  };
}

/** Whether a grant may import into Gmail; a grant that lists no scopes is given the benefit of the doubt. */
export function canImport(grant: Grant): boolean {
  return grant.scopes.length === 0 || grant.scopes.some((scope) => GMAIL_IMPORT_SCOPES.includes(scope));
}
