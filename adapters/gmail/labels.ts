/**
 * Gmail labels by name (core/labels.ts LabelResolver): a rule's `Receipts` or `Shops/Receipts` becomes
 * the mailbox's label id, through `users.labels.list`, and `users.labels.create` for a label the mailbox
 * does not have yet (its parents first, so Gmail shows it nested). Ids (`Label_12`, `INBOX`) are kept;
 * a user label id is checked against the mailbox, since Gmail refuses an import naming an id it does not
 * have (a 400 that would send every message of the rule to the dead-letter queue).
 *
 * Both calls need the `gmail.labels` scope (credentials.ts GMAIL_LABELS_SCOPE), which `ses-mail oauth
 * refresh` asks for. What cannot be had does not stop the message: it is imported without that label,
 * and the label is reported as unapplied with the reason (the forwarder's `imported` outcome says so):
 * - a token consented without label access (before ses-mail asked for it): names are left out, ids are
 *   passed on unchecked as before; the reason names `ses-mail oauth refresh`;
 * - a name Gmail refuses (400: a reserved name such as "Muted"), or another permanent refusal.
 * Failures of the mailbox as a whole are thrown as an import's would be, so the delivery is handled the
 * same way: MailboxAuthorizationError (the token is refused: parked) and MailboxUnavailableError
 * (throttled, 5xx, network: retried).
 *
 * Each account's labels are listed once per LABEL_CACHE_TTL_MS and kept in memory (a warm Lambda
 * container, or local mode's process). A label missing from a cached list is looked up again, uncached,
 * before it is created or called missing; the forwarder drops the cache of an account whose import
 * Gmail refused (an id deleted since).
 */
import type { gmail_v1 } from "@googleapis/gmail";
import type { OAuth2Client } from "google-auth-library";
import { MailboxAuthorizationError, MailboxRejectedError } from "../../core/errors";
import {
  isLabelId,
  labelNameKey,
  parentLabelNames,
  SYSTEM_LABEL_IDS,
  type LabelResolver,
  type ResolvedLabels,
  type UnappliedLabel,
} from "../../core/labels";
import { GOOGLE_REQUEST_TIMEOUT_MS } from "../../core/limits";
import type { Clock } from "../../core/ports";
import { canManageLabels, GMAIL_LABELS_SCOPE, readGrant } from "./credentials";
import { describeGoogleError, gmailError, type GoogleErrorInfo } from "./google-errors";
import { createGmailClient, GMAIL_API_BASE_URL } from "./importer";
import type { GoogleAccounts } from "./oauth";

/**
 * How long an account's list of labels is reused. Listing costs a round trip per delivery otherwise;
 * a person who renames or deletes a label in Gmail sees ses-mail follow within this time (and at once
 * when an import is refused for a deleted id, which drops the cache).
 */
export const LABEL_CACHE_TTL_MS = 10 * 60 * 1000;

interface MailboxLabel {
  readonly id: string;
  readonly name: string;
}

interface CachedLabels {
  readonly labels: MailboxLabel[];
  readonly readAtMs: number;
}

/** The account may not list or create labels: its names are left out. */
class NoLabelAccess extends Error {}

export interface GmailLabelsOptions {
  readonly accounts: GoogleAccounts;
  /** The stack's environment, for the command the operator runs (`--stack <env>`). */
  readonly environment: string;
  /** Scheme and host of the Gmail API; a test server stands in for Google here. */
  readonly apiBaseUrl?: string;
  readonly requestTimeoutMs?: number;
  readonly cacheTtlMs?: number;
  /** The clock of the cache; injected by tests. */
  readonly now?: Clock;
}

function isSystemLabel(label: string): boolean {
  return SYSTEM_LABEL_IDS.includes(label) || /^CATEGORY_[A-Z]+$/.test(label);
}

export class GmailLabels implements LabelResolver {
  private readonly accounts: GoogleAccounts;
  private readonly environment: string;
  private readonly gmail: gmail_v1.Gmail;
  private readonly cacheTtlMs: number;
  private readonly now: Clock;
  private readonly cache = new Map<string, CachedLabels>();

  constructor(options: GmailLabelsOptions) {
    this.accounts = options.accounts;
    this.environment = options.environment;
    this.gmail = createGmailClient(options.apiBaseUrl ?? GMAIL_API_BASE_URL, options.requestTimeoutMs ?? GOOGLE_REQUEST_TIMEOUT_MS);
    this.cacheTtlMs = options.cacheTtlMs ?? LABEL_CACHE_TTL_MS;
    this.now = options.now ?? (() => new Date());
  }

  forget(account: string): void {
    this.cache.delete(account);
  }

  async resolve(account: string, labels: readonly string[]): Promise<ResolvedLabels> {
    // System labels need no call: most deliveries (INBOX, UNREAD) never list anything.
    if (labels.every(isSystemLabel)) return { ids: [...labels], unapplied: [] };
    const auth = await this.accounts.authorize(account);
    const grant = readGrant(auth.credentials);
    if (!canManageLabels(grant.ok ? grant.value.scopes : [])) return this.withoutLabelAccess(account, labels);
    try {
      return await this.resolveWith(account, auth, labels);
    } catch (error) {
      if (error instanceof NoLabelAccess) return this.withoutLabelAccess(account, labels, error.message);
      throw error;
    }
  }

  /** Without label access: ids go on as given (Gmail checks them on import), names are left out. */
  private withoutLabelAccess(account: string, labels: readonly string[], detail?: string): ResolvedLabels {
    const refresh = `ses-mail oauth refresh --account ${account} --stack ${this.environment}`;
    const reason =
      `the Gmail token of ${account} was granted without access to labels (${GMAIL_LABELS_SCOPE})${detail ? ` (${detail})` : ""}; ` +
      `run \`${refresh}\` and allow "See and edit your email labels"`;
    return {
      ids: labels.filter(isLabelId),
      unapplied: labels.filter((label) => !isLabelId(label)).map((label) => ({ label, reason })),
    };
  }

  private async resolveWith(account: string, auth: OAuth2Client, labels: readonly string[]): Promise<ResolvedLabels> {
    let listed = await this.labels(account, auth, false);
    const find = (label: string): MailboxLabel | undefined =>
      isLabelId(label)
        ? listed.labels.find((entry) => entry.id === label)
        : listed.labels.find((entry) => labelNameKey(entry.name) === labelNameKey(label));
    const ids: string[] = [];
    const unapplied: UnappliedLabel[] = [];
    for (const label of labels) {
      if (isSystemLabel(label)) {
        ids.push(label);
        continue;
      }
      let found = find(label);
      if (!found && !listed.fresh) {
        // Created (or renamed) since the list was read: look again before deciding.
        listed = await this.labels(account, auth, true);
        found = find(label);
      }
      if (found) {
        if (!ids.includes(found.id)) ids.push(found.id);
        continue;
      }
      if (isLabelId(label)) {
        unapplied.push({
          label,
          reason: `${account}'s mailbox has no label with id ${label} (deleted?); name the label instead, as Gmail shows it`,
        });
        continue;
      }
      const created = await this.create(account, auth, label);
      if ("id" in created) ids.push(created.id);
      else unapplied.push({ label, reason: created.problem });
    }
    return { ids, unapplied };
  }

  /** The account's labels: from the cache while recent, else listed now (`fresh`) and cached. */
  private async labels(account: string, auth: OAuth2Client, uncached: boolean): Promise<CachedLabels & { fresh: boolean }> {
    const cached = this.cache.get(account);
    if (!uncached && cached && this.now().getTime() - cached.readAtMs < this.cacheTtlMs) return { ...cached, fresh: false };
    let response;
    try {
      response = await this.gmail.users.labels.list({ auth, userId: "me" });
    } catch (error) {
      throw this.labelCallError(account, describeGoogleError(error), "listing labels", error);
    }
    const labels = (response.data.labels ?? []).flatMap((label) => (label.id && label.name ? [{ id: label.id, name: label.name }] : []));
    const entry = { labels, readAtMs: this.now().getTime() };
    this.cache.set(account, entry);
    return { ...entry, fresh: true };
  }

  /** Creates a label (and its missing parents), or says why Gmail would not. */
  private async create(account: string, auth: OAuth2Client, name: string): Promise<{ id: string } | { problem: string }> {
    for (const parent of parentLabelNames(name)) {
      const known = this.cache.get(account)?.labels.some((entry) => labelNameKey(entry.name) === labelNameKey(parent));
      // A parent that cannot be made leaves the label shown at the top level; it is still applied.
      if (!known) await this.createOne(account, auth, parent);
    }
    return this.createOne(account, auth, name);
  }

  private async createOne(account: string, auth: OAuth2Client, name: string): Promise<{ id: string } | { problem: string }> {
    let response;
    try {
      response = await this.gmail.users.labels.create({
        auth,
        userId: "me",
        requestBody: { name, labelListVisibility: "labelShow", messageListVisibility: "show" },
      });
    } catch (error) {
      const info = describeGoogleError(error);
      if (info.status === 409) {
        // Made meanwhile (another delivery, or the person): it exists now.
        const listed = await this.labels(account, auth, true);
        const found = listed.labels.find((entry) => labelNameKey(entry.name) === labelNameKey(name));
        return found
          ? { id: found.id }
          : { problem: `Gmail says the label name ${JSON.stringify(name)} conflicts with another (409 ${info.message})` };
      }
      const classified = this.labelCallError(account, info, `creating the label ${JSON.stringify(name)}`, error);
      if (classified instanceof MailboxRejectedError)
        return {
          problem: `Gmail refused to create the label ${JSON.stringify(name)} (${info.status ?? ""} ${info.message}); rename it in the rule`,
        };
      throw classified;
    }
    const id = response.data.id;
    if (!id) return { problem: `Gmail created the label ${JSON.stringify(name)} without an id` };
    const cached = this.cache.get(account);
    if (cached) cached.labels.push({ id, name: response.data.name ?? name });
    return { id };
  }

  /**
   * A labels call's failure: a 403 that is not a rate limit means no access to labels (the scope is
   * missing, or a Workspace policy); everything else is classified as any Gmail call is.
   */
  private labelCallError(account: string, info: GoogleErrorInfo, phase: string, cause: unknown): Error {
    const classified = gmailError(account, info, phase, cause);
    if (info.status === 403 && classified instanceof MailboxAuthorizationError)
      return new NoLabelAccess(`Gmail answered 403 ${phase}: ${info.message}`);
    return classified;
  }
}
