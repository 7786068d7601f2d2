/**
 * Gmail labels as rules name them. A rule may give a label as a person sees it in Gmail (`Receipts`,
 * nested `Shops/Receipts`: Gmail nests labels by `/` in the name) or by its id (`Label_12`, or a system
 * label: `INBOX`, `SPAM`, `STARRED`, …). The Gmail forwarder resolves names to ids per mailbox, creating
 * a label that does not exist yet (adapters/gmail/labels.ts); local mode maps both to Maildir++ folders
 * (`Shops/Receipts` → `.Shops.Receipts`). Pure: plain data and functions, safe in a Lambda closure.
 */

/**
 * Gmail's system label ids (users.labels: type `system`). Their names are their ids, so a rule's
 * `--label Inbox` means INBOX. Other system labels a mailbox may show are `CATEGORY_*`.
 */
export const SYSTEM_LABEL_IDS: readonly string[] = ["INBOX", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT", "SENT", "DRAFT", "CHAT"];

/** The separator of nested label names in Gmail (`Shops/Receipts` is `Receipts` under `Shops`). */
export const LABEL_NESTING_SEPARATOR = "/";

/**
 * The longest label a rule may give, in UTF-8 bytes. ses-mail's own bound, not Gmail's: every label
 * travels in each decision event (whose budget is DECISION_DETAIL_MAX_BYTES) and becomes a folder name
 * in local mode, which a file system limits to 255 bytes.
 */
export const MAX_LABEL_BYTES = 128;

/** A user label's id as Gmail makes them: `Label_` and digits. */
const USER_LABEL_ID = /^Label_\d+$/;

/** Whether a label is given by its Gmail id (system or user) rather than by its name. */
export function isLabelId(label: string): boolean {
  return SYSTEM_LABEL_IDS.includes(label) || /^CATEGORY_[A-Z]+$/.test(label) || USER_LABEL_ID.test(label);
}

/** Why a label (name or id) cannot be used, or undefined. */
export function labelProblem(label: string): string | undefined {
  if (label.trim() === "") return "a label cannot be empty";
  if (label !== label.trim()) return `label ${JSON.stringify(label)} starts or ends with a space`;
  if (Buffer.byteLength(label, "utf8") > MAX_LABEL_BYTES)
    return `label ${JSON.stringify(label.slice(0, 40))}… is longer than ${MAX_LABEL_BYTES} bytes`;
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  if (/[\u0000-\u001f\u007f]/.test(label)) return `label ${JSON.stringify(label)} contains a control character`;
  const parts = label.split(LABEL_NESTING_SEPARATOR);
  if (parts.some((part) => part.trim() === "")) {
    return `label ${JSON.stringify(label)} has an empty level: nest labels as Parent/Child, with no leading, trailing or double /`;
  }
  if (parts.some((part) => part !== part.trim())) return `label ${JSON.stringify(label)} has a space next to a /`;
  return undefined;
}

/** The parent labels of a nested name, outermost first: `A/B/C` → `A`, `A/B`. */
export function parentLabelNames(name: string): string[] {
  const parts = name.split(LABEL_NESTING_SEPARATOR);
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join(LABEL_NESTING_SEPARATOR));
}

/** How two label names compare in Gmail: without regard to case (Gmail refuses `receipts` beside `Receipts`). */
export function labelNameKey(name: string): string {
  return name.normalize("NFC").toLowerCase();
}

/**
 * The Maildir++ folder of a user label in local mode: `.` then each level of the name, joined by `.`
 * (Maildir++'s hierarchy separator): `Shops/Receipts` → `.Shops.Receipts`, `Label_12` → `.Label_12`.
 * A `.` or `\` inside a level is written `\2e` / `\5c` (as Dovecot's listescape does), so a level can
 * never add a level of its own, and no folder name is `.` or `..`.
 */
export function maildirFolderOfLabel(label: string): string {
  const escape = (part: string) => part.replace(/[.\\]/g, (char) => `\\${char.charCodeAt(0).toString(16)}`);
  return `.${label.split(LABEL_NESTING_SEPARATOR).map(escape).join(".")}`;
}

/** A label that could not be applied to an imported message, and why (the message was imported without it). */
export interface UnappliedLabel {
  readonly label: string;
  readonly reason: string;
}

/** Label names resolved to ids for one mailbox. */
export interface ResolvedLabels {
  /** The ids to import with: resolved names, ids as given. */
  readonly ids: readonly string[];
  /** Labels left out, and why; the message is imported without them rather than not at all. */
  readonly unapplied: readonly UnappliedLabel[];
}

/**
 * Resolves a rule's label names to a mailbox's label ids (adapters/gmail/labels.ts for Gmail). It throws
 * what the mailbox throws for the account as a whole (MailboxAuthorizationError, MailboxUnavailableError),
 * so the delivery is parked or retried as an import would be; a label that cannot be had (no scope to
 * manage labels, a name Gmail refuses) is returned as unapplied instead.
 */
export interface LabelResolver {
  resolve(account: string, labels: readonly string[]): Promise<ResolvedLabels>;
  /** Drops what is cached for the account (its labels changed under us: Gmail refused an id). */
  forget(account: string): void;
}
