/**
 * SMTP users: the routing-table items the CLI writes and the SMTP credential manager provisions.
 *
 * Item (seed schema): `PK = SMTP_USER#<username>`, `SK = CREDENTIALS#v1`, `entity_type = SMTP_USER`,
 * `username`, `allowed_from` (addresses or `*@domain` patterns), `status` (`pending` → `active` or
 * `failed`), and, once provisioned, `iam_user_arn`, `iam_user_name`, `access_key_id`,
 * `encrypted_credentials` (base64 KMS ciphertext of `{"access_key_id","smtp_password"}` under
 * smtpCredentialsEncryptionContext), `updated_at`; `error` after a failure.
 * Setting an active item back to `pending` rotates its access key.
 */
import { z } from "zod";
import { domainProblem, isAddress } from "./addresses";
import { InvalidSmtpUserError } from "./errors";
import { IAM_USER_INLINE_POLICY_MAX_CHARS, IAM_USER_NAME_MAX_CHARS, SMTP_USERNAME_MAX_CHARS } from "./limits";
import { SMTP_USER_KEY_PREFIX, SMTP_USER_SORT_KEY } from "./table";
import { builtOnce } from "./built-once";

export const SmtpUserStatus = { Pending: "pending", Active: "active", Failed: "failed" } as const;
export type SmtpUserStatus = (typeof SmtpUserStatus)[keyof typeof SmtpUserStatus];

/** Every IAM user the manager creates starts with this; its IAM policy is scoped to `user/ses-smtp-user-*`. */
export const IAM_USER_PREFIX = "ses-smtp-user-";

/** The one inline policy the manager writes on each user. */
export const SMTP_SEND_POLICY_NAME = "ses-mail-smtp-send";

/** The SES actions an SMTP user may call (SMTP sends through SendRawEmail; SendEmail for completeness, as the seed). */
export const SMTP_SEND_ACTIONS: readonly string[] = ["ses:SendEmail", "ses:SendRawEmail"];

export interface SmtpUser {
  readonly username: string;
  readonly allowedFrom: readonly string[];
  readonly status: SmtpUserStatus;
  readonly iamUserArn?: string;
  readonly iamUserName?: string;
  readonly accessKeyId?: string;
}

/** Usernames: letters, digits, `.`, `_`, `-`; starting and ending with a letter or digit. */
const USERNAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

export function smtpUserKey(username: string): { PK: string; SK: string } {
  return { PK: `${SMTP_USER_KEY_PREFIX}${username}`, SK: SMTP_USER_SORT_KEY };
}

/** Validates a username before it becomes part of an IAM user name. Throws InvalidSmtpUserError. */
export function validateSmtpUsername(username: string): string {
  if (username.length === 0 || username.length > SMTP_USERNAME_MAX_CHARS) {
    throw new InvalidSmtpUserError(
      `SMTP username ${JSON.stringify(username)} must be 1 to ${SMTP_USERNAME_MAX_CHARS} characters (it becomes part of an IAM user name)`,
    );
  }
  if (!USERNAME.test(username)) {
    throw new InvalidSmtpUserError(
      `SMTP username ${JSON.stringify(username)} may use only letters, digits, ".", "_" and "-", and must start and end with a letter or digit`,
    );
  }
  return username;
}

/** `ses-smtp-user-{username}-{yyyymmddHHMMss}` (UTC), validated against IAM's limits. */
export function iamUserName(username: string, at: Date): string {
  validateSmtpUsername(username);
  const stamp = at.toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const name = `${IAM_USER_PREFIX}${username}-${stamp}`;
  if (name.length > IAM_USER_NAME_MAX_CHARS || !/^[\w+=,.@-]+$/.test(name))
    throw new InvalidSmtpUserError(`IAM user name ${name} is not valid`);
  return name;
}

/** The user name at the end of an IAM user ARN (`arn:aws:iam::123:user/path/name`). */
export function iamUserNameFromArn(arn: string): string | undefined {
  const match = /^arn:aws[\w-]*:iam::\d{12}:user\/(?:.*\/)?([\w+=,.@-]+)$/.exec(arn);
  return match?.[1];
}

/** Validates `allowed_from`: addresses or `*@domain`; trimmed and de-duplicated, case kept (IAM's StringLike is case-sensitive). */
export function validateAllowedFrom(entries: readonly string[]): string[] {
  const result: string[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    const ok = entry.startsWith("*@")
      ? domainProblem(entry.slice(2).toLowerCase()) === undefined
      : !entry.includes("*") && isAddress(entry);
    if (!ok) throw new InvalidSmtpUserError(`allowed_from entry ${JSON.stringify(raw)} is neither an address nor *@domain`);
    if (!result.includes(entry)) result.push(entry);
  }
  return result;
}

/**
 * The user's inline policy: SendEmail/SendRawEmail only with a From address matching `allowed_from`
 * (condition `ses:FromAddress`, StringLike); an empty list denies sending altogether.
 * Throws InvalidSmtpUserError when it would exceed IAM's inline policy size.
 */
export function smtpSendingPolicy(allowedFrom: readonly string[]): string {
  const statement =
    allowedFrom.length === 0
      ? { Sid: "NoSendingAllowed", Effect: "Deny", Action: [...SMTP_SEND_ACTIONS], Resource: "*" }
      : {
          Sid: "SendFromAllowedAddresses",
          Effect: "Allow",
          Action: [...SMTP_SEND_ACTIONS],
          Resource: "*",
          Condition: { StringLike: { "ses:FromAddress": [...allowedFrom] } },
        };
  const document = JSON.stringify({ Version: "2012-10-17", Statement: [statement] });
  if (document.length > IAM_USER_INLINE_POLICY_MAX_CHARS) {
    throw new InvalidSmtpUserError(
      `allowed_from makes a ${document.length}-character policy; IAM allows ${IAM_USER_INLINE_POLICY_MAX_CHARS} per user`,
    );
  }
  return document;
}

/** The KMS encryption context of a user's credentials: decrypting needs the same username (the CLI uses this too). */
export function smtpCredentialsEncryptionContext(username: string): Record<string, string> {
  return { "ses-mail:smtp-user": username };
}

/** What `encrypted_credentials` decrypts to. */
export function smtpCredentialsPlaintext(accessKeyId: string, smtpPassword: string): string {
  return JSON.stringify({ access_key_id: accessKeyId, smtp_password: smtpPassword });
}

/** Reads an SMTP user item (unmarshalled). Built once per process: see rules.ts. */
export function smtpUserItemSchema() {
  return builtOnce("core/smtp-credentials:smtpUserItemSchema", () => {
    const strings = z.union([z.array(z.string()), z.set(z.string()).transform((set) => [...set])]);
    return z
      .object({
        PK: z.string().startsWith(SMTP_USER_KEY_PREFIX),
        SK: z.literal(SMTP_USER_SORT_KEY),
        username: z.string().optional(),
        allowed_from: strings.optional(),
        status: z.string(),
        iam_user_arn: z.string().optional(),
        iam_user_name: z.string().optional(),
        access_key_id: z.string().optional(),
      })
      .loose()
      .transform((item, ctx): SmtpUser => {
        const username = item.PK.slice(SMTP_USER_KEY_PREFIX.length);
        if (item.username !== undefined && item.username !== username) {
          ctx.addIssue({ code: "custom", message: `username ${item.username} does not match the key ${item.PK}` });
        }
        const status = Object.values(SmtpUserStatus).find((known) => known === item.status.toLowerCase());
        if (!status) ctx.addIssue({ code: "custom", message: `unknown status ${JSON.stringify(item.status)}` });
        const iamUserName = item.iam_user_name ?? (item.iam_user_arn ? iamUserNameFromArn(item.iam_user_arn) : undefined);
        return {
          username,
          allowedFrom: item.allowed_from ?? [],
          status: status ?? SmtpUserStatus.Failed,
          ...(item.iam_user_arn ? { iamUserArn: item.iam_user_arn } : {}),
          ...(iamUserName ? { iamUserName } : {}),
          ...(item.access_key_id ? { accessKeyId: item.access_key_id } : {}),
        };
      });
  });
}
