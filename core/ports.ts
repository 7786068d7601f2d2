/**
 * The small interfaces the core and handlers need from the outside world. AWS adapters
 * (adapters/aws) and local-mode adapters (adapters/local) implement them; tests use the real ones
 * against local stand-ins.
 */
import type { DecisionDetail } from "./decision";
import type { Outcome } from "./outcomes";

/** A stored item, unmarshalled into plain values. */
export type StoredItem = Readonly<Record<string, unknown>>;

/**
 * The clock every option that asks for the time takes (`now?: Clock`). A Date rather than epoch
 * milliseconds: almost every reader wants an instant it can print (`toISOString()` for outcomes and
 * records, RFC 5322 dates) or compare, a bare number does not say whether it counts seconds or
 * milliseconds, and tests pin the clock with the same `new Date("…")` they assert on.
 */
export type Clock = () => Date;

/** Reads rules for the router. */
export interface RuleReader {
  /**
   * The stored items for these patterns, keyed by pattern; a pattern without an item is absent.
   * Implementations fetch all of them in as few round trips as the store allows.
   */
  getRuleItems(patterns: readonly string[]): Promise<Map<string, StoredItem>>;
}

/** Reads and writes rules, for the CLI, local mode and declared routes. */
export interface RuleRepository extends RuleReader {
  /** Every rule item, ordered by pattern, without scanning other entity types. */
  listRuleItems(): Promise<StoredItem[]>;
  getRuleItem(pattern: string): Promise<StoredItem | undefined>;
  /** Writes an item; with `ifAbsent`, fails with RuleExistsError when the pattern already has a rule. */
  putRuleItem(item: StoredItem, options?: { ifAbsent?: boolean }): Promise<void>;
  /** Sets `enabled` and `updated_at`; fails with RuleNotFoundError when there is no such rule. */
  setRuleEnabled(pattern: string, enabled: boolean, updatedAt: string): Promise<void>;
  /** Deletes a rule; returns false when there was none. */
  deleteRuleItem(pattern: string): Promise<boolean>;
}

/** Where a raw message is kept: the S3 bucket and key SES wrote it to (or their local-mode equivalents). */
export interface MessageLocation {
  readonly bucket: string;
  readonly key: string;
}

/** A raw message opened for reading: its bytes as a stream, never decoded, and its size. */
export interface StoredMessage {
  readonly body: NodeJS.ReadableStream;
  readonly size: number;
}

/** Ends a stored message's body that will not be read (further), so its socket or file handle is released. */
export function discardBody(body: NodeJS.ReadableStream): void {
  const stream = body as NodeJS.ReadableStream & { destroy?: () => void; destroyed?: boolean };
  if (typeof stream.destroy === "function" && !stream.destroyed) stream.destroy();
}

/** The raw messages SES stored (S3 in AWS; files in local mode). */
export interface MessageStore {
  /** Opens a message for streaming. Throws MessageNotFoundError (core/errors) when it is gone. */
  open(location: MessageLocation): Promise<StoredMessage>;
  /** Deletes a message; a message that is already gone is success. */
  delete(location: MessageLocation): Promise<void>;
}

/** A mailbox messages are imported into unchanged (Gmail in AWS; a Maildir in local mode). */
export interface MailboxImporter {
  /**
   * Imports the message bytes exactly as stored into `account`'s mailbox with these label ids
   * (`INBOX`, `UNREAD`, `SPAM`, user label ids). Returns the mailbox's id for the new message.
   */
  importMessage(account: string, message: StoredMessage, labels: readonly string[]): Promise<{ id: string }>;
}

/** Sends a complete message as bytes (SES SendRawEmail in AWS; an outbox folder or smarthost locally). */
export interface RawMailSender {
  sendRawMessage(message: { readonly from: string; readonly to: readonly string[]; readonly raw: Buffer }): Promise<{ messageId: string }>;
}

/**
 * Where the Gmail forwarder parks work that cannot proceed until an operator acts (an expired or
 * revoked OAuth token): the retry queue in AWS, an in-process queue in local mode.
 */
export interface RetryQueue {
  /**
   * `body` is the message the retry processor will hand back to the forwarder unchanged. `delaySeconds`
   * (at most 900, as SQS allows) hides it for a while, so a processor draining the queue does not meet a
   * message the forwarder just parked again in the same run.
   */
  enqueue(body: string, options?: { delaySeconds?: number }): Promise<void>;
}

/** What the idempotency store knows about a run when it starts it. */
export interface IdempotentRun {
  /**
   * An earlier run of this key started and never finished (it crashed or timed out: its in-progress lock
   * expired). Its work may have had effects, such as an import Gmail accepted, that were never recorded.
   */
  readonly interruptedEarlier: boolean;
}

/**
 * Runs a unit of work at most once per key, for the forwarder's imports: a key whose work completed
 * returns the recorded result without running again; a failed run leaves no record, so it can be
 * retried. A run still in progress elsewhere throws DeliveryInProgressError (core/errors).
 */
export interface IdempotencyStore {
  once<T extends Readonly<Record<string, string | number | boolean>>>(
    key: string,
    work: (run: IdempotentRun) => Promise<T>,
  ): Promise<{ readonly value: T; readonly replayed: boolean }>;
}

/** What one stage recorded about a message in one write (MessageProgress.record). */
export interface MessageRecordEntry {
  /** The routing decision, kept the first time a stage records it (so trace finds it without the logs). */
  readonly decision?: DecisionDetail;
  /** What the stage did: appended to the message's fate (a re-park replaces the account's previous one). */
  readonly outcomes: readonly Outcome[];
  /** Consumers of the raw message this stage finished (core/delivery.ts). */
  readonly partsDone?: readonly string[];
}

/**
 * One record per message, kept after its processing (core/retention.ts MESSAGE_RECORD_TTL_SECONDS): which
 * consumers of its raw object (each Gmail target, the bouncer) are done, so the last one can delete it
 * (core/delivery.ts), and what every stage did with it, for `ses-mail trace` (core/fate.ts). Marking is a
 * set union: marking twice is harmless.
 */
export interface MessageProgress {
  /** Records `parts` as done for the message and returns every part done so far (this call's included). */
  complete(messageId: string, parts: readonly string[]): Promise<readonly string[]>;
  /** Records a stage's outcomes (and decision, and finished parts) in one write; returns every part done so far. */
  record(messageId: string, entry: MessageRecordEntry): Promise<readonly string[]>;
}

/** A message's record as stored (MessageProgress.record), read back for `ses-mail trace`. */
export interface StoredMessageRecord {
  readonly messageId: string;
  readonly decision?: DecisionDetail;
  /** Every recorded outcome, oldest first (the latest re-park of each account included). */
  readonly outcomes: readonly Outcome[];
  readonly partsDone: readonly string[];
  /** When the record itself expires (ISO 8601). */
  readonly expiresAt?: string;
  /** Entries that could not be read back (a newer writer's format): said, never hidden. */
  readonly unreadable: number;
}

/** Claims a key for a time window: the bouncer's "one bounce per sender and recipient per hour". */
export interface ThrottleStore {
  /** True when the key was free (or its window had passed) and is now held for `windowSeconds`. */
  acquire(key: string, windowSeconds: number): Promise<boolean>;
  /** Frees a key this caller holds, after the work it guarded failed. */
  release(key: string): Promise<void>;
}

/** Reads secrets (SSM SecureString parameters in AWS). */
export interface SecretStore {
  /** The decrypted value, or undefined when there is no such secret. Throws SecretUnavailableError otherwise. */
  getSecret(name: string): Promise<string | undefined>;
}

/**
 * Receives every outcome a handler reports (core/outcomes.ts), after it has been logged and counted:
 * local mode's per-message line, a test, anything that follows a message's fate. Must not throw.
 */
export interface OutcomeSink {
  record(outcome: Outcome): void;
}

/*
 * The SMTP credential manager's ports: IAM identities, KMS encryption and the SMTP user items
 * (adapters/aws/smtp-identities.ts implements them).
 */

/** The IAM users behind SMTP users. Deletes treat "already gone" as success. */
export interface SmtpIdentities {
  /**
   * Creates the user with the permissions boundary (a managed policy ARN) that caps what any of its
   * policies can grant; an existing user of that name is returned as is (`existed`).
   */
  createUser(userName: string, permissionsBoundary: string): Promise<{ arn: string; existed: boolean }>;
  /** Sets the user's permissions boundary (users created before boundaries were required get one this way). */
  putPermissionsBoundary(userName: string, permissionsBoundary: string): Promise<void>;
  /** The current document of an inline policy, or undefined. */
  getUserPolicy(userName: string, policyName: string): Promise<string | undefined>;
  putUserPolicy(userName: string, policyName: string, document: string): Promise<void>;
  deleteUserPolicy(userName: string, policyName: string): Promise<void>;
  listUserPolicies(userName: string): Promise<string[]>;
  createAccessKey(userName: string): Promise<{ accessKeyId: string; secretAccessKey: string }>;
  /** Access key ids of the user; empty when the user does not exist. */
  listAccessKeys(userName: string): Promise<string[]>;
  deleteAccessKey(userName: string, accessKeyId: string): Promise<void>;
  deleteUser(userName: string): Promise<void>;
}

/** Encrypts SMTP credentials (KMS in AWS). */
export interface CredentialEncryptor {
  /** Encrypts under the context; returns the ciphertext, base64. */
  encrypt(plaintext: string, context: Record<string, string>): Promise<string>;
}

/** The SMTP user items of the routing table, as the credential manager reads and settles them. */
export interface SmtpUserTable {
  /** The current item (consistent read), or undefined. */
  get(username: string): Promise<StoredItem | undefined>;
  /** Sets `status = active` and the given attributes, only if the item is still `pending`; false otherwise. */
  activate(username: string, attributes: Readonly<Record<string, string>>): Promise<boolean>;
  /** Sets `status = failed` with the error, only if the item is still `pending`; false otherwise. */
  markFailed(username: string, error: string, at: string): Promise<boolean>;
}
