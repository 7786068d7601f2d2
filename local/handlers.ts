/**
 * The delivery handlers local mode runs: the very `createGmailForwarder` and `createBouncer` the Lambdas
 * run, given local adapters (files, Maildir, outbox, in-process retry queue) and the AWS DynamoDB
 * adapters for their state (idempotency records, message progress, bounce throttling), pointed at dynalite.
 */
import { DynamoDbMessageProgress, DynamoDbThrottleStore } from "../adapters/aws/delivery-state";
import { DynamoDbIdempotencyStore } from "../adapters/aws/idempotency";
import { GmailImporter } from "../adapters/gmail/importer";
import { GoogleAccounts } from "../adapters/gmail/oauth";
import type { FileMessageStore } from "../adapters/local/file-message-store";
import { MaildirImporter } from "../adapters/local/maildir";
import type { MailboxImporter, RawMailSender, RetryQueue, SecretStore } from "../core/ports";
import { createBouncer } from "../handlers/bouncer";
import { createGmailForwarder } from "../handlers/gmail-forwarder";
import type { LocalDynamoDb } from "./dynamodb";
import { createLocalObservability, type LogObserver } from "./observability";
import { LOCAL_HANDLER_TIMEOUT_MS, type SqsHandler } from "./pipeline";

export interface LocalHandlerOptions {
  /** The stack's environment: names the Gmail secrets when real Gmail is used. */
  readonly environment: string;
  readonly dynamo: LocalDynamoDb;
  readonly store: FileMessageStore;
  /** Maildirs under a root, or real Gmail with secrets from a file. */
  readonly mailbox:
    | { readonly maildirRoot: string; readonly hostname?: string }
    | { readonly secrets: SecretStore; readonly gmailApiUrl?: string; readonly oauthTokenUrl?: string };
  readonly sender: RawMailSender;
  readonly retryQueue: RetryQueue;
  /** Receives what the operator should read in a message's line: a bounce sent or suppressed, a delivery parked. */
  readonly note?: (messageId: string, text: string) => void;
}

/** Turns the handlers' log calls into short notes for the per-message line. */
function noteTaker(note: LocalHandlerOptions["note"]): LogObserver | undefined {
  if (!note) return undefined;
  return (_level, message, attributes) => {
    const messageId = typeof attributes.messageId === "string" ? attributes.messageId : undefined;
    if (!messageId) return;
    if (message === "bounce suppressed") note(messageId, `no bounce for ${String(attributes.recipient)} (${String(attributes.reason)})`);
    else if (message === "bounce sent") note(messageId, `bounce sent to ${String(attributes.to)}`);
    else if (message.startsWith("mailbox needs an operator")) note(messageId, `${String(attributes.account)} needs an operator: parked in the retry queue`);
  };
}

export function buildMailbox(options: LocalHandlerOptions["mailbox"], environment: string): MailboxImporter {
  if ("secrets" in options) {
    const accounts = new GoogleAccounts({ secrets: options.secrets, environment, ...(options.oauthTokenUrl ? { tokenUrl: options.oauthTokenUrl } : {}) });
    return new GmailImporter({ accounts, ...(options.gmailApiUrl ? { apiBaseUrl: options.gmailApiUrl } : {}) });
  }
  return new MaildirImporter({ root: options.maildirRoot, ...(options.hostname ? { hostname: options.hostname } : {}) });
}

export function buildHandlers(options: LocalHandlerOptions): { forwarder: SqsHandler; bouncer: SqsHandler } {
  const { dynamo } = options;
  const deliveries = new DynamoDbIdempotencyStore({ tableName: dynamo.tableName, client: dynamo.client });
  // A delivery a crash interrupted stays locked this long, as a Lambda's would for its remaining time.
  deliveries.useRemainingTime(() => LOCAL_HANDLER_TIMEOUT_MS);
  const progress = new DynamoDbMessageProgress({ tableName: dynamo.tableName, client: dynamo.client });
  const forwarder = createGmailForwarder({
    messages: options.store,
    mailbox: buildMailbox(options.mailbox, options.environment),
    deliveries,
    progress,
    retryQueue: options.retryQueue,
    observability: createLocalObservability("gmail-forwarder", { observe: noteTaker(options.note) }),
  });
  const bouncer = createBouncer({
    messages: options.store,
    sender: options.sender,
    throttle: new DynamoDbThrottleStore({ tableName: dynamo.tableName, client: dynamo.client }),
    progress,
    observability: createLocalObservability("bouncer", { observe: noteTaker(options.note) }),
  });
  return { forwarder: (event) => forwarder(event), bouncer: (event) => bouncer(event) };
}
