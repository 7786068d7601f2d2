/**
 * The delivery handlers local mode runs: the very `createGmailForwarder` and `createBouncer` the Lambdas
 * run, given local adapters: files, Maildir, outbox, the in-process retry queue, and for their state
 * (idempotency records, message progress, bounce throttling) the delivery-state file
 * (adapters/local/delivery-state.ts) where the Lambdas use the routing table.
 */
import type { LocalDeliveryState } from "../adapters/local/delivery-state";
import { GmailImporter } from "../adapters/gmail/importer";
import { GmailLabels } from "../adapters/gmail/labels";
import { GoogleAccounts } from "../adapters/gmail/oauth";
import type { FileMessageStore } from "../adapters/local/file-message-store";
import { MaildirImporter } from "../adapters/local/maildir";
import type { MailboxImporter, OutcomeSink, RawMailSender, RetryQueue, SecretStore } from "../core/ports";
import { createBouncer } from "../handlers/bouncer";
import { createGmailForwarder } from "../handlers/gmail-forwarder";
import { crashPoint } from "./crash-points";
import { createLocalObservability } from "./observability";
import type { SqsHandler } from "./pipeline";

export interface LocalHandlerOptions {
  /** The stack's environment: names the Gmail secrets when real Gmail is used. */
  readonly environment: string;
  /** The forwarder's delivery records, message progress and bounce claims. */
  readonly state: LocalDeliveryState;
  readonly store: FileMessageStore;
  /** Maildirs under a root, or real Gmail with secrets from a file. */
  readonly mailbox:
    | { readonly maildirRoot: string; readonly hostname?: string }
    | { readonly secrets: SecretStore; readonly gmailApiUrl?: string; readonly oauthTokenUrl?: string };
  readonly sender: RawMailSender;
  readonly retryQueue: RetryQueue;
  /** Where each handler reports what it did with every message (the pipeline's console lines and outcomes.jsonl). */
  readonly outcomes?: { readonly forwarder: OutcomeSink; readonly bouncer: OutcomeSink };
}

export function buildMailbox(options: LocalHandlerOptions["mailbox"], environment: string): MailboxImporter {
  if ("secrets" in options) {
    const accounts = new GoogleAccounts({
      secrets: options.secrets,
      environment,
      ...(options.oauthTokenUrl ? { tokenUrl: options.oauthTokenUrl } : {}),
    });
    return new GmailImporter({ accounts, ...(options.gmailApiUrl ? { apiBaseUrl: options.gmailApiUrl } : {}) });
  }
  const maildir = new MaildirImporter({ root: options.maildirRoot, ...(options.hostname ? { hostname: options.hostname } : {}) });
  return {
    async importMessage(account, message, labels) {
      const imported = await maildir.importMessage(account, message, labels);
      // The crash tests' window: the mail is in the Maildir, the forwarder's record of it not yet completed.
      crashPoint("imported");
      return imported;
    },
  };
}

/** With real Gmail, label names are resolved to the mailbox's ids as in AWS; Maildirs map names to folders themselves. */
function buildLabelResolver(options: LocalHandlerOptions["mailbox"], environment: string): GmailLabels | undefined {
  if (!("secrets" in options)) return undefined;
  const accounts = new GoogleAccounts({
    secrets: options.secrets,
    environment,
    ...(options.oauthTokenUrl ? { tokenUrl: options.oauthTokenUrl } : {}),
  });
  return new GmailLabels({ accounts, environment, ...(options.gmailApiUrl ? { apiBaseUrl: options.gmailApiUrl } : {}) });
}

export function buildHandlers(options: LocalHandlerOptions): { forwarder: SqsHandler; bouncer: SqsHandler } {
  const { state } = options;
  const progress = state.messageProgress;
  const labels = buildLabelResolver(options.mailbox, options.environment);
  const forwarder = createGmailForwarder({
    messages: options.store,
    mailbox: buildMailbox(options.mailbox, options.environment),
    ...(labels ? { labels } : {}),
    deliveries: state.idempotency,
    progress,
    retryQueue: options.retryQueue,
    observability: createLocalObservability("gmail-forwarder"),
    ...(options.outcomes ? { outcomes: options.outcomes.forwarder } : {}),
  });
  const bouncer = createBouncer({
    messages: options.store,
    sender: options.sender,
    throttle: state.throttle,
    progress,
    observability: createLocalObservability("bouncer"),
    ...(options.outcomes ? { outcomes: options.outcomes.bouncer } : {}),
  });
  return { forwarder: (event) => forwarder(event), bouncer: (event) => bouncer(event) };
}
